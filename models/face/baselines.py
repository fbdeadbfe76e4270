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


class BasicVSRFaceRestorer:
    """The pretrained BasicVSR x4 (``basicvsr``, Apache-2.0) on the aligned crop as a one-frame clip, then a Lanczos
    resize to ``out_size`` (x4 for a 128 px crop at 512; a 64 px crop is made 256 by the network, then enlarged).
    Not trained on faces: the strongest general single-image upscaler FrameForge has, the base of the face models."""

    def __init__(self, upscaler=None):
        self.upscaler = upscaler

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        if self.upscaler is None:
            from models import registry

            self.upscaler = registry.get("basicvsr")
        return self.upscaler.upscale(face, (out_size, out_size))
