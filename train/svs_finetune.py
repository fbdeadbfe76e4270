"""Fine-tune a (pruned) DDPM UNet with the eps-MSE objective and an EMA, logging a metric curve: the training half of
the SVS experiment (``python -m bench.svs``), the same loop for the plain and the SVS-refined initialisations.

Objective (Ho et al., 2020): L = E_{x0, eps, t} ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)||^2,
1000 linear-beta steps, antithetic timesteps (t and T-1-t), AdamW, grad-clip 1, EMA of the weights (evaluated).
Every random draw (batches, noise, timesteps) comes from one generator seeded by ``seed``, so two runs with the same
seed see exactly the same data.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def ddpm_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)


def training_step(model: nn.Module, opt: torch.optim.Optimizer, x0: torch.Tensor, gen: torch.Generator,
                  scheduler=None, bf16: bool = False) -> float:
    """One eps-MSE step on the batch ``x0`` ((B, C, H, W) in [-1, 1]); returns the loss."""
    scheduler = scheduler or ddpm_scheduler()
    noise = torch.randn(x0.shape, generator=gen)
    half = torch.randint(0, 1000, (len(x0) // 2 + 1,), generator=gen)
    t = torch.cat([half, 999 - half])[:len(x0)]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        pred = model(scheduler.add_noise(x0, noise, t), t).sample
    loss = F.mse_loss(pred.float(), noise)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def finetune(model: nn.Module, images: torch.Tensor, steps: int, evaluate: Callable[[nn.Module], dict],
             eval_steps: list[int], lr: float = 5e-4, batch: int = 48, ema_decay: float = 0.995, seed: int = 0,
             warmup: int = 20, bf16: bool = True, log: Callable[[str], None] = print) -> tuple[nn.Module, list]:
    """Fine-tune ``model`` (changed in place) for ``steps``; at every step in ``eval_steps`` (0 = before training)
    call ``evaluate(ema_model)`` and record ``(step, result)``. Returns (EMA model, records)."""
    model = model.float().train()
    for p in model.parameters():
        p.requires_grad_(True)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = ddpm_scheduler()
    gen = torch.Generator().manual_seed(seed)
    records, t0, losses = [], time.time(), []
    if 0 in eval_steps:
        records.append((0, evaluate(ema)))
        log(f"step 0 {records[-1][1]}")
    for step in range(1, steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, step / warmup)
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        losses.append(training_step(model, opt, images[idx], gen, sched, bf16))
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        if step in eval_steps:
            records.append((step, {**evaluate(ema), "train_loss": sum(losses[-50:]) / len(losses[-50:])}))
            log(f"step {step} {records[-1][1]} t {time.time() - t0:.0f}s")
    return ema, records
