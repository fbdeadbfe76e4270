"""Train the pre-cleaner (:mod:`models.clean.cleaner`): compressed LR frames -> clean LR frames.

    python -m train.cleaner --steps 20000 --time-limit 60 --bf16 --out runs/cleaner [--resume] [--export cleaner]

Data (``../shared/data/video_train`` only, through :mod:`train.data_vfi`'s decoded cache; its two validation sources
are held out): a *pool* of windows, built once into ``runs/cleaner_pool/``. A window is 12 consecutive frames of a
training source at a random scale s ∈ [2, 4]; the clean LR = PIL bicubic of each whole frame (the target, exact);
the input = the same LR sequence degraded (:mod:`models.degrade`) as

* 15 %: nothing (clean frames must pass unchanged),
* 55 %: libx264 at a CRF drawn from 18-35 (the upload settings of :func:`models.degrade.encode`),
* 30 %: the ``real`` second-order chain (blur, resize, noise twice, then libx264 at CRF 18-35),

with the decoder's QP maps and frame types. Four frames of each window (after its first, so P and B frames dominate)
give two 96 px crops each, aligned to the 16 px macroblocks. A step draws 64 px sub-crops (aligned), random flips,
and hides the side data (m = 0) half of the time, so the cleaner also works without it. Loss: Charbonnier to the
clean LR. Validation: 192 px crops of the held-out sources at CRF 23, CRF 30 and clean, scored as the PSNR gain of
the cleaned frame over its input, with the decoder's QP maps (what the pipelines hand over for H.264 uploads) and
without (``gain_*`` blind, ``gain_*_qp``), and for clean inputs the PSNR of the cleaned frame against them (capped at
60); ``best.pt`` keeps the best ``gain_qp(crf23) + gain_qp(crf30) + 0.5·min(0, psnr(clean) - 40)``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from models import degrade as D
from models.clean.cleaner import PreCleaner, side_planes
from train import data_vfi
from train.checkpoint import read_best
from train.loop import DataRNG, Recipe, Run, best_weights, channels_last, fit, precision_note
from train.loop import export as export_weights
from train.runtime import add_device_argument, mixed_precision, start

REPO = Path(__file__).resolve().parents[1]
POOL = REPO / "runs" / "cleaner_pool"
WINDOW = 12
CROP = 96


def _window(src: np.ndarray, rng: np.random.Generator, mode: str, crf: int, seed: int):
    """(clean LR frames, Decoded input) of one random window of ``src`` (N, H, W, 3)."""
    start = int(rng.integers(0, max(1, src.shape[0] - WINDOW)))
    hr = [np.ascontiguousarray(f) for f in src[start:start + WINDOW]]
    s = rng.uniform(2.0, 4.0)
    size = (max(CROP, round(hr[0].shape[0] / s)), max(CROP, round(hr[0].shape[1] / s)))
    clean = D.degrade_frames(hr, size, "bi")
    if mode == "clean":
        return clean, D.Decoded(clean, [None] * len(clean), ["I"] * len(clean))
    if mode == "crf":
        return clean, D.compress(clean, crf, side_data=True)
    return clean, D.degrade_sequence(hr, size, "real", seed, side_data=True)


def _crops(clean, dec, rng, n_frames: int, per_frame: int, crop: int):
    rows = []
    picks = rng.choice(np.arange(1, len(clean)), size=min(n_frames, len(clean) - 1), replace=False)
    for i in picks:
        h, w = clean[i].shape[:2]
        for _ in range(per_frame):
            y = 16 * int(rng.integers(0, (h - crop) // 16 + 1))
            x = 16 * int(rng.integers(0, (w - crop) // 16 + 1))
            qp = dec.qp[i]
            q = None if qp is None else qp[y // 16:(y + crop) // 16, x // 16:(x + crop) // 16]
            rows.append((clean[i][y:y + crop, x:x + crop], dec.frames[i][y:y + crop, x:x + crop], q, dec.types[i]))
    return rows


def _save_pool(path: Path, rows) -> None:
    n = len(rows)
    side = rows[0][0].shape[0] // 16
    qp = np.zeros((n, side, side), np.float32)
    known = np.zeros(n, bool)
    for k, r in enumerate(rows):
        if r[2] is not None:
            qp[k], known[k] = r[2], True
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, clean=np.stack([r[0] for r in rows]), inp=np.stack([r[1] for r in rows]), qp=qp, known=known,
             ftype=np.array([r[3] for r in rows]))
    tmp.rename(path)


def build_pool(windows: int = 800, val_windows: int = 24, seed: int = 0, log=print) -> tuple[Path, Path]:
    """The training and validation pools (existing files are reused)."""
    POOL.mkdir(parents=True, exist_ok=True)
    train_path, val_path = POOL / f"train_{windows}_{seed}.npz", POOL / f"val_{val_windows}_{seed}.npz"
    if train_path.is_file() and val_path.is_file():
        return train_path, val_path
    data_vfi.build_cache(log=log)
    train_src, val_src = data_vfi.split(data_vfi.load_sources())
    rng = np.random.default_rng(seed)
    names = sorted(train_src)
    rows, t0 = [], time.time()
    for k in range(windows):
        src = train_src[names[int(rng.integers(len(names)))]]
        mode = str(rng.choice(["clean", "crf", "real"], p=[0.15, 0.55, 0.30]))
        clean, dec = _window(src, rng, mode, int(rng.integers(18, 36)), seed * 100003 + k)
        rows += _crops(clean, dec, rng, 4, 2, CROP)
        if (k + 1) % 100 == 0:
            log(f"pool: {k + 1}/{windows} windows, {time.time() - t0:.0f} s")
    _save_pool(train_path, rows)
    vrows = {"crf23": [], "crf30": [], "clean": []}
    vnames = sorted(val_src)
    for k in range(val_windows):
        src = val_src[vnames[k % len(vnames)]]
        for mode, crf in (("crf", 23), ("crf", 30), ("clean", 0)):
            r = np.random.default_rng([seed, k])  # the same window and crops for the three presets
            clean, dec = _window(src, r, mode, crf, 0)
            vrows["clean" if mode == "clean" else f"crf{crf}"] += _crops(clean, dec, r, 2, 2, CROP)
    for name, rs in vrows.items():
        _save_pool(POOL / f"val_{name}_{val_windows}_{seed}.npz", rs)
    val_path.write_text(json.dumps({k: str(POOL / f"val_{k}_{val_windows}_{seed}.npz") for k in vrows}))
    return train_path, val_path


def _tensors(pool, idx, crop: int, rng, hide: float):
    """Batch tensors (input, side, target) of sub-crops of ``crop`` px (16-aligned), random flips."""
    n = len(idx)
    full = pool["clean"].shape[1]
    xs, ss, ys = [], [], []
    for i in idx:
        y0 = 16 * int(rng.integers(0, (full - crop) // 16 + 1))
        x0 = 16 * int(rng.integers(0, (full - crop) // 16 + 1))
        inp = pool["inp"][i, y0:y0 + crop, x0:x0 + crop]
        tgt = pool["clean"][i, y0:y0 + crop, x0:x0 + crop]
        qp = pool["qp"][i, y0 // 16:(y0 + crop) // 16, x0 // 16:(x0 + crop) // 16] if pool["known"][i] else None
        if qp is not None and rng.random() < hide:
            qp = None
        side = side_planes(qp, str(pool["ftype"][i]), (crop, crop))
        if rng.random() < 0.5:
            inp, tgt, side = inp[:, ::-1], tgt[:, ::-1], side[:, :, ::-1]
        if rng.random() < 0.5:
            inp, tgt, side = inp[::-1], tgt[::-1], side[:, ::-1]
        xs.append(np.ascontiguousarray(inp))
        ys.append(np.ascontiguousarray(tgt))
        ss.append(np.ascontiguousarray(side))

    def t(a):
        return torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float().div_(255)

    return t(xs), torch.from_numpy(np.stack(ss)), t(ys) if n else None


#: BT.601 luma and chroma (the benchmarks score Y): rows Y, Cb, Cr of [0, 1] RGB
YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def ycc(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> Y, Cb, Cr."""
    return torch.einsum("ij,bjhw->bihw", YCC.to(x.device, x.dtype), x)


def loss_fn(pred: torch.Tensor, y: torch.Tensor, chroma: float) -> torch.Tensor:
    """Charbonnier on Y, Cb, Cr with the chroma channels weighted ``chroma`` (1 = plain RGB-like weighting)."""
    err = torch.sqrt((ycc(pred.float()) - ycc(y)) ** 2 + 1e-6)
    w = torch.tensor([1.0, chroma, chroma], device=err.device).view(1, 3, 1, 1)
    return (err * w).mean() * 3 / (1 + 2 * chroma)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR on Y (BT.601, 0-255 scale) of [0, 1] RGB tensors after uint8 rounding."""
    a = ycc((a.clamp(0, 1) * 255).round())[:, :1]
    b = ycc((b * 255).round())[:, :1]
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(255.0 ** 2 / mse)


@torch.no_grad()
def validate(net, vals: dict, device, bf16: bool, known: bool = False) -> dict:
    """Mean PSNR gain (cleaned vs input, against the clean LR) per validation preset."""
    net.eval()
    out = {}
    for name, pool in vals.items():
        gains = []
        for s in range(0, len(pool["clean"]), 16):
            idx = range(s, min(s + 16, len(pool["clean"])))
            x = torch.from_numpy(pool["inp"][idx.start:idx.stop]).permute(0, 3, 1, 2).float().div_(255)
            y = torch.from_numpy(pool["clean"][idx.start:idx.stop]).permute(0, 3, 1, 2).float().div_(255)
            side = None
            if known:
                side = torch.from_numpy(np.stack([side_planes(pool["qp"][i] if pool["known"][i] else None,
                                                              str(pool["ftype"][i]), x.shape[2:]) for i in idx]))
            x = x.to(device)
            with mixed_precision(device, bf16):
                pred = net(x.contiguous(memory_format=torch.channels_last) if bf16 else x,
                           None if side is None else side.to(device)).float()
            if name == "clean":  # input == target: how far the cleaner moves a clean frame (PSNR, capped at 60)
                gains.append(_psnr(pred.cpu(), y).clamp_max(60.0).numpy())
            else:
                gains.append((_psnr(pred.cpu(), y) - _psnr(x.cpu(), y)).numpy())
        key = "psnr_clean" if name == "clean" else f"gain_{name}"
        out[f"{key}{'_qp' if known else ''}"] = float(np.concatenate(gains).mean())
    net.train()
    return out


def _validate_all(net, vals: dict, device, bf16: bool) -> dict:
    v = validate(net, vals, device, bf16)
    v.update(validate(net, {k: vals[k] for k in ("crf23", "crf30")}, device, bf16, known=True))
    return v


def score(v: dict) -> float:
    """Gains at CRF 23 and 30 with the decoder's QP maps (what the pipelines hand over for H.264 uploads; blind
    before the first validation that measures them), less a penalty when a clean frame moves by more than 40 dB."""
    g23, g30 = v.get("gain_crf23_qp", v["gain_crf23"]), v.get("gain_crf30_qp", v["gain_crf30"])
    return g23 + g30 + 0.5 * min(0.0, v["psnr_clean"] - 40.0)


def _load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def train(args) -> Path:
    device = start(args.threads, args.seed, args.device)
    args.device = str(device)
    run = Run(args.out, args.resume)
    train_path, val_path = build_pool(args.windows, seed=args.seed, log=lambda m: print(m, flush=True))
    pool = _load(train_path)
    vals = {k: _load(p) for k, p in json.loads(Path(val_path).read_text()).items()}
    print(f"pool: {len(pool['clean'])} training crops; validation: "
          f"{ {k: len(v['clean']) for k, v in vals.items()} }", flush=True)
    net = PreCleaner(args.width, args.blocks).to(device)
    if args.bf16:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=args.lr * 0.05)
    if args.init:  # start from earlier weights (best.pt of a run, or a .safetensors file)
        from models.weights import load_state_dict

        state = read_best(args.init)["model"] if args.init.endswith(".pt") else load_state_dict(args.init)
        net.load_state_dict({k: v.float() for k, v in state.items()})
    run.write_args(args)
    rng = DataRNG(lambda step: [args.seed, step])

    def batch(step):
        x, side, y = _tensors(pool, rng.gen.integers(0, len(pool["clean"]), args.batch), args.crop, rng.gen, hide=0.5)
        return channels_last(x.to(device), args.bf16), side.to(device), y.to(device)

    def loss(b, step):
        x, side, y = b
        with mixed_precision(device, args.bf16):
            pred = net(x, side)
        return {"loss": loss_fn(pred, y, args.chroma)}

    recipe = Recipe(model=net, opt=opt, sched=sched, batch=batch, loss=loss,
                    validate=lambda: _validate_all(net, vals, device, args.bf16), score=score,
                    data_state=rng.state, load_data_state=rng.load)
    fit(run, recipe, args.steps, log_every=args.log_every, val_every=args.val_every, time_limit=args.time_limit,
        desc="cleaner")
    return run.dir


def export(args) -> Path:
    """best.pt as weights/<ID>.safetensors: fp16 when the validation score (gains at CRF 23 / 30) moves <= 0.01 dB."""
    from models.weights import WEIGHTS_DIR

    device = start(args.threads, args.seed, args.device)
    best = best_weights(args.out)
    _, val_path = build_pool(args.windows, seed=args.seed, log=lambda m: print(m, flush=True))
    vals = {k: _load(p) for k, p in json.loads(Path(val_path).read_text()).items()}
    net = PreCleaner(args.width, args.blocks).to(device)

    def evaluate(state):
        net.load_state_dict(state)
        return _validate_all(net, vals, device, False)

    dst = WEIGHTS_DIR / f"{args.export}.safetensors"
    meta = {k: f"{float(v):.4f}" for k, v in best.items() if k.startswith("gain")}
    info = export_weights(best["model"], dst, evaluate, score, tolerance=0.01, metadata={
        "step": int(best["step"]), "width": args.width, "blocks": args.blocks, **meta})
    print(json.dumps({"export": str(dst), "step": int(best["step"]), **meta, "precision": precision_note(info)},
                     indent=1))
    return dst


def parse(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.cleaner", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=64, help="training sub-crop (multiple of 16, <= 96)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--chroma", type=float, default=1.0, help="loss weight of Cb and Cr against Y (Charbonnier)")
    ap.add_argument("--init", help="initial weights: a run's best.pt or a .safetensors file")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--windows", type=int, default=800, help="training windows in the pool")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast + channels_last")
    add_device_argument(ap)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=0, help="minutes of this session's training, 0 = none")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--val-every", type=int, default=500)
    ap.add_argument("--out", default="runs/cleaner")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--pool-only", action="store_true", help="build the data pool and stop")
    ap.add_argument("--export", metavar="ID", help="write best.pt as fp16 weights/<ID>.safetensors")
    args = ap.parse_args(argv)
    if args.crop % 16 or not 16 <= args.crop <= CROP:
        ap.error(f"--crop must be a multiple of 16 in 16..{CROP}")
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.pool_only:
        build_pool(args.windows, seed=args.seed)
        return
    if args.steps > 0:
        train(args)
    if args.export:
        export(args)


if __name__ == "__main__":
    main()
