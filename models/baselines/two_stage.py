"""Two-stage space-time upscaling: upscale each LR anchor in space, then interpolate in time at HR.

    I_t^HR = VFI( S(I_0^LR), S(I_1^LR), t ),     I_0^HR = S(I_0^LR),  I_1^HR = S(I_1^LR)

with S a :class:`~models.interfaces.SpatialUpscaler` and VFI a :class:`~models.interfaces.FrameInterpolator`.
The reference cascade of every one-stage space-time model (e.g. ``lanczos+dis``).

A midpoint-only VFI (``arbitrary_t`` False) reaches other times by midpoint recursion at HR
(:func:`models.pipelines.timing.interpolate_at`): I_{1/2} = VFI(I_0, I_1), I_{1/4} = VFI(I_0, I_{1/2}), ...
Dyadic times k / 2^depth are made exactly; any other t is snapped to the nearest k / 2^depth (default depth 3:
eighths, as the video pipeline does before it calls). The frame returned for such a t is the snapped one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..pipelines.timing import VIDEO_DEPTH, interpolate_at
from .blend import check_pair, check_ts


class TwoStage:
    """:class:`~models.interfaces.SpaceTimeUpscaler` from an upscaler and an interpolator.

    ``arbitrary_t`` is the interpolator's. With a midpoint-only interpolator, every t in [0, 1] is accepted and made
    at the nearest k / 2**depth by recursion (only the tree nodes on the way are computed, once per call).
    """

    def __init__(self, upscaler, interpolator, depth: int = VIDEO_DEPTH):
        if not isinstance(depth, int) or not 1 <= depth <= 8:
            raise ValueError(f"recursion depth must be an integer from 1 to 8, got {depth!r}")
        self.upscaler = upscaler
        self.interpolator = interpolator
        self.depth = depth

    @property
    def arbitrary_t(self) -> bool:
        return bool(getattr(self.interpolator, "arbitrary_t", False))

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        up0 = self.upscaler.upscale(frame0, size)  # (h, w, 3)
        up1 = self.upscaler.upscale(frame1, size)
        frames, _ = interpolate_at(self.interpolator, up0, up1, ts, depth=self.depth)
        # anchors and repeated times share one array: hand out independent copies
        seen: set[int] = set()
        out = []
        for f in frames:
            out.append(f.copy() if id(f) in seen else f)
            seen.add(id(f))
        return out

    def __repr__(self) -> str:
        return f"TwoStage({self.upscaler!r}, {type(self.interpolator).__name__})"

