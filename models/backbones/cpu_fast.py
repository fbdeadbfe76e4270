"""CPU inference copies of the backbones (issue 31): the same weights in a faster layout or compiled form.

Modes (:data:`MODES`), each an inference-only copy of the network (the original keeps its parameters, its
state_dict and its use in training):

* ``plain``: the network itself, eager PyTorch fp32 (what runs on a GPU, and the fallback everywhere).
* ``channels_last``: the copy's 4-D weights in channels-last (NHWC) order, so oneDNN's convolutions skip the
  reorders of each call; the numbers are the same convolutions' (differences at float rounding, ~1e-6).
* ``compile``: the copy's sub-networks (``compile_parts``) through ``torch.compile`` (inductor: fused C++ kernels);
  needs a C++ compiler (:func:`models.device.cpu_info`), costs a compile per input shape (the warm-up), and
  falls back to ``channels_last`` without a compiler.

:func:`resolve` turns a requested mode (or ``None``: the network's default, chosen by measurement with
``python -m bench.vfi_speed --peers`` / ``python -m bench.vsr_peers``) into one this machine supports, logging the
choice and the CPU (:func:`models.device.log_cpu_once`) once.
"""
from __future__ import annotations

import copy
import functools
import logging
from typing import Sequence

import torch
from torch import nn

MODES = ("plain", "channels_last", "compile")
log = logging.getLogger("frameforge.cpu_fast")


def check_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in MODES:
        raise ValueError(f"cpu mode must be one of {MODES} (or None for the default), got {mode!r}")
    return mode


def resolve(mode: str, name: str = "network") -> str:
    """``mode`` if this machine runs it, else the next one down (compile -> channels_last without a compiler);
    the CPU and each (network, mode) choice are logged once."""
    from models.device import log_cpu_once

    info = log_cpu_once()
    got = mode
    if mode == "compile" and (info["compiler"] is None or not _inductor_ok()):
        got = "channels_last"
    _log_choice(name, mode, got)
    return got


@functools.lru_cache(maxsize=None)
def _log_choice(name: str, asked: str, got: str) -> None:
    why = "" if asked == got else f" (asked {asked}: no C++ compiler for torch.compile)"
    log.info(f"{name} on the CPU: {got}{why}")


@functools.lru_cache(maxsize=None)
def _inductor_ok() -> bool:
    try:
        from torch import _inductor  # noqa: F401
    except Exception:  # pragma: no cover - builds without inductor
        return False
    return hasattr(torch, "compile")


def prepare(net: nn.Module, mode: str, compile_parts: Sequence[str] = ()) -> nn.Module:
    """The network to run on the CPU in ``mode`` (a resolved mode): ``net`` itself for ``plain``, else an eval copy.
    """
    if mode == "plain":
        return net
    fast = copy.deepcopy(net).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    fast = fast.to(memory_format=torch.channels_last)
    if mode == "compile":
        from torch import _dynamo

        # every (sub-network, input shape) pair is one compiled graph: a frame size needs several
        _dynamo.config.cache_size_limit = max(_dynamo.config.cache_size_limit, 64)
        for name in compile_parts:
            part = fast.get_submodule(name)
            part.compile(dynamic=False)
    return fast
