"""Distil Real-ESRGAN x4plus into a light blind face student (``models/face/blind.py``, :class:`BlindStudent`).

    python -m train.face_blind cache --out runs/face_blind_cache.npz [--utk 600] [--threads 1]
    python -m train.face_blind train --cache runs/face_blind_cache.npz --target teacher|truth --steps 1500 \
        --out runs/face_blind_student [--export face_blind_student]

Data (``../shared/data/faces_train``, never the ``*_eval`` folders): the aligned HQ faces at 512 and ``--utk`` of the
1,500 sharpest UTKFace chips at their own 200 px. Each is degraded once like an old photo (``models.degrade`` preset
``jpeg``: blur, x4 down, noise, JPEG q 30-80; seed = its index) and the teacher (``realesrgan_x4plus``, bf16 on the
CPU) restores the low-res face to the face's size; low-res faces, teacher outputs and truths are cached (uint8).
Validation: every 16th face (HQ and UTK alike).

Training: random 32x32 low-res crops (128x128 targets), batch 16 (``--batch``), L1 to the teacher's output
(``--target teacher``, the distilled student) or to the truth (``--target truth``, the no-distillation ablation:
same network, data and budget), Adam 2e-4 with a cosine decay, bf16 autocast + channels_last on the CPU. The
validation L1 to the same target on whole faces picks the exported step; ``--init`` continues from a ``best.pt``.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "faces_train"
HQ_FOLDERS = ("celebahq_256", "celebahq_a", "celebahq_b", "celebamask_hq", "crops_224", "ffhq_256")


def _faces(utk: int) -> list[tuple[Path, int]]:
    """(image, truth side): the HQ faces at 512, then ``utk`` UTKFace chips (every k-th, sorted) at 200."""
    from bench.common import list_images

    rows = [(p, 512) for f in HQ_FOLDERS if (DATA / f).is_dir() for p in list_images(DATA / f)]
    chips = list_images(DATA / "utkface_sharp") if (DATA / "utkface_sharp").is_dir() else []
    if utk and chips:
        step = max(1, len(chips) // utk)
        rows += [(p, 200) for p in chips[::step][:utk]]
    return rows


def make_cache(out: Path, utk: int = 600, threads: int = 1) -> None:
    from bench.common import load_rgb, set_threads
    from models import degrade, registry

    set_threads(threads)
    teacher = registry.get("realesrgan_x4plus")
    rows = _faces(utk)
    lrs, teach, truths, t0 = [], [], [], time.time()
    for i, (path, side) in enumerate(rows):
        gt = np.asarray(Image.fromarray(load_rgb(path)).resize((side, side), Image.Resampling.BICUBIC))
        lr = degrade.apply_image(gt, (side // 4, side // 4), "jpeg", i)
        lrs.append(lr)
        teach.append(teacher.upscale(lr, (side, side)))
        truths.append(gt)
        if i % 25 == 0:
            print(f"{i + 1}/{len(rows)} faces, {time.time() - t0:.0f} s", flush=True)
    sides = np.array([t.shape[0] for t in truths])
    payload = {"names": np.array([str(p.relative_to(DATA)) for p, _ in rows]), "sides": sides}
    for side in sorted(set(sides.tolist())):  # one stacked array per size
        idx = np.flatnonzero(sides == side)
        payload[f"lr_{side}"] = np.stack([lrs[i] for i in idx])
        payload[f"teacher_{side}"] = np.stack([teach[i] for i in idx])
        payload[f"truth_{side}"] = np.stack([truths[i] for i in idx])
        payload[f"index_{side}"] = idx
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **payload)
    print(f"wrote {out}: {len(rows)} faces in {time.time() - t0:.0f} s")


def _load(cache: Path, target: str) -> tuple[list, list]:
    """(train, val) lists of (lr uint8, target uint8); every 16th face (by cache index) is validation."""
    z = np.load(cache)
    train, val = [], []
    for side in sorted({int(s) for s in z["sides"]}):
        for k, i in enumerate(z[f"index_{side}"]):
            pair = (z[f"lr_{side}"][k], z[f"{target}_{side}"][k])
            (val if i % 16 == 0 else train).append(pair)
    return train, val


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float().div_(255.0)


def _batch(train, rng: np.random.Generator, size: int = 16, crop: int = 32):
    xs, ys = [], []
    for j in rng.integers(0, len(train), size):
        lr, hr = train[j]
        y0, x0 = (int(rng.integers(0, lr.shape[k] - crop + 1)) for k in (0, 1))
        x, y = lr[y0:y0 + crop, x0:x0 + crop], hr[4 * y0:4 * (y0 + crop), 4 * x0:4 * (x0 + crop)]
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        xs.append(_tensor(x))
        ys.append(_tensor(y))
    return torch.stack(xs), torch.stack(ys)


@torch.no_grad()
def _validate(net, val) -> float:
    net.eval()
    losses = []
    for lr, hr in val:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(_tensor(lr)[None].contiguous(memory_format=torch.channels_last))
        losses.append(F.l1_loss(out.float().clamp(0, 1), _tensor(hr)[None]).item())
    net.train()
    return float(np.mean(losses))


def train(cache: Path, target: str, steps: int, out: Path, export: str | None = None, lr: float = 2e-4,
          threads: int = 1, val_every: int = 250, seed: int = 0, batch: int = 16, init: str | None = None) -> dict:
    from bench.common import set_threads
    from models.face.blind import BlindStudent
    from models.weights import WEIGHTS_DIR, save_safetensors

    set_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    key = {"teacher": "teacher", "truth": "truth"}[target]
    tr, val = _load(cache, key)
    net = BlindStudent()
    if init:  # continue from an earlier run's weights (a new schedule)
        net.load_state_dict(torch.load(init, weights_only=True), strict=True)
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    out.mkdir(parents=True, exist_ok=True)
    log, best, t0 = [], (float("inf"), -1), time.time()
    for step in range(1, steps + 1):
        x, y = _batch(tr, rng, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pred = net(x.contiguous(memory_format=torch.channels_last))
        loss = F.l1_loss(pred.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % val_every == 0 or step == steps:
            v = _validate(net, val)
            log.append({"step": step, "train_l1": loss.item(), "val_l1": v, "seconds": time.time() - t0})
            print(json.dumps(log[-1]), flush=True)
            if v < best[0]:
                best = (v, step)
                torch.save(net.state_dict(), out / "best.pt")
    (out / "log.json").write_text(json.dumps({"target": target, "steps": steps, "lr": lr, "batch": batch, "init": init,
                                              "train_faces": len(tr),
                                              "val_faces": len(val), "best_val_l1": best[0], "best_step": best[1],
                                              "log": log}, indent=1))
    if export:
        state = torch.load(out / "best.pt", weights_only=True)
        save_safetensors(state, WEIGHTS_DIR / f"{export}.safetensors", half=True,
                         metadata={"target": target, "steps": str(steps), "best_step": str(best[1]),
                                   "best_val_l1": f"{best[0]:.5f}", "cache": cache.name})
        print(f"exported step {best[1]} to weights/{export}.safetensors")
    return {"best_val_l1": best[0], "best_step": best[1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.face_blind", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--out", default=str(REPO / "runs" / "face_blind_cache.npz"))
    c.add_argument("--utk", type=int, default=600)
    c.add_argument("--threads", type=int, default=1)
    t = sub.add_parser("train")
    t.add_argument("--cache", default=str(REPO / "runs" / "face_blind_cache.npz"))
    t.add_argument("--target", choices=("teacher", "truth"), default="teacher")
    t.add_argument("--steps", type=int, default=1500)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--val-every", type=int, default=250)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--out", required=True)
    t.add_argument("--export")
    t.add_argument("--init", help="start from this best.pt (continue a run with a new schedule)")
    args = ap.parse_args(argv)
    if args.cmd == "cache":
        make_cache(Path(args.out), args.utk, args.threads)
    else:
        train(Path(args.cache), args.target, args.steps, Path(args.out), args.export, args.lr, args.threads,
              args.val_every, batch=args.batch, init=args.init)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
