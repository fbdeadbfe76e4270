"""models.metrics, the one metrics module of training and the benchmarks: known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import metrics


def test_psnr_of_a_known_mse_and_identical_images():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 10  # a third of the values off by 10: MSE 100 / 3
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 * 3 / 100), abs=1e-12)
    assert metrics.psnr(a, a) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(a, a[:2])


def test_ssim_is_one_for_identical_images_and_lower_with_noise():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noise = rng.integers(-40, 41, img.shape)
    noisy = [np.clip(img.astype(int) + k * noise // 4, 0, 255).astype(np.uint8) for k in (1, 4)]
    assert 1.0 > metrics.ssim(img, noisy[0]) > metrics.ssim(img, noisy[1])


def test_luma_and_its_psnr():
    white, black = np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert metrics.rgb_to_y(white) == pytest.approx(np.full((2, 2), 235.0))  # BT.601 studio range
    assert metrics.rgb_to_y(black) == pytest.approx(np.full((2, 2), 16.0))
    a = np.zeros((3, 4, 4))
    b = a.copy()
    b[1] += 1 / 128.553  # green off by 1/128.553: Y off by exactly 1 (MSE 1)
    assert metrics.psnr_y(a, b) == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert metrics.psnr_y(a, a) == pytest.approx(10 * math.log10(255 ** 2 / 1e-10))  # MSE floored at 1e-10


def test_charbonnier_known_values_and_both_call_forms():
    x = torch.tensor([3.0, -4.0])
    assert metrics.charbonnier(x, eps=0.0).item() == pytest.approx(3.5)
    assert metrics.charbonnier(torch.zeros(5)).item() == pytest.approx(1e-3)  # eps at zero error
    assert metrics.charbonnier(x, torch.zeros(2)).item() == metrics.charbonnier(x).item()
    from models.vfi.common import charbonnier as vfi_charbonnier

    assert vfi_charbonnier is metrics.charbonnier  # one definition


def test_frechet_distance_of_shifted_sets():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert abs(metrics.frechet_distance(a, a)) < 1e-8
    assert metrics.frechet_distance(a, a + np.array([1.0, 2.0, 0.0])) == pytest.approx(5.0, abs=1e-8)


def test_bench_names_are_the_same_functions():
    from bench import face_metrics, metrics as bench_metrics

    assert bench_metrics.psnr is metrics.psnr and bench_metrics.ssim is metrics.ssim
    assert bench_metrics.frechet_distance is metrics.frechet_distance
    assert face_metrics.identity_scores is metrics.identity_scores  # (the FD ones add the registry's network)
