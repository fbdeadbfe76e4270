"""Where a training run computes: the ``--device`` of the training commands and their bf16 autocast.

``--device auto`` (the default) trains on CUDA when a GPU is visible, else on the CPU. The choice is also made the
device of the inference code that validation runs through (``FRAMEFORGE_DEVICE``, :mod:`models.device`), so a run
never trains on one device and validates by moving its network to another.
"""
from __future__ import annotations

import os

import torch


def add_device_argument(ap) -> None:
    ap.add_argument("--device", default="auto",
                    help="auto (CUDA when a GPU is visible, else the CPU), cpu, cuda or cuda:N")


def training_device(name: str = "auto") -> torch.device:
    """The device named by ``--device``; the reason in a SystemExit when it cannot be used."""
    from models import settings

    name = (name or "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise SystemExit(f"--device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: no CUDA GPU is visible to PyTorch (torch.cuda.is_available() is "
                             "False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SystemExit(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    os.environ["FRAMEFORGE_DEVICE"] = str(device)
    settings.reload()
    return device


def where_trained(device: str | None, cpu: str) -> str:
    """A card's words for where a run computed: ``cpu`` (e.g. "the 2-core CPU") for the CPU and for runs from before
    ``--device`` existed (``device`` None), else "the GPU (cuda)"."""
    return cpu if device in (None, "cpu") else f"the GPU ({device})"


def mixed_precision(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when ``bf16`` (``--bf16``), else full precision. bf16 keeps fp32's exponent
    range, so no loss scaling is needed on either device."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def start(threads: int, seed: int, device: str | None = None) -> torch.device:
    """The first thing every training command does: CPU threads, the torch seed, then ``--device`` (stopping with
    the reason before any data is read or a run folder is made). ``device`` None (the MNIST recipes): the CPU."""
    import cv2

    torch.set_num_threads(max(1, int(threads)))
    cv2.setNumThreads(max(1, int(threads)))  # DIS flows and resizes in the data pipelines
    torch.manual_seed(seed)
    return training_device(device) if device is not None else torch.device("cpu")
