"""Linear blend, the weight-free floor of frame interpolation:  I_t = (1 - t) I_0 + t I_1  (rounded to uint8)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..imageio import PIXELS, check_pair, check_ts, to_uint8


class Blend:
    """:class:`~models.interfaces.FrameInterpolator` that cross-fades the two frames."""

    arbitrary_t = True

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        a = frame0.astype(np.float32)
        b = frame1.astype(np.float32)
        return [to_uint8((1.0 - t) * a + t * b, PIXELS) for t in ts]
