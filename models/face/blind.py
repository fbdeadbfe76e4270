"""Blind face restoration with Real-ESRGAN x4plus (``face_realesrgan``) and its fidelity control.

``restore(face, out_size, fidelity)``: the aligned crop through RRDBNet (x4; a crop larger than out_size / 4 is first
reduced to that with an antialiased box filter, the network's native ratio), then Lanczos to ``out_size``. The
network was trained on blur, noise, resizing and JPEG, so it removes compression blocks and noise that a bicubic-
trained upscaler keeps, at the price of inventing texture.

``fidelity`` (1 = fully restored, 0 = faithful to the input; CodeFormer's ``w`` turned round) blends the restored
face with the faithful path, the pretrained bicubic-trained BasicVSR (``face_basicvsr``), pixel by pixel:
out = fidelity * restored + (1 - fidelity) * faithful. The faithful path runs only when fidelity < 1.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..imageio import check_frame


def check_fidelity(fidelity) -> float:
    """``fidelity`` as a float in [0, 1], or ValueError with the reason."""
    if isinstance(fidelity, bool):
        raise ValueError(f"fidelity must be a number between 0 and 1, got {fidelity!r}")
    try:
        f = float(fidelity)
    except (TypeError, ValueError):
        raise ValueError(f"fidelity must be a number between 0 and 1, got {fidelity!r}") from None
    if not math.isfinite(f) or not 0.0 <= f <= 1.0:
        raise ValueError(f"fidelity must be between 0 and 1, got {fidelity!r}")
    return f


class RealESRGANFaceRestorer:
    """:class:`~models.interfaces.FaceRestorer` with Real-ESRGAN x4plus and a ``fidelity`` blend with BasicVSR."""

    supports_fidelity = True

    def __init__(self, upscaler=None, faithful=None):
        self.upscaler, self.faithful = upscaler, faithful

    def _models(self):
        from models import registry

        if self.upscaler is None:
            self.upscaler = registry.get("realesrgan_x4plus")
        if self.faithful is None:
            self.faithful = registry.get("face_basicvsr")
        return self.upscaler, self.faithful

    def restore(self, face: np.ndarray, out_size: int, fidelity: float = 1.0) -> np.ndarray:
        """The aligned crop (S, S, 3) uint8 restored to (out_size, out_size, 3) uint8; ``fidelity`` in [0, 1]."""
        check_frame(face, "face crop")
        if out_size < 1:
            raise ValueError(f"out_size must be positive, got {out_size}")
        f = check_fidelity(fidelity)
        upscaler, faithful = self._models()
        side = max(1, math.ceil(out_size / 4))
        lr = face
        if max(face.shape[:2]) > side:  # more input pixels than the output can show: the network's 1:4 ratio
            h, w = face.shape[:2]
            lr = np.asarray(Image.fromarray(face).resize((max(1, round(w * side / max(h, w))),
                                                          max(1, round(h * side / max(h, w)))),
                                                         Image.Resampling.BOX))
        restored = upscaler.upscale(lr, (out_size, out_size)) if f > 0 else None
        if f >= 1.0:
            return restored
        base = faithful.restore(face, out_size)
        if restored is None:
            return base
        out = f * restored.astype(np.float32) + (1.0 - f) * base.astype(np.float32)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class _AtFidelity:
    """A fidelity-aware restorer bound to one fidelity: a plain :class:`~models.interfaces.FaceRestorer`."""

    def __init__(self, restorer, fidelity: float):
        self.restorer, self.fidelity = restorer, fidelity

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        return self.restorer.restore(face, out_size, fidelity=self.fidelity)


def at_fidelity(restorer, fidelity):
    """``restorer`` bound to ``fidelity`` (checked, in [0, 1]) when it has the control (``supports_fidelity``), for
    the pipelines that call ``restore(face, out_size)``; a restorer without it is returned as it is."""
    f = check_fidelity(fidelity)
    return _AtFidelity(restorer, f) if getattr(restorer, "supports_fidelity", False) else restorer
