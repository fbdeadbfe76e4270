"""Tiles: how every network of FrameForge keeps large frames in bounded memory. Two kinds, one module:

* :func:`core_tiles`: core + halo, for networks whose output is cut back to each tile's core (the recurrent BasicVSR,
  the implicit space-time decoders): cores partition the axis, each window adds ``halo`` context on both sides.
* :func:`tiled`: overlapping tiles blended linearly, for networks run tile by tile on a whole frame:

A frame of size (H, W) is covered by the fewest tiles of at most ``tile`` pixels a side that share at least
``overlap`` pixels with their neighbours, each as short as that count allows (so little is computed twice). Each
tile's output (optionally ``scale`` times larger, for upscalers) is weighted by a ramp that rises across the overlap
with the previous tile and falls across the overlap with the next one, so the weights of overlapping tiles sum to a
smooth partition and no seam shows:

    out(p) = sum_k w_k(p) y_k(p) / sum_k w_k(p)
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def core_tiles(n: int, core: int, halo: int, multiple: int = 1, min_window: int = 1) -> list[tuple[int, int, int, int]]:
    """(window start, window stop, core start, core stop) along an axis of ``n`` cells: cores of ``core`` cells
    partition [0, n); each window is its core plus ``halo`` cells on each side, widened (about its core, within the
    axis) to ``min_window`` cells where the axis allows, and to a multiple of ``multiple`` cells, for which it may
    reach into padding below/right of the axis (up to n rounded up to ``multiple``)."""
    if core < 1 or halo < 0 or multiple < 1:
        raise ValueError(f"core tiles need core >= 1, halo >= 0, multiple >= 1; got {core}, {halo}, {multiple}")
    padded = n + (-n) % multiple
    out = []
    for c0 in range(0, n, core):
        c1 = min(c0 + core, n)
        w0, w1 = max(0, c0 - halo), min(padded, c1 + halo)
        least = min(min_window, padded)
        grow = max(0, least - (w1 - w0))
        w0 = max(0, w0 - grow // 2 - max(0, w1 + (grow - grow // 2) - padded))
        w1 = min(padded, w0 + max(w1 - w0, least))
        length = (w1 - w0) + (-(w1 - w0)) % multiple
        w1 = min(padded, w0 + length)
        w0 = max(0, w1 - length)
        out.append((w0, w1, c0, c1))
    return out


def tile_layout(size: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """(length, starts) of the fewest tiles of at most ``tile`` pixels that cover [0, size) sharing at least
    ``overlap`` pixels: each as short as that count allows (rounded up to ``multiple``, for networks that pad to
    one, while that stays within ``tile``), spread evenly, the last ending at ``size``.

    n tiles of length L cover with overlap o when n L >= size + (n - 1) o, so n = ceil((size - o) / (tile - o)) and
    L = ceil((size + (n - 1) o) / n); floored starts then step by at most L - o.
    """
    if not 0 <= overlap < tile or multiple < 1:
        raise ValueError(f"tiles need 0 <= overlap < tile and multiple >= 1, got overlap {overlap}, tile {tile}, "
                         f"multiple {multiple}")
    if size <= tile:
        return size, [0]
    n = -(-(size - overlap) // (tile - overlap))
    length = -(-(size + (n - 1) * overlap) // n)
    length = min(tile, -(-length // multiple) * multiple)
    step = (size - length) / (n - 1)
    return length, [int(i * step) for i in range(n - 1)] + [size - length]


def ramp(n: int, lo_overlap: int, hi_overlap: int) -> np.ndarray:
    """1-D blend weight: rises over the first ``lo_overlap`` samples, falls over the last ``hi_overlap``."""
    w = np.ones(n, dtype=np.float32)
    if lo_overlap > 0:
        w[:lo_overlap] = (np.arange(lo_overlap, dtype=np.float32) + 0.5) / lo_overlap
    if hi_overlap > 0:
        w[n - hi_overlap:] = np.minimum(w[n - hi_overlap:], (np.arange(hi_overlap, 0, -1, dtype=np.float32) - 0.5)
                                        / hi_overlap)
    return w


def check_tiles(tile: int, overlap: int) -> None:
    """Raise ValueError unless each tile keeps a core of its own: 2 * overlap < tile."""
    if overlap * 2 >= tile:
        raise ValueError(f"overlap {overlap} too large for tile {tile}")


def tiled(h: int, w: int, tile: int, overlap: int, run: Callable[[int, int, int, int], np.ndarray],
          scale: int = 1, multiple: int = 1) -> np.ndarray:
    """Blend ``run(y, x, th, tw)`` over tiles of an (h, w) frame (:func:`tile_layout`) -> float32
    (h * scale, w * scale, C).

    ``run`` returns the output of the input window [y, y + th) x [x, x + tw) as (th * scale, tw * scale, C).
    """
    check_tiles(tile, overlap)
    (th, ys), (tw, xs) = tile_layout(h, tile, overlap, multiple), tile_layout(w, tile, overlap, multiple)
    acc = norm = None
    for iy, y in enumerate(ys):
        wy = ramp(th * scale, (ys[iy - 1] + th - y) * scale if iy else 0,
                  (y + th - ys[iy + 1]) * scale if iy + 1 < len(ys) else 0)
        for ix, x in enumerate(xs):
            out = np.asarray(run(y, x, th, tw), dtype=np.float32)  # (th * s, tw * s, C)
            if acc is None:
                acc = np.zeros((h * scale, w * scale, out.shape[2]), np.float32)
                norm = np.zeros((h * scale, w * scale, 1), np.float32)
            wx = ramp(tw * scale, (xs[ix - 1] + tw - x) * scale if ix else 0,
                      (x + tw - xs[ix + 1]) * scale if ix + 1 < len(xs) else 0)
            wgt = (wy[:, None] * wx[None, :])[..., None]
            sl = np.s_[y * scale:(y + th) * scale, x * scale:(x + tw) * scale]
            acc[sl] += out * wgt
            norm[sl] += wgt
    return acc / norm
