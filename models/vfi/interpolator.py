"""``KernelInterpolator``: an AdaCoF-family network behind the :class:`models.interfaces.FrameInterpolator` call.

Midpoint only (``arbitrary_t = False``): callers pass ``ts=[0.5]`` and build other times by recursion.
Large frames are processed in overlapping tiles (default 512 px + 64 px overlap on each side) so memory stays
bounded; each tile's output is blended with weights that ramp linearly across the overlap, so seams vanish.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from models.device import autocast, inference_device


class InterpolationInputError(ValueError):
    """Bad frames or times for a midpoint interpolator."""


def _ramp(n: int, lo_overlap: int, hi_overlap: int) -> np.ndarray:
    """1-D blend weight: rises over the first ``lo_overlap`` samples, falls over the last ``hi_overlap``."""
    w = np.ones(n, dtype=np.float32)
    if lo_overlap > 0:
        w[:lo_overlap] = (np.arange(lo_overlap, dtype=np.float32) + 0.5) / lo_overlap
    if hi_overlap > 0:
        w[n - hi_overlap:] = np.minimum(w[n - hi_overlap:], (np.arange(hi_overlap, 0, -1, dtype=np.float32) - 0.5)
                                        / hi_overlap)
    return w


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering [0, size) with at least ``overlap`` shared pixels."""
    if size <= tile:
        return [0]
    stride = tile - overlap
    n = int(np.ceil((size - tile) / stride)) + 1
    return [int(round(i * (size - tile) / (n - 1))) for i in range(n)]


class KernelInterpolator:
    """Middle frame of two uint8 RGB frames with an AdaCoF / SF-AdaCoF network (a KernelInterpolationNet)."""

    arbitrary_t = False

    def __init__(self, net: torch.nn.Module, tile: int = 512, overlap: int = 64):
        if overlap * 2 >= tile:
            raise ValueError(f"overlap {overlap} too large for tile {tile}")
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
        for f in (frame0, frame1):
            if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
                raise InterpolationInputError("frames must be uint8 RGB arrays of shape (H, W, 3)")
        if frame0.shape != frame1.shape:
            raise InterpolationInputError(f"frames differ in size: {frame0.shape} vs {frame1.shape}")
        device = inference_device()
        self.net.to(device)
        h, w = frame0.shape[:2]
        to_t = lambda f: torch.from_numpy(np.array(f, copy=True)).permute(2, 0, 1)[None]  # noqa: E731  (writable)
        a, b = to_t(frame0), to_t(frame1)
        ys, xs = tile_starts(h, self.tile, self.overlap), tile_starts(w, self.tile, self.overlap)
        acc = np.zeros((h, w, 3), dtype=np.float32)
        norm = np.zeros((h, w, 1), dtype=np.float32)
        for iy, y in enumerate(ys):
            th = min(self.tile, h - y)
            for ix, x in enumerate(xs):
                tw = min(self.tile, w - x)
                ta = a[:, :, y:y + th, x:x + tw].to(device).float() / 255.0
                tb = b[:, :, y:y + th, x:x + tw].to(device).float() / 255.0
                out = self._run(ta, tb)[0].permute(1, 2, 0).cpu().numpy()     # (th, tw, 3)
                # overlap with the previous / next tile on each axis (0 at the frame border)
                wy = _ramp(th, ys[iy - 1] + self.tile - y if iy else 0, y + th - ys[iy + 1] if iy + 1 < len(ys) else 0)
                wx = _ramp(tw, xs[ix - 1] + self.tile - x if ix else 0, x + tw - xs[ix + 1] if ix + 1 < len(xs) else 0)
                wgt = (wy[:, None] * wx[None, :])[..., None]
                acc[y:y + th, x:x + tw] += out * wgt
                norm[y:y + th, x:x + tw] += wgt
        return (acc / norm * 255.0).round().clip(0, 255).astype(np.uint8)

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        ts = list(ts)
        if any(abs(float(t) - 0.5) > 1e-6 for t in ts):
            raise InterpolationInputError(f"this model makes only the midpoint (t = 0.5); got ts = {ts}. "
                                          "Build other times by recursion or use dis_flow for exact t.")
        if not ts:
            return []
        mid = self.midpoint(frame0, frame1)
        return [mid.copy() for _ in ts]
