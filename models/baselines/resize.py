"""Weight-free spatial upscalers: Lanczos (:func:`models.imageio.lanczos`, the one Lanczos) and PIL bicubic resizing
to any (height, width).

Float scales are the caller's job: ``size = (round(h * s), round(w * s))``.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..imageio import check_frame, check_size, lanczos


class PILResize:
    """:class:`~models.interfaces.SpatialUpscaler` resizing with one PIL filter (antialiased when shrinking)."""

    def __init__(self, resample: int, name: str):
        self.resample = resample
        self.name = name

    def upscale(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        check_frame(frame)
        h, w = check_size(size)
        if frame.shape[:2] == (h, w):
            return frame.copy()
        return np.asarray(Image.fromarray(frame).resize((w, h), self.resample))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class Lanczos(PILResize):
    def __init__(self):
        super().__init__(Image.LANCZOS, "lanczos")

    def upscale(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        check_frame(frame)
        return lanczos(frame, size)


class Bicubic(PILResize):
    def __init__(self):
        super().__init__(Image.BICUBIC, "bicubic")
