"""Paste restored faces back into the upscaled photo (facexlib ``FaceRestoreHelper`` steps 4-6).

For each face with affine A (photo -> restored crop, 2x3) and upscale factor u:

1. Inverse warp: M = u * A^-1 (+ the half-pixel shift 0.5 (u - 1) between pixel-centre grids) maps the restored
   crop into the upscaled photo.
2. Mask: the warped all-ones crop, eroded by a (2u x 2u) kernel to drop the interpolated border; with
   e = floor(sqrt(area) / 20), eroded again by a (2e x 2e) kernel and Gaussian-feathered with a (2e + 1) kernel.
3. Alpha blend: out = m * face + (1 - m) * background, over the background upscaled by ``background_upscaler``
   (Lanczos by default; any callable(image, (h, w)) -> image).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import cv2
import numpy as np

from ..imageio import PIXELS, lanczos, to_uint8

BackgroundUpscaler = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def lanczos_upscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 (H, W, 3) to ``size`` = (height, width) with the one Lanczos (:func:`models.imageio.lanczos`)."""
    return lanczos(image, size)


def inverse_affine(affine: np.ndarray, upscale: float) -> np.ndarray:
    """2x3 map from crop coordinates to the upscaled photo's coordinates."""
    inv = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64)) * upscale
    inv[:, 2] += 0.5 * (upscale - 1.0)
    return inv


def face_mask(crop_size: int, inv: np.ndarray, out_size: tuple[int, int], upscale: float) -> np.ndarray:
    """Feathered float32 mask in [0, 1] of shape ``out_size`` (h, w): where the pasted face is used."""
    h, w = out_size
    ones = np.ones((crop_size, crop_size), np.float32)
    mask = cv2.warpAffine(ones, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    k = max(1, int(round(2 * upscale)))
    mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    area = float(mask.sum())
    edge = int(math.sqrt(area)) // 20
    if edge > 0:
        mask = cv2.erode(mask, np.ones((2 * edge, 2 * edge), np.uint8))
        mask = cv2.GaussianBlur(mask, (2 * edge + 1, 2 * edge + 1), 0)
    return np.clip(mask, 0.0, 1.0)


def _roi(crop_size: int, inv: np.ndarray, out_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Bounding box (y0, y1, x0, x1) in the output of the warped crop, with a margin, clipped; None if outside."""
    s = float(crop_size)
    corners = np.array([[0, 0, 1], [s, 0, 1], [0, s, 1], [s, s, 1]]) @ inv.T  # (4, 2) x, y
    side = float(np.ptp(corners[:, 0]) + np.ptp(corners[:, 1])) / 2
    margin = int(0.1 * side) + 4
    x0 = max(0, int(np.floor(corners[:, 0].min())) - margin)
    x1 = min(out_size[1], int(np.ceil(corners[:, 0].max())) + margin)
    y0 = max(0, int(np.floor(corners[:, 1].min())) - margin)
    y1 = min(out_size[0], int(np.ceil(corners[:, 1].max())) + margin)
    if x1 <= x0 or y1 <= y0:
        return None
    return y0, y1, x0, x1


def paste_faces(background: np.ndarray, faces: Sequence[tuple[np.ndarray, np.ndarray]], upscale: float,
                background_upscaler: BackgroundUpscaler = lanczos_upscale) -> np.ndarray:
    """Blend restored faces into the upscaled ``background`` (uint8 (H, W, 3)).

    ``faces``: (restored crop (S, S, 3) uint8, affine photo -> that crop (2x3)) pairs, blended in order. Returns the
    uint8 photo of size round(u * H) x round(u * W). Only each face's region is warped and blended, so memory stays
    ~ the output photo.
    """
    h, w = background.shape[:2]
    out_size = (int(round(h * upscale)), int(round(w * upscale)))
    up = background_upscaler(background, out_size)
    if up.shape[:2] != out_size or up.dtype != np.uint8:
        raise ValueError(f"background upscaler returned {up.dtype} {up.shape[:2]}, expected uint8 {out_size}")
    result = np.array(up, copy=True)
    for crop, affine in faces:
        inv = inverse_affine(affine, upscale)
        roi = _roi(crop.shape[0], inv, out_size)
        if roi is None:
            continue
        y0, y1, x0, x1 = roi
        inv_roi = inv.copy()
        inv_roi[:, 2] -= (x0, y0)
        warped = cv2.warpAffine(crop, inv_roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32)
        mask = face_mask(crop.shape[0], inv_roi, (y1 - y0, x1 - x0), upscale)[:, :, None]
        region = result[y0:y1, x0:x1].astype(np.float32)
        blended = mask * warped + (1.0 - mask) * region
        result[y0:y1, x0:x1] = to_uint8(blended, PIXELS)
    return result
