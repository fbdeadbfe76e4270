"""Backward warping on numpy arrays with OpenCV (no PyTorch, no ``grid_sample``): the weight-free baselines' warp.

Backward warp (bilinear sampling):

    out(x) = I(x + F(x)),      x = (u, v) pixel centres, F(x) = (F_u, F_v) in pixels

Samples that fall outside the image take the nearest border pixel (``BORDER_REPLICATE``).
"""
from __future__ import annotations

import cv2
import numpy as np


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)  # (H, W)
    v = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)  # (H, W)
    return u, v


def backward_warp_cv2(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` (H, W[, C]) any dtype cv2.remap takes, ``flow`` (H, W, 2) float (u, v) -> image(x + flow(x)).

    The output has ``image``'s dtype and shape (uint8 inputs are rounded by OpenCV).
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} sizes differ")
    u, v = _grid(*flow.shape[:2])
    map_u = u + flow[..., 0].astype(np.float32)
    map_v = v + flow[..., 1].astype(np.float32)
    return cv2.remap(image, map_u, map_v, interpolation, borderMode=cv2.BORDER_REPLICATE)
