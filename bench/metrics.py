"""Quality metrics shared by every benchmark (see ../shared/docs/protocol.md).

* :func:`psnr` — on uint8 RGB (or Y) arrays, data range 255, whole frame.
* :func:`ssim` — ``skimage.metrics.structural_similarity`` (7x7 uniform window, data_range 255), the protocol's
  reference; ``channel_axis=2`` for RGB.
* :func:`rgb_to_y` — BT.601 luma: Y = 16 + (65.481 R + 128.553 G + 24.966 B) with RGB in [0, 1], on 0–255.
* :func:`frechet_distance` — FD between two feature sets with means mu_1, mu_2 and covariances S_1, S_2 (Heusel et
  al., 2017):  FD = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}). Named after its feature network
  ("FD-MNISTNet", "FD-EffNetLite0"), never "FID".
"""
from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(data_range ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    from skimage.metrics import structural_similarity

    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if a.ndim == 3:
        return float(structural_similarity(a, b, channel_axis=2, data_range=data_range))
    return float(structural_similarity(a, b, data_range=data_range))


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 Y (H, W) on the 16–235 scale (BT.601), not rounded."""
    x = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between two feature sets (N, D) and (M, D), from their means and covariances."""
    from scipy import linalg

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"FD needs two (N, D) feature sets with N >= 2, got {a.shape} and {b.shape}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the reference FID code does
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
