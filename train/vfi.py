"""Train AdaCoF / SF-AdaCoF on the FrameForge training videos.

    python -m train.vfi --model sf_adacof --width 0.5 --steps 2000 --batch 4 --crop 128 --out runs/vfi_sf [--bf16]
    python -m train.vfi ... --resume                  # continue from <out>/last.pt
    python -m train.vfi ... --export sf_adacof        # after training: weights/sf_adacof.safetensors + .md card
    python -m train.vfi --model sf_adacof_aligned ...  # the flow-aligned variants: see train/vfi_aligned.py

Loss (official AdaCoF configuration): Charbonnier(out, gt; eps 1e-3) + 0.01 g_Spatial + 0.005 g_Occlusion, where
g_Spatial is the Charbonnier TV of mean_n(W*alpha), mean_n(W*beta) of both frames and g_Occlusion that of V.
Adamax (lr 1e-3, betas 0.9/0.999), learning rate halved at 40% and 80% of the steps (the official 20/50 epochs).

Flow warm-up (``--flow-warmup N``, our addition for short budgets): from scratch, a few thousand steps leave both
networks at the frame-average plateau (measured: 900 CPU steps gave blend-level PSNR). For the first N steps the
kernel-weighted mean displacement of each frame's taps (``KernelInterpolationNet.mean_displacement``) is also pulled
towards the OpenCV DIS flow from the ground-truth middle frame to that frame, with weight
``--flow-weight`` * (1 - step / N): Charbonnier in pixels. This is teacher forcing with a weight-free teacher;
after N steps the loss is the official one alone, so the network may depart from DIS.

The loop is :func:`train.loop.fit`: the run folder holds ``last.pt`` (resumable, the one format of
:mod:`train.checkpoint`), ``best.pt`` (weights of the best validation PSNR), ``log.jsonl`` (losses every --log-every
steps, validation PSNR every --val-every steps) and ``args.json``. Checkpoints are plain dicts of tensors and
numbers, read with ``torch.load(weights_only=True)``.
Validation: fixed centre crops from the held-out training sources (train.data_vfi.VAL_SOURCES), t = 0.5, gaps 1 and 2.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from models.metrics import charbonnier
from train import vfi_aligned
from train.data_vfi import REPO, VAL_SOURCES, TripletSampler, build_cache, load_sources, split, val_triplets
from train.loop import Recipe, Run, best_weights, fit, fp16_rounded
from train.loop import export as export_weights
from train.runtime import start
from train.vfi_aligned import DATA_TERMS, kaiming_init, lr_at  # shared by both recipes

MODELS = ("adacof", "sf_adacof")  # registry ids of the trainable kernel interpolators


def build(model: str, width: float, mode: str = "fast"):
    """The untrained network of registry model ``model`` at ``width`` (``registry.create(..., pretrained=False)``)."""
    from models import registry

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {sorted(MODELS)}")
    return registry.create(model, pretrained=False, width=width, mode=mode).net


def teacher_flows(f0: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DIS flows F_1->0 and F_1->2 (B, 2, H, W), (x, y) in pixels, from the middle frame of float (B, 3, H, W)
    triplets: frame_i(p + F_1->i(p)) ~ frame_1(p), i.e. where each output pixel should sample frame i."""
    from models.baselines.dis_flow import dis_flow

    u8 = [(x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy() for x in (f0, f1, f2)]
    to0 = np.stack([dis_flow(m, a) for m, a in zip(u8[1], u8[0])])   # (B, H, W, 2)
    to2 = np.stack([dis_flow(m, b) for m, b in zip(u8[1], u8[2])])
    return (torch.from_numpy(to0).permute(0, 3, 1, 2).contiguous(),
            torch.from_numpy(to2).permute(0, 3, 1, 2).contiguous())


def flow_weight_at(step: int, warmup: int, weight: float) -> float:
    """Linearly decaying weight of the flow warm-up term; 0 from step ``warmup`` on."""
    return weight * max(0.0, 1.0 - step / warmup) if warmup > 0 else 0.0


def loss_terms(net, f0, f1, f2, bf16: bool, flow_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Official loss: Charbonnier + 0.01 g_Spatial + 0.005 g_Occlusion (computed in fp32), plus
    ``flow_weight`` * Charbonnier(D_i - F_1->i) summed over both frames when ``flow_weight`` > 0."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = net(f0, f2, aux=True)
    charb = charbonnier(out["frame1"].float() - f1)
    total = charb + 0.01 * out["g_Spatial"].float() + 0.005 * out["g_Occlusion"].float()
    terms = {"charb": charb}
    if flow_weight > 0:
        to0, to2 = teacher_flows(f0, f1, f2)
        flow = charbonnier(out["flow0"].float() - to0) + charbonnier(out["flow1"].float() - to2)
        total = total + flow_weight * flow
        terms["flow"] = flow
    terms["loss"] = total
    return terms


@torch.no_grad()
def validate(net, triplets, bf16: bool = False) -> dict[str, float]:
    """Mean PSNR (uint8 RGB, whole crop) per gap and overall on fixed validation triplets."""
    from models.metrics import psnr

    was_training = net.training
    net.eval()
    scores: dict[int, list[float]] = {}
    for gap, a, gt, b in triplets:
        t = [torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0 for x in (a, b)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(t[0], t[1])
        img = (out.float().clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        scores.setdefault(gap, []).append(psnr(img, gt))
    net.train(was_training)
    res = {f"psnr_gap{g}": float(np.mean(v)) for g, v in sorted(scores.items())}
    res["psnr"] = float(np.mean([x for v in scores.values() for x in v]))
    return res


def train(args) -> Path:
    start(args.threads, args.seed)
    run = Run(args.out, args.resume)
    build_cache(log=lambda m: print(m, flush=True))
    train_src, val_src = split(load_sources())
    sampler = TripletSampler(train_src, crop=args.crop, seed=args.seed)
    val = val_triplets(val_src)
    net = build(args.model, args.width, args.mode)
    if args.init == "kaiming":
        kaiming_init(net)
    opt = torch.optim.Adamax(net.parameters(), lr=args.lr, betas=(0.9, 0.999))
    run.write_args(args)
    print(f"{args.model} width {args.width}: {sum(p.numel() for p in net.parameters()):,} parameters; "
          f"{len(sampler.names)} training sources, {len(val)} validation triplets", flush=True)
    recipe = Recipe(
        model=net, opt=opt, batch=lambda step: tuple(torch.from_numpy(x) for x in sampler.batch(args.batch)),
        loss=lambda b, step: loss_terms(net, *b, args.bf16, flow_weight_at(step, args.flow_warmup, args.flow_weight)),
        validate=lambda: validate(net, val, args.bf16), lr=lambda step: lr_at(step, args.steps, args.lr),
        load_data_state=lambda data, step: sampler.reseed(step))
    fit(run, recipe, args.steps, log_every=args.log_every, val_every=args.val_every, ckpt_every=args.ckpt_every,
        validate_first=False, desc=args.model)
    return run.dir


def export(args) -> Path:
    """weights/<id>.safetensors from <out>/best.pt (fp16 when val PSNR moves <= 0.01 dB) + the model card."""
    from models.weights import WEIGHTS_DIR

    start(args.threads, args.seed)
    out = Path(args.out)
    best = best_weights(out)
    _, val_src = split(load_sources())
    val = val_triplets(val_src)
    net = build(args.model, args.width, args.mode)

    def evaluate(state):
        net.load_state_dict(state)
        return validate(net, val)

    dst = WEIGHTS_DIR / f"{args.export}.safetensors"
    info = export_weights(best["model"], dst, evaluate, lambda v: v["psnr"], tolerance=0.01, metadata={
        "model": args.model, "width": args.width, "mode": args.mode, "step": best["step"]})
    net.load_state_dict(fp16_rounded(best["model"]) if info["dtype"] == "fp16" else best["model"])
    whole = validate(net, val_triplets(val_src, per_source=4, crop=None))  # whole 480p frames, shipped dtype
    summary = {"export": str(dst.relative_to(REPO)), "dtype": info["dtype"], "val_fp32": info["val_fp32"],
               "val_fp16": info["val_fp16"], "val_whole_frames": whole, "step": int(best["step"])}
    (out / "export.json").write_text(json.dumps(summary, indent=1))
    card = WEIGHTS_DIR / f"{args.export}.md"
    card.write_text(model_card(args, out, summary, sum(v.numel() for v in best["model"].values())))
    print(json.dumps(summary, indent=1))
    return dst


LABELS = {"adacof": "AdaCoF (Lee et al., CVPR 2020)", "sf_adacof": "SF-AdaCoF (Go et al., KIPS Trans. 2024)"}
def model_card(args, out: Path, summary: dict, n_params: int) -> str:
    """Markdown card from the run folder: data, licence, command, steps, wall time, validation curve."""
    run = json.loads((out / "args.json").read_text())
    rows = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "psnr" in r]
    wall = max((r.get("wall_s", 0) for r in rows), default=0)
    extra = "".join(f" --{k.replace('_', '-')} {run[k]}" for k in ("init", "flow_warmup", "flow_weight")
                    if k in run and run[k] not in (None, "default", 0))
    cmd = (f"python -m train.vfi --model {run['model']} --width {run['width']} --steps {run['steps']} "
           f"--batch {run['batch']} --crop {run['crop']}{' --bf16' if run['bf16'] else ''}{extra} --out {run['out']}")
    warm = (f"the taps' mean displacement pulled towards OpenCV DIS flow for the first {run['flow_warmup']} steps, "
            f"weight {run['flow_weight']} decaying linearly to 0" if run.get("flow_warmup") else "none")
    curve = "\n".join(f"| {r['step']} | {r['psnr_gap1']:.3f} | {r['psnr_gap2']:.3f} | {r['psnr']:.3f} |" for r in vals)
    return f"""# {args.export}: {LABELS[run['model']]}, FrameForge compact weights

* Network: official {run['model']} layout at width {run['width']} (1.0 = the paper's network), F = 5, dilation 1,
  {n_params:,} parameters. AdaCoF sampling mode `{run['mode']}` (bilinear, as in training). Midpoint only (t = 0.5).
* File: `weights/{args.export}.safetensors` ({summary['dtype']}; fp16 is used only when validation PSNR moves
  by at most 0.01 dB: fp32 {summary['val_fp32']['psnr']:.3f} dB, fp16 {summary['val_fp16']['psnr']:.3f} dB).
* Trained from scratch on the CPU (one thread, bf16 autocast: {bool(run['bf16'])}), {run['steps']} steps of batch
  {run['batch']}, {run['crop']}x{run['crop']} random crops, frame gaps 1-3, flips, temporal reversal; loss
  Charbonnier + 0.01 g_Spatial + 0.005 g_Occlusion; Adamax lr {run['lr']} halved at 40% and 80% of the steps.
  Initialisation: {run.get('init', 'default')}. Flow warm-up: {warm}.
  Wall time {wall / 60:.1f} min. Exported checkpoint: step {summary['step']} (best validation PSNR).
* Command: `{cmd} --export {args.export}`

## Data and licence
{DATA_TERMS}

## Validation (held-out training sources {', '.join(VAL_SOURCES)}; 256x256 centre crops, t = 0.5, PSNR on uint8 RGB)
| step | gap 1 | gap 2 | mean |
|---|---|---|---|
{curve}

(bf16 autocast during training when `--bf16`.) Exported weights on **whole frames** of the same held-out sources
(4 triplets per source and gap, up to 854x480, fp32 compute): gap 1 {summary['val_whole_frames']['psnr_gap1']:.3f} dB,
gap 2 {summary['val_whole_frames']['psnr_gap2']:.3f} dB, mean {summary['val_whole_frames']['psnr']:.3f} dB.

This is a validation split of the training videos, not the evaluation benchmark: the eval-set numbers come from
`python -m bench.vfi`. The budget here (tens of CPU minutes) is a tiny fraction of the paper's 50 Vimeo-90K epochs on
a GPU, so these weights are far from the published quality.
"""


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="sf_adacof")
    ap.add_argument("--width", type=float, default=0.5, help="channel multiplier; 1.0 = the official network")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mode", choices=("fast", "exact"), default="fast", help="AdaCoF sampling used in training")
    ap.add_argument("--out", default="runs/vfi")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU")
    ap.add_argument("--flow-warmup", type=int, default=0, metavar="N",
                    help="pull the taps' mean displacement towards DIS flow for the first N steps (0: off)")
    ap.add_argument("--flow-weight", type=float, default=0.01, help="initial weight of the flow warm-up term")
    ap.add_argument("--init", choices=("default", "kaiming"), default="default",
                    help="conv initialisation: PyTorch's default (as the official code) or He-normal")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--export", metavar="ID", help="write weights/<ID>.safetensors from best.pt after training")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a.split("=")[-1] in vfi_aligned.MODELS for a in argv):  # the flow-aligned models have their own loop
        return vfi_aligned.main(argv)
    args = parse(argv)
    if args.steps > 0:
        train(args)
    if args.export:
        export(args)


if __name__ == "__main__":
    main()
