"""How models that only make midpoints reach other times: recursion on the dyadic tree (1/2, then 1/4 and 3/4,
then the eighths, ...), below every model and pipeline that uses it (the two-stage space-time models, the video and
pair pipelines, the benchmarks).

* :func:`snap_dyadic` rounds t to the nearest k / 2^depth (AdaCoF-style models reach exactly those times).
* :func:`interpolate_at` makes frames at times ``ts`` with any :class:`~models.interfaces.FrameInterpolator`,
  directly for arbitrary-t models, by midpoint recursion otherwise (:func:`midpoint_tree`: only the nodes needed
  are computed).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

#: Deepest midpoint recursion used for videos: times are multiples of 1/8 (x8 interpolation).
VIDEO_DEPTH = 3
#: Deepest recursion for still pairs: up to 31 in-between frames.
PAIR_DEPTH = 5


def snap_dyadic(t: float, depth: int = VIDEO_DEPTH) -> Fraction:
    """Nearest k / 2**depth to ``t`` (a Fraction in [0, 1])."""
    n = 2 ** depth
    return Fraction(int(round(min(max(t, 0.0), 1.0) * n)), n)


def interpolate_at(model, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                   depth: int = VIDEO_DEPTH) -> tuple[list[np.ndarray], list[float]]:
    """Frames at ``ts`` and the times actually made (snapped for midpoint-only models).

    t = 0 and t = 1 return the inputs themselves.
    """
    if getattr(model, "arbitrary_t", True):
        inner = [t for t in ts if 0.0 < t < 1.0]
        made = dict(zip(inner, model.interpolate(frame0, frame1, inner))) if inner else {}
        frames = [frame0 if t <= 0.0 else frame1 if t >= 1.0 else made[t] for t in ts]
        return frames, [float(t) for t in ts]
    return midpoint_tree(lambda a, b: model.interpolate(a, b, [0.5])[0], frame0, frame1, ts, depth)


def midpoint_tree(mid: Callable[[np.ndarray, np.ndarray], np.ndarray], frame0: np.ndarray, frame1: np.ndarray,
                  ts: Sequence[float], depth: int) -> tuple[list[np.ndarray], list[float]]:
    """Recursive midpoints: frame(k/2^d) from mid(frame(lo), frame(hi)) with k = (lo + hi) / 2.

    Only the tree nodes on the paths to the wanted times are computed.
    """
    wanted = [snap_dyadic(t, depth) for t in ts]
    cache: dict[Fraction, np.ndarray] = {Fraction(0): frame0, Fraction(1): frame1}

    def node(x: Fraction) -> np.ndarray:
        lo, hi = Fraction(0), Fraction(1)
        while x not in cache:
            m = (lo + hi) / 2
            if m not in cache:
                cache[m] = mid(cache[lo], cache[hi])
            lo, hi = (lo, m) if x < m else (m, hi)
        return cache[x]

    return [node(x) for x in wanted], [float(x) for x in wanted]
