"""Distil Real-ESRGAN x4plus into a light blind face student (``models/face/blind.py``, :class:`BlindStudent`).

    python -m train.face_blind cache --out runs/face_blind_cache.npz [--utk 600] [--threads 1]
    python -m train.face_blind train --cache runs/face_blind_cache.npz --target teacher|truth --steps 1500 \
        --out runs/face_student [--export face_student]   # --target truth: --export face_student_nokd

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

from models.imageio import list_images, load_rgb
from models.metrics import feature_l1
from train.checkpoint import read_best
from train.loop import DataRNG, Recipe, Run, best_weights, fit, precision_note
from train.loop import export as export_weights
from train.runtime import start

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "faces_train"
HQ_FOLDERS = ("celebahq_256", "celebahq_a", "celebahq_b", "celebamask_hq", "crops_224", "ffhq_256")


def _faces(utk: int, utk_dir: Path | None = None, utk_extra: int = 0) -> list[tuple[Path, int]]:
    """(image, truth side): the HQ faces at 512, then ``utk`` UTKFace chips (every k-th, sorted) at 200, then the
    ``utk_extra`` chips (every k-th by name) of ``utk_dir`` (``python -m train.data_utkface``: the sharpest of the
    23,706 chips of mattans/AgeProgression, none of them in ``utkface_sharp``) at 200."""
    rows = [(p, 512) for f in HQ_FOLDERS if (DATA / f).is_dir() for p in list_images(DATA / f)]
    chips = list_images(DATA / "utkface_sharp") if (DATA / "utkface_sharp").is_dir() else []
    if utk and chips:
        step = max(1, len(chips) // utk)
        rows += [(p, 200) for p in chips[::step][:utk]]
    if utk_extra:
        if utk_dir is None or not Path(utk_dir).is_dir():
            raise FileNotFoundError(f"--utk-extra {utk_extra} needs --utk-dir "
                                    "(a folder from python -m train.data_utkface)")
        extra = list_images(Path(utk_dir))  # sorted by name = by age first: take every k-th
        rows += [(p, 200) for p in extra[::max(1, len(extra) // utk_extra)][:utk_extra]]
    return rows


def _name(path: Path) -> str:
    return str(path.relative_to(DATA)) if path.is_relative_to(DATA) else f"utkface_extra/{path.name}"


def _cached(cache: Path | None) -> dict:
    """{(index, name): (lr, teacher, truth)} of an earlier cache (its faces are not restored again)."""
    if cache is None:
        return {}
    z = np.load(cache)
    names, got = [str(n) for n in z["names"]], {}
    for side in sorted({int(s) for s in z["sides"]}):
        lr, te, gt = (z[f"{key}_{side}"] for key in ("lr", "teacher", "truth"))  # each read from the archive once
        for k, i in enumerate(z[f"index_{side}"]):
            got[(int(i), names[i])] = (lr[k], te[k], gt[k])
    return got


def make_cache(out: Path, utk: int = 600, threads: int = 1, utk_dir: Path | None = None,
               utk_extra: int = 0, reuse: Path | None = None) -> None:
    """``reuse``: an earlier cache; a face at the same index with the same name (so the same degradation seed) is
    taken from it instead of being degraded and restored again."""
    from models import degrade, registry

    start(threads, 0)
    teacher = registry.get("realesrgan_x4plus")
    rows = _faces(utk, utk_dir, utk_extra)
    old = _cached(reuse)
    lrs, teach, truths, t0 = [], [], [], time.time()
    for i, (path, side) in enumerate(rows):
        if (i, _name(path)) in old:
            lr, te, gt = old[(i, _name(path))]
            lrs.append(lr), teach.append(te), truths.append(gt)
            continue
        gt = np.asarray(Image.fromarray(load_rgb(path)).resize((side, side), Image.Resampling.BICUBIC))
        lr = degrade.apply_image(gt, (side // 4, side // 4), "jpeg", i)
        lrs.append(lr)
        teach.append(teacher.upscale(lr, (side, side)))
        truths.append(gt)
        if i % 25 == 0:
            print(f"{i + 1}/{len(rows)} faces, {time.time() - t0:.0f} s", flush=True)
    sides = np.array([t.shape[0] for t in truths])
    payload = {"names": np.array([_name(p) for p, _ in rows]), "sides": sides}
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
        lrs, targets = z[f"lr_{side}"], z[f"{target}_{side}"]  # each read from the archive once
        for k, i in enumerate(z[f"index_{side}"]):
            pair = (lrs[k], targets[k])
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


#: EfficientNet-Lite0 strides of the perceptual term: 2-8 only, so the loss never sees the stride-16 features
#: that FD-EffNetLite0 (``models.metrics``) compares.
PERCEPTUAL_STRIDES = (2, 4, 8)


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
          threads: int = 1, val_every: int = 250, seed: int = 0, batch: int = 16, init: str | None = None,
          resume: bool = False, w_perceptual: float = 0.0, time_limit: float = 0.0) -> dict:
    from models.face.blind import BlindStudent

    start(threads, seed)
    key = {"teacher": "teacher", "truth": "truth"}[target]
    tr, val = _load(cache, key)
    net = BlindStudent()
    if init:  # continue from an earlier run's weights (a new schedule)
        net.load_state_dict(read_best(init)["model"], strict=True)
    net = net.to(memory_format=torch.channels_last)
    effnet = None
    if w_perceptual:
        from models import registry

        effnet = registry.create("efficientnet_lite0").eval().to(memory_format=torch.channels_last)
        for q in effnet.parameters():
            q.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    run = Run(out, resume)
    rng = DataRNG(lambda step: seed)  # one stream from the seed (an older run without its state: restarted)

    def loss(b, step):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pred = net(b[0].contiguous(memory_format=torch.channels_last))
            if effnet is None:
                return {"loss": F.l1_loss(pred.float(), b[1])}
            per = feature_l1(effnet, pred, b[1].contiguous(memory_format=torch.channels_last),
                             PERCEPTUAL_STRIDES).float()
        l1 = F.l1_loss(pred.float(), b[1])
        return {"loss": l1 + w_perceptual * per, "l1": l1, "perceptual": per}

    recipe = Recipe(model=net, opt=opt, sched=sched, batch=lambda step: _batch(tr, rng.gen, batch), loss=loss,
                    validate=lambda: {"val_l1": _validate(net, val)}, score=lambda v: -v["val_l1"],
                    data_state=rng.state, load_data_state=rng.load)
    res = fit(run, recipe, steps, log_every=val_every, val_every=val_every, validate_first=False,
              time_limit=time_limit or 0.0,
              echo=lambda m: print(m, flush=True), desc="face_blind")
    best = (-res.best, res.best_step)
    summary = {"target": target, "steps": steps, "lr": lr, "batch": batch, "init": init, "w_perceptual": w_perceptual,
               "train_faces": len(tr),
               "val_faces": len(val), "best_val_l1": best[0], "best_step": best[1], "log": run.rows()}
    (out / "log.json").write_text(json.dumps(summary, indent=1))
    if export:
        from models.weights import WEIGHTS_DIR

        def evaluate(state):
            net.load_state_dict(state)
            return {"val_l1": _validate(net, val)}

        info = export_weights(best_weights(out)["model"], WEIGHTS_DIR / f"{export}.safetensors", evaluate,
                              lambda v: 255 * v["val_l1"], tolerance=0.01, metadata={
                                  "target": target, "steps": steps, "best_step": best[1],
                                  "best_val_l1": f"{best[0]:.5f}", "cache": cache.name})
        print(f"exported step {best[1]} to weights/{export}.safetensors ({precision_note(info, 'levels of L1')})")
    return {"best_val_l1": best[0], "best_step": best[1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.face_blind", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--out", default=str(REPO / "runs" / "face_blind_cache.npz"))
    c.add_argument("--utk", type=int, default=600)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--utk-dir", help="extra UTKFace chips (python -m train.data_utkface)")
    c.add_argument("--utk-extra", type=int, default=0, help="how many of --utk-dir's chips (every k-th by name)")
    c.add_argument("--reuse", help="an earlier cache whose faces (same index and name) are taken as they are")
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
    t.add_argument("--w-perceptual", type=float, default=0.0,
                   help="weight of the EfficientNet-Lite0 feature L1 (strides 2-8) to the same target")
    t.add_argument("--time-limit", type=float, help="minutes: validate, keep the best and stop")
    t.add_argument("--resume", action="store_true", help="go on from OUT/last.pt")
    args = ap.parse_args(argv)
    if args.cmd == "cache":
        make_cache(Path(args.out), args.utk, args.threads, args.utk_dir and Path(args.utk_dir), args.utk_extra,
                   args.reuse and Path(args.reuse))
    else:
        train(Path(args.cache), args.target, args.steps, Path(args.out), args.export, args.lr, args.threads,
              args.val_every, batch=args.batch, init=args.init, resume=args.resume, w_perceptual=args.w_perceptual,
              time_limit=args.time_limit or 0.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
