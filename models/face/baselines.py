"""Weight-free face restorers: plain interpolation of the aligned crop (the floor every learned model must beat)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..imageio import check_frame


class _PILResizeRestorer:
    resample: int

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        """Resize the aligned crop (S, S, 3) uint8 RGB to (out_size, out_size, 3)."""
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        if face.shape[:2] == (out_size, out_size):
            return face.copy()
        return np.asarray(Image.fromarray(face).resize((out_size, out_size), self.resample))


class BicubicFaceRestorer(_PILResizeRestorer):
    """PIL bicubic resize (antialiased when shrinking)."""

    resample = Image.Resampling.BICUBIC


class LanczosFaceRestorer(_PILResizeRestorer):
    """PIL Lanczos (a = 3) resize."""

    resample = Image.Resampling.LANCZOS
