"""Train a residual space-time head on the frozen BasicVSR + RIFE pipeline: BF-STVSR's (``bfstvsr``), its concat
ablation (``bfstvsr_concat``), VideoINR's (``videoinr``) or MoTIF's (``motif``) encoding, same data and recipe.

    python -m train.stvsr_trunk cache  [--samples 1200] [--val 24]                    # precompute, once
    python -m train.stvsr_trunk train  --model bfstvsr|concat|videoinr|motif --out runs/NAME --steps N
                                       [--time-limit MIN] [--resume]
    python -m train.stvsr_trunk export --model ... --out runs/NAME [--to DIR]         # weights/<id>.safetensors + .md

Samples (``runs/stvsr_trunk_cache``): windows of ``video_train`` (``train.data_stvsr``; the validation sequences
held back), LR patch 40, space scale in {1.5, 2, 2.5, 3, 3.5, 4} (one bucket per scale, so a batch shares a size),
three times i/g between anchors g = 2..4 frames apart. What the frozen parts give is computed once and stored: the
trunk features F0, F1 (BasicVSR over the two anchors), SpyNet flows V01, V10, and the base frames
(``basicvsr+rife`` at each t, uint8 as the pipeline makes them). Training then runs only the head.

Loss: Charbonnier(I_t, GT) over the three times + ``--motion-weight`` x mean |m| (the learned departure from the
SpyNet linear motion, LR pixels). Adam ``--lr`` with a cosine schedule, bf16 autocast, on a GPU when one is visible
(``--device``, :mod:`train.runtime`; the cache too). Validation: Y-PSNR
of the head and of the base on the held-back windows (anchors and in-between frames apart); best.pt keeps the best
in-between gain. Checkpoints are plain dicts of tensors (``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.stvsr.trunk_inr import TRUNK_HEADS, TRUNK_IDS
from models.metrics import charbonnier
from models.metrics import psnr_y as y_psnr
from train.data_stvsr import WindowSampler, build_cache
from train.loop import DataRNG, Recipe, Run, best_weights, fit, precision_note
from train.loop import export as export_weights
from train.runtime import add_device_argument, mixed_precision, start, training_device, where_trained

DATA_CACHE = Path("runs/stvsr_cache")
CACHE = Path("runs/stvsr_trunk_cache")
SCALES = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
LR_PATCH = 40
MODELS = TRUNK_IDS  # --model (kind) -> registry id


@torch.no_grad()
def make_sample(sampler: WindowSampler, rng: np.random.Generator, scale: float, basicvsr, rife,
                augment: bool = True) -> dict:
    """One window and everything the frozen stages give for it (tensors; uint8 images, fp16 features)."""
    from models.backbones.video_sr import pair_flows
    from models.device import inference_device
    from models.pipelines.timing import interpolate_at

    w = sampler.sample(rng, LR_PATCH, scale, n_t=3, augment=augment)
    size = w.gt.shape[1:3]
    (hr0, f0), (hr1, f1) = basicvsr.upscale_stream([(w.lr[0], False), (w.lr[1], False)], size, features=True)
    bases, _ = interpolate_at(rife, hr0, hr1, [float(t) for t in w.ts])
    device = inference_device()  # as models.stvsr.trunk_pipeline computes them
    v01, v10 = pair_flows(basicvsr.net.to(device), *(to_tensor(x)[None].to(device) for x in w.lr[:2]))
    return {"gt": torch.from_numpy(np.stack(w.gt)), "base": torch.from_numpy(np.stack(bases)),
            "ts": torch.from_numpy(w.ts), "feat": torch.from_numpy(np.stack([f0, f1])),
            "flow": torch.cat([v01, v10]).half().cpu()}


def to_tensor(a) -> torch.Tensor:
    """uint8 (..., H, W, 3) (array or tensor) -> float (..., 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(a)).float().div(255).movedim(-1, -3)


def _stack(samples: list[dict]) -> dict:
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


def build_samples(n_train: int, n_val: int, seed: int = 0) -> None:
    """CACHE/train_<scale>.pt and val_<scale>.pt: stacked samples per scale bucket."""
    from models import registry

    build_cache(DATA_CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    basicvsr, rife = registry.get("basicvsr"), registry.get("rife")
    for split, n, aug in (("val", n_val, False), ("train", n_train, True)):
        sampler = WindowSampler(DATA_CACHE, split)
        for k, scale in enumerate(SCALES):
            path = CACHE / f"{split}_{scale}.pt"
            if path.exists():
                continue
            rng = np.random.default_rng(seed + 1000 * k + (7 if split == "val" else 0))
            per = max(1, n // len(SCALES))
            t0 = time.time()
            torch.save(_stack([make_sample(sampler, rng, scale, basicvsr, rife, aug) for _ in range(per)]), path)
            print(f"{path}: {per} samples in {time.time() - t0:.0f} s", flush=True)


def load_split(split: str) -> list[dict]:
    return [torch.load(CACHE / f"{split}_{s}.pt", weights_only=True) for s in SCALES]


def batch_inputs(b: dict, idx, window: tuple[int, int, int, int] | None = None, halo: int = 4) -> tuple:
    """(feat0, feat1, flow01, flow10, bases (N, B, 3, h, w), gt (N, B, 3, h, w), ts (B, N), geo) for rows ``idx``;
    ``window`` = (y0, y1, x0, x1) of the HR grid to train on (all when None), its LR cells plus ``halo`` cut out of
    the features as the pipeline's tiles do (models.stvsr.trunk_pipeline)."""
    from models.stvsr.geometry import lr_index, query_geometry

    feat = b["feat"][idx].float()
    flow = b["flow"][idx].float()
    base = to_tensor(b["base"][idx]).transpose(0, 1)
    gt = to_tensor(b["gt"][idx]).transpose(0, 1)
    (h, w), (hh, ww) = feat.shape[-2:], gt.shape[-2:]
    y0, y1, x0, x1 = window or (0, hh, 0, ww)
    ly = lr_index(h, hh, y0, y1)
    lx = lr_index(w, ww, x0, x1)
    ly0, ly1 = max(0, int(ly.min()) - halo), min(h, int(ly.max()) + 1 + halo)
    lx0, lx1 = max(0, int(lx.min()) - halo), min(w, int(lx.max()) + 1 + halo)
    geo = query_geometry((h, w), (hh, ww), (y0, y1, x0, x1), (ly0, lx0))
    lr = (Ellipsis, slice(ly0, ly1), slice(lx0, lx1))
    hr = (Ellipsis, slice(y0, y1), slice(x0, x1))
    return (feat[:, 0][lr], feat[:, 1][lr], flow[:, 0][lr], flow[:, 1][lr], base[hr], gt[hr], b["ts"][idx], geo)


def to_device(inputs: tuple, device: torch.device) -> tuple:
    """Tensors and the query geometry (last) of :func:`batch_inputs` on ``device``."""
    *tensors, geo = inputs
    return (*(x.to(device) for x in tensors), geo.to(device))


@torch.no_grad()
def validate(head, val: list[dict]) -> dict:
    """Y-PSNR (dB) of the head and of the base on the held-back windows, anchors and in-between frames apart; the
    head runs on the device its parameters are on."""
    head.eval()
    device = next(head.parameters()).device
    rows = {"anchor": [], "mid": [], "base_anchor": [], "base_mid": []}
    for b in val:
        for i in range(b["ts"].shape[0]):
            f0, f1, v01, v10, base, gt, ts, geo = batch_inputs(b, [i])
            f0, f1, v01, v10, base_d, ts_d, geo = to_device((f0, f1, v01, v10, base, ts, geo), device)
            out = head(f0, f1, v01, v10, base_d, ts_d, geo=geo).cpu()
            for j, t in enumerate(ts[0].tolist()):
                key = "anchor" if t in (0.0, 1.0) else "mid"
                rows[key].append(y_psnr(out[j, 0].numpy(), gt[j, 0].numpy()))
                rows["base_" + key].append(y_psnr(base[j, 0].numpy(), gt[j, 0].numpy()))
    head.train()
    res = {f"val_{k}": float(np.mean(v)) for k, v in rows.items() if v}
    res["gain_mid"] = res["val_mid"] - res["val_base_mid"]
    res["gain_anchor"] = res["val_anchor"] - res["val_base_anchor"]
    return res


def pick_crop(b: dict, idx, crop: int, rng: np.random.Generator, candidates: int = 1) -> tuple[int, int, int, int]:
    """(y0, x0, ch, cw) of the HR crop trained on: uniform over the window, or with ``candidates`` > 1 the one of
    that many uniform draws where the base frames (rows ``idx``) are furthest from the truth (mean absolute error):
    the residual is trained where the two-stage base fails."""
    hh, ww = b["gt"].shape[-3:-1]
    ch, cw = min(hh, crop), min(ww, crop)
    draws = [(int(rng.integers(0, hh - ch + 1)), int(rng.integers(0, ww - cw + 1))) for _ in range(max(1, candidates))]
    if len(draws) == 1:
        return (*draws[0], ch, cw)
    err = np.abs(b["base"][idx].numpy().astype(np.int16) - b["gt"][idx].numpy())  # (B, N, hh, ww, 3)
    err = err.mean(axis=(0, 1, 4))  # (hh, ww)
    y0, x0 = max(draws, key=lambda d: err[d[0]:d[0] + ch, d[1]:d[1] + cw].mean())
    return y0, x0, ch, cw


def build_head(kind: str, **config):
    return TRUNK_HEADS[kind](**config)


def train(args) -> dict:
    device = start(args.threads, args.seed, args.device)
    args.device = str(device)
    run = Run(args.out, args.resume)
    head = build_head(args.model, refiner=args.refiner).to(device)
    opt = torch.optim.Adam(head.parameters(), lr=args.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr / 100)
    train_b, val = load_split("train"), load_split("val")
    if not run.resuming:  # standardise the trunk's features with the training windows' statistics
        head.set_feature_stats(torch.cat([b["feat"][:, k] for b in train_b for k in (0, 1)]))
    rng = DataRNG(lambda step: args.seed + step)

    def batch(step):
        b = train_b[int(rng.gen.integers(len(train_b)))]
        idx = rng.gen.choice(b["ts"].shape[0], size=min(args.batch, b["ts"].shape[0]), replace=False)
        y0, x0, ch, cw = pick_crop(b, idx, args.crop, rng.gen, args.hard_crops)
        return to_device(batch_inputs(b, idx, (y0, y0 + ch, x0, x0 + cw)), device)

    def loss(inputs, step):
        f0, f1, v01, v10, base, gt, ts, geo = inputs
        with mixed_precision(device, args.bf16):
            pred, motion = head(f0, f1, v01, v10, base, ts, geo=geo, return_motion=True)
        pix = charbonnier(pred.float(), gt)
        return {"loss": pix + args.motion_weight * motion.float().abs().mean(), "pix": pix}

    recipe = Recipe(model=head, opt=opt, sched=sched, clip=1.0, batch=batch, loss=loss,
                    validate=lambda: validate(head, val), score=lambda v: v["gain_mid"] + 0.5 * v["gain_anchor"],
                    data_state=rng.state, load_data_state=rng.load)
    res = fit(run, recipe, args.steps, log_every=1, val_every=args.val_every, time_limit=args.time_limit,
              desc=args.model)
    summary = {"model": args.model, "config": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in head.config.items()},
               "params": sum(p.numel() for p in head.parameters()), "step": res.step, "best_step": res.best_step,
               "batch": args.batch, "crop": args.crop, "lr": args.lr, "motion_weight": args.motion_weight,
               "device": args.device,
               "wall_s": res.wall_s,
               "command": "python -m train.stvsr_trunk " + " ".join(sys.argv[1:])}
    (run.dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def export(args) -> None:
    """weights/<id>.safetensors from OUT/best.pt (fp16 when the in-between Y-PSNR moves <= 0.01 dB), with the
    validation numbers of that step in the metadata and the card."""
    from models.weights import WEIGHTS_DIR

    out = Path(args.out)
    ck = best_weights(out)
    summary = json.loads((out / "summary.json").read_text())
    head = build_head(args.model, refiner=summary["config"].get("refiner", 0))
    val_split = load_split("val")

    def evaluate(state):
        head.load_state_dict(state)
        return validate(head, val_split)

    model_id = MODELS[args.model]
    dest = Path(args.to) if args.to else WEIGHTS_DIR
    info = export_weights(ck["model"], dest / f"{model_id}.safetensors", evaluate, lambda v: v["val_mid"],
                          tolerance=0.01, metadata={"config": json.dumps(summary["config"]), "model": model_id})
    summary.update(best_step=int(ck["step"]), dtype=info["dtype"], precision=precision_note(info),
                   val_fp16=info["val_fp16"] if info["dtype"] == "fp16" else info["val_fp32"])
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (dest / f"{model_id}.md").write_text(model_card(model_id, summary))
    print(json.dumps(summary, indent=1))


ENCODINGS = {
    "bfstvsr": "the paper's B-spline (time) and Fourier (space) mappers with softmax splatting",
    "concat": "plain (x, y, t) coordinate concatenation in place of BF-STVSR's two mappers (the paper's ablation), "
              "softmax splatting",
    "videoinr": "VideoINR's spatial INR over (feature, x, y, t) and temporal INR predicting two backward flows from "
                "t (as a departure from Super SloMo's linear backward flows), backward warps, no splatting",
    "motif": "MoTIF's motion context (flow, reliability maps psi_photo / psi_flow / psi_var, start and duration "
             "through `flow_process`) read by an (x, y, t) SIREN, a concatenation SIREN in space, softmax splatting",
}


def model_card(model_id: str, s: dict) -> str:
    """The card's training part (the benchmark table is added from bench/results after measuring)."""
    from train.data_stvsr import VAL_SEQUENCES

    cls = TRUNK_HEADS[s["model"]]
    v = s["val_fp16"]
    width = s["config"].get("refiner", 0)
    refine = (f" through a {width}-channel map and two 3x3 convs over it and the base frame (spatial context the "
              f"per-pixel decoder lacks)") if width else ""
    encoding = ENCODINGS[s["model"]]
    return f"""# {model_id}: residual space-time head on BasicVSR + RIFE, trained in FrameForge

- **What**: `{cls.__module__.replace('.', '/')}.py` ({cls.__name__}), {encoding}, and a SIREN decoder whose
  output is added to the `basicvsr+rife` frame; config
  `{json.dumps(s['config'])}`, {s['params']:,} trained parameters (BasicVSR 6.29 M and RIFE 5.66 M frozen).
- **Departures from the paper** (all listed in the module's docstring): the encoder is the frozen pretrained
  BasicVSR (its fused propagated feature at the anchors, through a learned 1x1 adapter) instead of a trained
  Zooming-SlowMo encoder; the flow is SpyNet's linear motion plus the learned departure (an L1 penalty of weight
  {s['motion_weight']} on it) instead of a whole flow learned (with RAFT as teacher or, for MoTIF, run at
  inference); the decoder reads a 3x3-conv encoding of the base frame in place of ZSM's F01
  and outputs a residual{refine} (last layer zero at the start: the untrained model is `basicvsr+rife` exactly);
  training windows give BasicVSR the two anchors only (in the app it sees the whole anchor sequence); widths 32 instead of 64.
- **Data**: `video_train` only (DAVIS-2016 train sequences and the short clips, `train/data_stvsr.py`), LR patch 40,
  scales 1.5-4 in six buckets, gaps of 2-4 frames; validation on windows of the held-back training sequences
  {', '.join(VAL_SEQUENCES)}; no evaluation folder was used.
- **Command**: `python -m train.stvsr_trunk cache` then `{s['command']}`, exported with
  `python -m train.stvsr_trunk export --model {s['model']} --out ...` (kept step {s['best_step']} of {s['step']};
  batch {s['batch']}, HR crop {s['crop']}, Adam {s['lr']} cosine, bf16 autocast; {s['wall_s'] / 60:.0f} min on
  {where_trained(s.get("device"), "the 2-core CPU")}).
- **Validation** ({s.get('dtype', 'fp16')} weights as shipped, {len(VAL_SEQUENCES)} held-back sequences, 48 windows,
  Y-PSNR dB; {s.get('precision', 'fp16')}):
  in-between frames {v['val_mid']:.3f} vs base {v['val_base_mid']:.3f} ({v['gain_mid']:+.3f}); anchors
  {v['val_anchor']:.3f} vs base {v['val_base_anchor']:.3f} ({v['gain_anchor']:+.3f}).
- **Licence**: the head's weights are for research use (DAVIS: research / non-commercial; SA-V: CC BY 4.0; the other
  clips' own terms); BasicVSR (Apache-2.0) and RIFE (MIT) keep theirs (`basicvsr.md`, `rife.md`).
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["cache", "train", "export"])
    ap.add_argument("--model", choices=sorted(MODELS), default="bfstvsr")
    ap.add_argument("--out", default="runs/stvsr_trunk")
    ap.add_argument("--samples", type=int, default=1200)
    ap.add_argument("--val", type=int, default=24)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--refiner", type=int, default=0, help="conv refiner width after the decoder (0: none)")
    ap.add_argument("--crop", type=int, default=64, help="HR window (px a side) trained on per step")
    ap.add_argument("--hard-crops", type=int, default=1, metavar="K",
                    help="train on the crop, of K random ones, where the base errs most (1: uniform crops)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--motion-weight", type=float, default=0.01)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--time-limit", type=float, default=0, help="stop (and save) after this many minutes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false")
    add_device_argument(ap)
    ap.add_argument("--resume", action="store_true", help="go on from OUT/last.pt")
    ap.add_argument("--to", default=None, help="export: write <id>.safetensors + .md here instead of weights/ "
                                               "(load it with FRAMEFORGE_BFSTVSR_HEAD, ..._CONCAT_HEAD, "
                                               "FRAMEFORGE_VIDEOINR_HEAD or FRAMEFORGE_MOTIF_HEAD)")
    args = ap.parse_args(argv)
    if args.action == "cache":
        torch.set_num_threads(args.threads)
        training_device(args.device)  # the frozen BasicVSR and RIFE run there
        return build_samples(args.samples, args.val, args.seed)
    if args.action == "export":
        return export(args)
    train(args)


if __name__ == "__main__":
    main()
