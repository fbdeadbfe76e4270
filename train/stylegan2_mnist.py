"""Train the bundled StyleGAN2 teacher on 32x32 digits, and the fine-tuning loop of its pruned students.

    python -m train.stylegan2_mnist --out weights/stylegan2_mnist --minutes 25

Generator: ``models.svs.stylegan2.Generator`` (rosinality layout) at 32 px, grey, style 128, 4 mapping layers,
widths 4-32 px: 128, 128, 64, 32. Discriminator (training only, ``Discriminator`` below): residual down-sampling
blocks 32 -> 4 px with a minibatch-stddev feature and the equalised learning rate, as StyleGAN2's, with plain
average-pool downsampling.
Losses: non-saturating logistic for G and D, lazy R1 on reals every 4 D steps (gamma ``--r1``); Adam lr 0.002,
betas (0, 0.99); EMA of G (``g_ema``, half-life 10k images). Not used (named departures): style mixing, path-length
regularisation, the FIR filter in D. Data: the same 14,500 training digits as the
DDPM (``train.tiny_ddpm.load_digits``). Saved: ``g_ema`` as fp16 safetensors in rosinality's key layout
(``stylegan2_mnist.safetensors``), the discriminator (``discriminator.safetensors``, for the students' adversarial
term), a run record and 32 samples.

Students (``finetune_student``): a pruned copy of g_ema trained with StyleKD's output distillation
L1(G_s(z), G_t(z)) (same z and noise) plus the adversarial loss against the teacher's discriminator (which keeps
training, with R1) — the paper starts from a fresh D and adds LPIPS and latent-similarity terms (departures).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from models.svs.stylegan2 import EqualLinear, Generator
from train.runtime import start

TEACHER = dict(size=32, style_dim=128, n_mlp=4, channels={4: 128, 8: 128, 16: 64, 32: 32}, img_channels=1)


class EqualConv2d(nn.Module):
    """Conv with the equalised learning rate: weight N(0, 1), scaled by 1/sqrt(fan_in) at run time."""

    def __init__(self, cin, cout, k, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.padding = 1 / math.sqrt(cin * k * k), padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3, padding=1)
        self.conv2 = EqualConv2d(cin, cout, 3, padding=1)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2), 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / math.sqrt(2)


class Discriminator(nn.Module):
    """(B, 1, 32, 32) -> (B,) logits: from-RGB 1x1, residual blocks 32 -> 16 -> 8 -> 4, minibatch stddev, dense."""

    def __init__(self, channels=(32, 64, 128, 128), img_channels=1):
        super().__init__()
        self.from_rgb = EqualConv2d(img_channels, channels[0], 1)
        self.blocks = nn.Sequential(*[DBlock(a, b) for a, b in zip(channels[:-1], channels[1:])])
        self.final_conv = EqualConv2d(channels[-1] + 1, channels[-1], 3, padding=1)
        self.final = nn.Sequential(EqualLinear(channels[-1] * 16, channels[-1], activation=True),
                                   EqualLinear(channels[-1], 1))

    def forward(self, x):
        h = self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))                     # (B, C, 4, 4)
        group = min(4, len(h))
        if len(h) % group:
            group = 1
        y = h.view(group, -1, *h.shape[1:])
        std = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean((1, 2, 3))       # (B / group,)
        std = std.repeat(group).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
        h = F.leaky_relu(self.final_conv(torch.cat([h, std], 1)), 0.2)
        return self.final(h.flatten(1)).squeeze(1)


def d_step(D, d_opt, real, fake, r1_gamma: float, do_r1: bool, r1_every: int = 4) -> float:
    """Logistic D loss on real and (detached) fake, plus lazy R1 = gamma/2 ||dD(real)/dreal||^2."""
    loss = F.softplus(D(fake.detach())).mean() + F.softplus(-D(real)).mean()
    d_opt.zero_grad(set_to_none=True)
    loss.backward()
    d_opt.step()
    if do_r1 and r1_gamma > 0:
        real = real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
        r1 = grad.pow(2).flatten(1).sum(1).mean()
        d_opt.zero_grad(set_to_none=True)
        (r1_gamma / 2 * r1 * r1_every).backward()
        d_opt.step()
    return loss.item()


def ema_update(ema: nn.Module, model: nn.Module, beta: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1 - beta)


def save_generator(g: Generator, path: Path, meta: dict | None = None) -> None:
    from models.weights import save_safetensors

    save_safetensors(g.state_dict(), path, half=True,
                     metadata={"config": json.dumps(g.config)} | ({"meta": json.dumps(meta)} if meta else {}))


@torch.no_grad()
def sample(g: Generator, n: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` images from fixed z (seed) and the generator's stored noise buffers: (n, C, 32, 32) in [-1, 1]."""
    z = torch.randn(n, g.style_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([g(z[i:i + 128], randomize_noise=False) for i in range(0, n, 128)]).clamp(-1, 1)


def adv_schedule(step: int, weight: float, start: int = 0, ramp: int = 0) -> float:
    """The adversarial weight at ``step`` (1-based): 0 up to ``start``, then rising linearly to ``weight`` over
    ``ramp`` steps (at once when ``ramp`` is 0)."""
    if weight <= 0 or step <= start:
        return 0.0
    return weight * min(1.0, (step - start) / ramp) if ramp > 0 else weight


def finetune_student(student: Generator, teacher: Generator, D: nn.Module, images: torch.Tensor, steps: int,
                     evaluate: Callable[[nn.Module], dict], eval_steps: list[int], lr: float = 0.002,
                     batch: int = 32, kd_weight: float = 3.0, adv_weight: float = 1.0, r1: float = 0.1,
                     adv_start: int = 0, adv_ramp: int = 0,
                     seed: int = 0, log: Callable[[str], None] = print) -> tuple[Generator, list]:
    """KD (L1 to the teacher's image for the same z and noise) + adversarial fine-tuning of a pruned generator;
    ``evaluate(g_ema)`` at ``eval_steps`` (0 = before). The EMA decay is min(half-life 10k images, (1 + s) / (10 + s))
    so that it follows a run of a few hundred steps. The adversarial term (and D's training) begins after step
    ``adv_start`` and its weight rises linearly to ``adv_weight`` over ``adv_ramp`` steps (:func:`adv_schedule`).
    Returns (student EMA, records)."""
    student.train()
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    D = copy.deepcopy(D).train()
    ema = copy.deepcopy(student).eval()
    g_opt = torch.optim.Adam(student.parameters(), lr=lr, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99))
    gen = torch.Generator().manual_seed(seed)
    beta = 0.5 ** (batch / 10_000)
    records, t0 = [], time.time()
    if 0 in eval_steps:
        records.append((0, evaluate(ema)))
        log(f"step 0 {records[-1][1]}")
    for step in range(1, steps + 1):
        real = images[torch.randint(0, len(images), (batch,), generator=gen)]
        z = torch.randn(batch, student.style_dim, generator=gen)
        noise = [torch.randn(batch, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), generator=gen)
                 for i in range(student.num_layers)]
        fake = student(z, noise=noise)
        w_adv = adv_schedule(step, adv_weight, adv_start, adv_ramp)
        if w_adv > 0:
            d_step(D, d_opt, real, fake, r1, do_r1=step % 4 == 0)
        with torch.no_grad():
            target = teacher(z, noise=noise)
        loss = kd_weight * F.l1_loss(fake, target)
        if w_adv > 0:
            loss = loss + w_adv * F.softplus(-D(fake)).mean()
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        ema_update(ema, student, min(beta, (1 + step) / (10 + step)))  # warm-up: short runs need a young EMA
        if step in eval_steps:
            records.append((step, {**evaluate(ema), "train_loss": round(loss.item(), 5)}))
            log(f"step {step} {records[-1][1]} t {time.time() - t0:.0f}s")
    return ema, records


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("weights/stylegan2_mnist"))
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--r1", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (weights-only)")
    args = ap.parse_args(argv)
    start(args.threads, args.seed)
    from train.tiny_ddpm import load_digits

    images, _ = load_digits()
    G, D = Generator(**TEACHER), Discriminator()
    g_ema = copy.deepcopy(G).eval()
    g_opt = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.99))
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt, step = args.out / "checkpoint.pt", 0
    if args.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        g_ema.load_state_dict(state["g_ema"])
        g_opt.load_state_dict(state["g_opt"])
        d_opt.load_state_dict(state["d_opt"])
        step = int(state["step"])
    gen = torch.Generator().manual_seed(args.seed + step)
    beta = 0.5 ** (args.batch / 10_000)
    t0 = last = time.time()
    print(f"G {sum(p.numel() for p in G.parameters()):,} params, D {sum(p.numel() for p in D.parameters()):,}; "
          f"{len(images)} digits; from step {step}", flush=True)
    while time.time() - t0 < args.minutes * 60:
        real = images[torch.randint(0, len(images), (args.batch,), generator=gen)]
        z = torch.randn(args.batch, G.style_dim, generator=gen)
        fake = G(z)
        d_loss = d_step(D, d_opt, real, fake, args.r1, do_r1=step % 4 == 0)
        g_loss = F.softplus(-D(fake)).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        ema_update(g_ema, G, beta)
        step += 1
        if step % 50 == 0:
            print(f"step {step} d {d_loss:.3f} g {g_loss.item():.3f} t {time.time() - t0:.0f}s", flush=True)
        if time.time() - last > 300:
            torch.save({"G": G.state_dict(), "D": D.state_dict(), "g_ema": g_ema.state_dict(),
                        "g_opt": g_opt.state_dict(), "d_opt": d_opt.state_dict(), "step": step}, ckpt)
            last = time.time()
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "g_ema": g_ema.state_dict(),
                "g_opt": g_opt.state_dict(), "d_opt": d_opt.state_dict(), "step": step}, ckpt)
    meta = {"steps": step, "batch": args.batch, "kimg": round(step * args.batch / 1000, 1), "lr": args.lr,
            "r1": args.r1, "threads": args.threads, "seed": args.seed, "wall_seconds": round(time.time() - t0, 1)}
    save_generator(g_ema, args.out / "stylegan2_mnist.safetensors", meta)
    from models.weights import save_safetensors

    save_safetensors(D.state_dict(), args.out / "discriminator.safetensors", half=True)
    (args.out / "training.json").write_text(json.dumps(meta, indent=2))
    from train.tiny_ddpm import save_grid

    save_grid(sample(g_ema, 32), args.out / "samples.png")
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
