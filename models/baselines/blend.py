"""Linear blend, the weight-free floor of frame interpolation:  I_t = (1 - t) I_0 + t I_1  (rounded to uint8)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..imageio import check_frame


def check_pair(frame0: np.ndarray, frame1: np.ndarray) -> None:
    check_frame(frame0, "frame0")
    check_frame(frame1, "frame1")
    if frame0.shape != frame1.shape:
        raise ValueError(f"frames differ in size: {frame0.shape} vs {frame1.shape}")


def check_ts(ts: Sequence[float]) -> list[float]:
    ts = [float(t) for t in ts]
    bad = [t for t in ts if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"times must lie in [0, 1], got {bad}")
    return ts


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


class Blend:
    """:class:`~models.interfaces.FrameInterpolator` that cross-fades the two frames."""

    arbitrary_t = True

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        a = frame0.astype(np.float32)
        b = frame1.astype(np.float32)
        return [to_uint8((1.0 - t) * a + t * b) for t in ts]
