"""The training half of the SVS experiment (``python -m bench.svs`` measures, this module trains): one student is a
pruned copy of a teacher, optionally refined by Singular Value Scaling (``models.svs.apply_svs``), then fine-tuned
(the DDPM: :func:`train.svs_finetune.finetune`; the StyleGAN2: :func:`train.stylegan2_mnist.finetune_student`), and
with ``--save`` written beside its sample grid.

Above the recipe modules it calls (no cycle: ``tiny_ddpm`` -> ``svs_finetune``; ``stylegan2_mnist`` ->
``tiny_ddpm``); ``bench.svs`` is its only caller.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from train.tiny_ddpm import save_grid


def student_run(model: str, pruned: nn.Module, init: str, images: torch.Tensor, steps: int,
                evaluate: Callable[[nn.Module], dict], eval_steps: list[int], lr: float, batch: int, seed: int,
                log: Callable[[str], None], teacher: nn.Module | None = None, disc: nn.Module | None = None,
                adv_weight: float = 0.0, adv_start: int = 0, adv_ramp: int = 0) -> tuple[nn.Module, list]:
    """Fine-tune one student of ``pruned`` (copied; ``init`` "svs" applies SVS first, "plain" does not) ->
    (EMA student, [(step, evaluate(ema) + train loss), ...])."""
    from models.svs import apply_svs

    student = copy.deepcopy(pruned)
    if init == "svs":
        apply_svs(student, "ddpm" if model == "ddpm" else "stylegan2", include_torgb=False)
    if model == "ddpm":
        from train.svs_finetune import finetune

        return finetune(student, images, steps, evaluate, eval_steps, lr=lr, batch=batch, seed=seed, log=log)
    from train.stylegan2_mnist import finetune_student

    return finetune_student(student, teacher, disc, images, steps, evaluate, eval_steps, lr=lr, batch=batch,
                            seed=seed, adv_weight=adv_weight, adv_start=adv_start, adv_ramp=adv_ramp, log=log)


def save_student(ema: nn.Module, folder: Path, model: str, ratio: float, init: str, meta: dict) -> Path:
    """The fine-tuned student in ``folder`` (DDPM: the pruned-model folder ``ddpm_mnist_p50_svs/``; StyleGAN2:
    ``stylegan2_mnist_p50_svs.safetensors``), with 32 samples as a PNG grid."""
    if model == "ddpm":
        from models.svs.generators import sample
        from models.svs.pruning import save_pruned

        out = save_pruned(ema, folder / f"ddpm_mnist_p{round(ratio * 100)}_{init}", {**meta, "method": "taylor"})
        save_grid(sample(ema, n=32, steps=100, seed=0), out / "samples.png")
        return out
    from train.stylegan2_mnist import sample, save_generator

    folder.mkdir(parents=True, exist_ok=True)
    name = f"stylegan2_mnist_p{round(ratio * 100)}_{init}"
    save_generator(ema, folder / f"{name}.safetensors", meta)
    save_grid(sample(ema, 32), folder / f"{name}.png")
    return folder / f"{name}.safetensors"
