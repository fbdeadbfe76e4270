"""Weight-free face restorers: plain interpolation of the aligned crop (the floor every learned model must beat)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..imageio import check_frame, lanczos


class _ResizeRestorer:
    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        """Resize the aligned crop (S, S, 3) uint8 RGB to (out_size, out_size, 3)."""
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        if face.shape[:2] == (out_size, out_size):
            return face.copy()
        return self._resize(face, out_size)


class BicubicFaceRestorer(_ResizeRestorer):
    """PIL bicubic resize (antialiased when shrinking)."""

    @staticmethod
    def _resize(face: np.ndarray, out_size: int) -> np.ndarray:
        return np.asarray(Image.fromarray(face).resize((out_size, out_size), Image.Resampling.BICUBIC))


class LanczosFaceRestorer(_ResizeRestorer):
    """The one Lanczos resize (:func:`models.imageio.lanczos`: Pillow's, a = 3, antialiased when shrinking)."""

    @staticmethod
    def _resize(face: np.ndarray, out_size: int) -> np.ndarray:
        return lanczos(face, (out_size, out_size))


class BasicVSRFaceRestorer:
    """The pretrained BasicVSR x4 (``basicvsr``, Apache-2.0) on the aligned crop as a one-frame clip, then a Lanczos
    resize to ``out_size`` (x4 for a 128 px crop at 512; a 64 px crop is made 256 by the network, then enlarged).
    Not trained on faces: the strongest general single-image upscaler FrameForge has, the base of the face models."""

    def __init__(self, upscaler=None, load_upscaler=None):
        self.upscaler, self.load_upscaler = upscaler, load_upscaler  # the upscaler, or a loader called on first use

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        if self.upscaler is None:
            if self.load_upscaler is None:
                raise ValueError("BasicVSRFaceRestorer needs an upscaler: pass upscaler= or load_upscaler= "
                                 "(registry.create builds it with the registered basicvsr)")
            self.upscaler = self.load_upscaler()
        return self.upscaler.upscale(face, (out_size, out_size))
