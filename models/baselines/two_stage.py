"""Two-stage space-time upscaling: upscale each LR anchor in space, then interpolate in time at HR.

    I_t^HR = VFI( S(I_0^LR), S(I_1^LR), t ),     I_0^HR = S(I_0^LR),  I_1^HR = S(I_1^LR)

with S a :class:`~models.interfaces.SpatialUpscaler` and VFI a :class:`~models.interfaces.FrameInterpolator`.
The reference cascade of every one-stage space-time model (e.g. ``lanczos+dis``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .blend import check_pair, check_ts


class TwoStage:
    """:class:`~models.interfaces.SpaceTimeUpscaler` from an upscaler and an interpolator.

    ``arbitrary_t`` is the interpolator's: a midpoint-only interpolator accepts ts within {0, 0.5, 1}.
    """

    def __init__(self, upscaler, interpolator):
        self.upscaler = upscaler
        self.interpolator = interpolator

    @property
    def arbitrary_t(self) -> bool:
        return bool(getattr(self.interpolator, "arbitrary_t", False))

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        inner = [t for t in ts if 0.0 < t < 1.0]
        if not self.arbitrary_t and any(t != 0.5 for t in inner):
            raise ValueError(f"{self.interpolator!r} only makes the midpoint (t = 0.5); got ts={ts}")
        up0 = self.upscaler.upscale(frame0, size)  # (h, w, 3)
        up1 = self.upscaler.upscale(frame1, size)
        mids = dict(zip(inner, self.interpolator.interpolate(up0, up1, inner))) if inner else {}
        return [up0.copy() if t == 0.0 else up1.copy() if t == 1.0 else mids[t] for t in ts]

    def __repr__(self) -> str:
        return f"TwoStage({self.upscaler!r}, {type(self.interpolator).__name__})"
