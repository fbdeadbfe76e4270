"""Overlapping tiles with linear blending: how every network of FrameForge keeps large frames in bounded memory.

A frame of size (H, W) is covered by tiles of at most ``tile`` pixels a side that share at least ``overlap``
pixels with their neighbours. Each tile's output (optionally ``scale`` times larger, for upscalers) is weighted by a
ramp that rises across the overlap with the previous tile and falls across the overlap with the next one, so the
weights of overlapping tiles sum to a smooth partition and no seam shows:

    out(p) = sum_k w_k(p) y_k(p) / sum_k w_k(p)
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering [0, size) with at least ``overlap`` shared pixels."""
    if size <= tile:
        return [0]
    stride = tile - overlap
    n = int(np.ceil((size - tile) / stride)) + 1
    return [int(round(i * (size - tile) / (n - 1))) for i in range(n)]


def ramp(n: int, lo_overlap: int, hi_overlap: int) -> np.ndarray:
    """1-D blend weight: rises over the first ``lo_overlap`` samples, falls over the last ``hi_overlap``."""
    w = np.ones(n, dtype=np.float32)
    if lo_overlap > 0:
        w[:lo_overlap] = (np.arange(lo_overlap, dtype=np.float32) + 0.5) / lo_overlap
    if hi_overlap > 0:
        w[n - hi_overlap:] = np.minimum(w[n - hi_overlap:], (np.arange(hi_overlap, 0, -1, dtype=np.float32) - 0.5)
                                        / hi_overlap)
    return w


def tiled(h: int, w: int, tile: int, overlap: int, run: Callable[[int, int, int, int], np.ndarray],
          scale: int = 1) -> np.ndarray:
    """Blend ``run(y, x, th, tw)`` over tiles of an (h, w) frame -> float32 (h * scale, w * scale, C).

    ``run`` returns the output of the input window [y, y + th) x [x, x + tw) as (th * scale, tw * scale, C).
    """
    if overlap * 2 >= tile:
        raise ValueError(f"overlap {overlap} too large for tile {tile}")
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    acc = norm = None
    for iy, y in enumerate(ys):
        th = min(tile, h - y)
        wy = ramp(th * scale, (ys[iy - 1] + tile - y) * scale if iy else 0,
                  (y + th - ys[iy + 1]) * scale if iy + 1 < len(ys) else 0)
        for ix, x in enumerate(xs):
            tw = min(tile, w - x)
            out = np.asarray(run(y, x, th, tw), dtype=np.float32)  # (th * s, tw * s, C)
            if acc is None:
                acc = np.zeros((h * scale, w * scale, out.shape[2]), np.float32)
                norm = np.zeros((h * scale, w * scale, 1), np.float32)
            wx = ramp(tw * scale, (xs[ix - 1] + tile - x) * scale if ix else 0,
                      (x + tw - xs[ix + 1]) * scale if ix + 1 < len(xs) else 0)
            wgt = (wy[:, None] * wx[None, :])[..., None]
            sl = np.s_[y * scale:(y + th) * scale, x * scale:(x + tw) * scale]
            acc[sl] += out * wgt
            norm[sl] += wgt
    return acc / norm
