"""FFHQ-style face alignment from 5 landmarks (facexlib ``FaceRestoreHelper`` step 2).

A similarity transform T (rotation, uniform scale, translation: x' = s R x + t, 4 degrees of freedom) maps the
detected landmarks onto the FFHQ 512x512 five-point template scaled by S / 512; it is fitted robustly
(``cv2.estimateAffinePartial2D``, LMEDS) and the photo is warped to an S x S crop, the border filled with grey
(135, 133, 132).
"""
from __future__ import annotations

import cv2
import numpy as np

#: Left eye, right eye, nose tip, mouth left, mouth right on the 512x512 FFHQ crop (facexlib / GFPGAN template).
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float64)
BORDER_GREY = (135, 133, 132)


class AlignmentError(ValueError):
    """The landmarks do not define a similarity transform (e.g. all points coincide)."""


def template(size: int) -> np.ndarray:
    """The 5-point template for an output crop of ``size`` x ``size`` pixels."""
    return FFHQ_TEMPLATE_512 * (size / 512.0)


def similarity_to_template(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 affine (similarity) taking image coordinates to crop coordinates."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if pts.shape != (5, 2) or not np.all(np.isfinite(pts)):
        raise AlignmentError(f"expected 5 finite (x, y) landmarks, got shape {pts.shape}")
    if np.ptp(pts, axis=0).max() < 1e-3:
        raise AlignmentError("landmarks coincide; cannot align the face")
    affine, _ = cv2.estimateAffinePartial2D(pts, template(size), method=cv2.LMEDS)
    if affine is None:
        raise AlignmentError("could not fit a similarity transform to the landmarks")
    return affine


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``image`` (H, W, 3) to an aligned ``size`` x ``size`` crop. Returns (crop, 2x3 affine image -> crop)."""
    affine = similarity_to_template(landmarks, size)
    crop = cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=BORDER_GREY)
    return crop, affine
