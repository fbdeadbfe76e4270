"""The one device policy of FrameForge.

ZeroGPU (inside a ``@spaces.GPU`` call) > CUDA > CPU. Models are built and loaded on the CPU in the main process;
inference functions move them with :func:`inference_device` and run under :func:`autocast`, which is fp16 on CUDA
and a no-op on the CPU (fp32), except for networks that ask for ``cpu_bf16``: bf16 autocast on a CPU with native bf16
(:func:`cpu_bf16_supported`), unless ``FRAMEFORGE_CPU_BF16=0``. A network asks for it only where bf16 was measured to
cost nothing (the aligned kernel networks: < 0.001 dB on the validation windows, 1.3x faster end to end).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable

import torch

try:  # `spaces` must be imported before torch initialises CUDA; app.py imports it first.
    import spaces as _spaces
except Exception:  # pragma: no cover - spaces is in requirements, but the library works without it
    _spaces = None


def inference_device() -> torch.device:
    """CUDA when a GPU is visible (ZeroGPU attaches one inside decorated calls), else CPU.

    ``FRAMEFORGE_DEVICE=cpu`` forces the CPU.
    """
    from . import settings

    forced = settings.get().device
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def accelerated() -> bool:
    """Whether jobs will run on an accelerator: CUDA visible now, or a ZeroGPU Space (the GPU is attached inside
    each decorated call, so the main process sees none), unless ``FRAMEFORGE_DEVICE=cpu``."""
    import os

    from . import settings

    forced = settings.get().device
    if forced:
        return forced != "cpu"
    return torch.cuda.is_available() or os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def half_precision(device: torch.device) -> torch.dtype | None:
    """Half precision on CUDA, full precision on the CPU."""
    return torch.float16 if device.type == "cuda" else None


@functools.lru_cache(maxsize=None)
def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN; AVX512-BF16 / AMX). Elsewhere bf16 is emulated and
    slower than fp32."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def cpu_bf16_enabled() -> bool:
    """Whether networks that ask for ``cpu_bf16`` get it here: native bf16 and ``FRAMEFORGE_CPU_BF16`` not 0."""
    from . import settings

    return settings.get().cpu_bf16 and cpu_bf16_supported()


@functools.lru_cache(maxsize=None)
def cpu_info() -> dict:
    """The CPU as ``lscpu`` names it (the Space's CPU is not documented): model name, cores, the ISA flags that
    matter for inference (AVX2, AVX-512, AVX512-BF16, AMX, VNNI), and the C++ compiler torch.compile would use."""
    import os
    import shutil

    model, flags = "", set()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = val.strip()
            elif key == "flags" and not flags:
                flags = set(val.split())
    except OSError:  # pragma: no cover - not Linux
        import platform

        model = platform.processor() or platform.machine()
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_tile",
              "amx_int8")
    compiler = next((c for c in (os.environ.get("CXX"), "g++", "c++", "clang++") if c and shutil.which(c)), None)
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in wanted if f in flags],
            "bf16_native": cpu_bf16_supported(), "compiler": compiler, "torch_threads": torch.get_num_threads()}


@functools.lru_cache(maxsize=None)
def log_cpu_once(log: Callable[[str], None] | None = None) -> dict:
    """Log :func:`cpu_info` once per process (at app start and on a CPU model's first load); returns it."""
    import logging

    info = cpu_info()
    (log or logging.getLogger("frameforge.device").info)(
        f"CPU: {info['model']} ({info['cores']} cores, torch threads {info['torch_threads']}); flags: "
        f"{' '.join(info['flags']) or 'none of avx2/avx512/bf16/amx'}; native bf16: {info['bf16_native']}; "
        f"C++ compiler: {info['compiler'] or 'none (torch.compile unavailable)'}")
    return info


def autocast(device: torch.device, cpu_bf16: bool = False):
    """fp16 autocast on CUDA; on the CPU nothing, or bf16 autocast when ``cpu_bf16`` is asked for, the CPU has native
    bf16 and ``FRAMEFORGE_CPU_BF16`` is not 0."""
    dtype = half_precision(device)
    if dtype is None:
        if device.type == "cpu" and cpu_bf16 and cpu_bf16_enabled():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def gpu(duration: int | Callable[..., int] = 60):
    """Decorate an inference handler for ZeroGPU.

    ``duration`` is seconds or a callable on the handler's inputs (ZeroGPU accepts both). Outside a ZeroGPU Space
    ``spaces.GPU`` is a no-op, and without the ``spaces`` package this decorator returns the function unchanged.
    """

    def wrap(fn):
        if _spaces is None:
            return fn
        decorated = _spaces.GPU(duration=duration)(fn)
        if decorated is fn:  # outside ZeroGPU spaces.GPU is a no-op; wrapping would make fn.__wrapped__ = fn
            return fn
        return functools.wraps(fn)(decorated)

    return wrap


def zero_gpu() -> bool:
    """Whether this is a ZeroGPU Space (``SPACES_ZERO_GPU`` set and the ``spaces`` package present): GPU work runs in
    ``@spaces.GPU`` calls of a bounded duration, so long video jobs run in segments, one call each."""
    import os

    return _spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def gpu_seconds(work_units: float, seconds_per_unit: float, floor: int = 20, cap: int = 120) -> int:
    """ZeroGPU duration for a job of ``work_units`` (e.g. output megapixels), clamped to [floor, cap]."""
    return int(max(floor, min(cap, round(10 + work_units * seconds_per_unit))))
