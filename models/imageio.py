"""The one place that turns user images into what models take: uint8 RGB (H, W, 3)."""
from __future__ import annotations

import numpy as np


def as_rgb(image, name: str = "image") -> np.ndarray:
    """uint8 RGB from uint8/float arrays that are grayscale (H, W), (H, W, 1), RGB or RGBA.

    RGBA is composited over white, so transparent areas do not turn black. Floats in [0, 1] are scaled to 255.
    Raises ValueError with the reason for anything else.
    """
    if image is None:
        raise ValueError(f"no {name} was given")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be an image array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.size == 0:
        raise ValueError(f"{name} has shape {image.shape}; expected an RGB, RGBA or grayscale image")
    if image.dtype != np.uint8:
        if image.dtype.kind not in "fiub":
            raise ValueError(f"{name} has unsupported pixel type {image.dtype}")
        scale = 255.0 if image.dtype.kind == "f" and float(image.max(initial=0)) <= 1.0 else 1.0
        image = np.clip(image.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(image)
