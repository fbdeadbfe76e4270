"""``KernelInterpolator``: an AdaCoF-family network behind the :class:`models.interfaces.FrameInterpolator` call.

Midpoint only (``arbitrary_t = False``): callers pass ``ts=[0.5]`` and build other times by recursion.
Large frames are processed in overlapping tiles (at most 1024 px, at least 64 px shared, as few and as short as
that allows: a 480p frame is one tile, 1080p four) so memory stays bounded; each tile's output is blended with
weights that ramp linearly across the overlap, so seams vanish.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from models.device import autocast, inference_device
from models.imageio import check_pair, to_tensor, to_uint8
from models.ops.tiles import check_tiles, tiled
from models.vfi.common import MULTIPLE


class InterpolationInputError(ValueError):
    """Bad frames or times for a midpoint interpolator."""


class KernelInterpolator:
    """Middle frame of two uint8 RGB frames with an AdaCoF / SF-AdaCoF network (a KernelInterpolationNet)."""

    arbitrary_t = False

    def __init__(self, net: torch.nn.Module, tile: int = 1024, overlap: int = 64):
        check_tiles(tile, overlap)  # at construction, not at the first frame
        self.net = net.eval()
        self.tile = tile
        self.overlap = overlap

    # registry.get() calls .eval() on what build() returns
    def eval(self) -> "KernelInterpolator":
        self.net.eval()
        return self

    def load_state_dict(self, state: dict, strict: bool = True):
        return self.net.load_state_dict(state, strict=strict)

    @torch.no_grad()
    def _run(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        device = a.device
        with autocast(device):
            out = self.net(a, b)
        return out.float().clamp_(0, 1)

    @torch.no_grad()
    def midpoint(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        try:
            check_pair(frame0, frame1)
        except ValueError as exc:
            raise InterpolationInputError(str(exc)) from None
        device = inference_device()
        self.net.to(device, memory_format=torch.channels_last)  # the U-Net's convolutions run faster channels-last
        h, w = frame0.shape[:2]

        def run(y, x, th, tw):
            ta, tb = (to_tensor(f[y:y + th, x:x + tw], device).contiguous(memory_format=torch.channels_last)
                      for f in (frame0, frame1))
            return self._run(ta, tb)[0].permute(1, 2, 0).cpu().numpy()  # (th, tw, 3)

        return to_uint8(tiled(h, w, self.tile, self.overlap, run, multiple=MULTIPLE))  # the network pads to MULTIPLE

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        ts = list(ts)
        if any(abs(float(t) - 0.5) > 1e-6 for t in ts):
            raise InterpolationInputError(f"this model makes only the midpoint (t = 0.5); got ts = {ts}. "
                                          "Build other times by recursion or use dis_flow for exact t.")
        if not ts:
            return []
        mid = self.midpoint(frame0, frame1)
        return [mid.copy() for _ in ts]
