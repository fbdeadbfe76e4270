"""The bottom layer of models/: the tensor boundary and the frame/pair/t validators (models/imageio.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.imageio import PIXELS, check_pair, check_ts, to_tensor, to_uint8


def test_to_tensor_known_values_layouts_and_dtype():
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[0, 1] = (0, 51, 255)  # row 0, column 1
    x = to_tensor(frame)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert x[0, :, 0, 1].tolist() == pytest.approx([0.0, 0.2, 1.0], abs=1e-7) and float(x.sum()) == pytest.approx(1.2)
    assert to_tensor([frame, frame[::-1]]).shape == (2, 3, 2, 3)  # a list; a read-only flipped view is copied
    assert torch.equal(to_tensor(np.stack([frame, frame])), to_tensor([frame, frame]))
    assert to_tensor(frame, dtype=torch.float64).dtype == torch.float64
    signed = to_tensor(frame, value_range=(-1.0, 1.0))
    assert signed[0, :, 0, 1].tolist() == pytest.approx([-1.0, -0.6, 1.0], abs=1e-7)
    assert float(signed[0, 0, 1, 2]) == -1.0
    ro = frame.copy()
    ro.flags.writeable = False
    assert torch.equal(to_tensor(ro), x)
    with pytest.raises(ValueError, match="uint8 RGB"):
        to_tensor(frame.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        to_tensor(np.zeros((4, 4), np.uint8))


def test_to_uint8_rounds_clamps_and_round_trips():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = to_tensor(frames)
    assert np.array_equal(to_uint8(x), frames)  # (N, 3, H, W) -> (N, H, W, 3)
    assert np.array_equal(to_uint8(x[1]), frames[1])  # (3, H, W) -> (H, W, 3)
    assert np.array_equal(to_uint8(to_tensor(frames, value_range=(-1, 1)), value_range=(-1, 1)), frames)
    t = torch.tensor([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.998, 1.0, 7.0]).view(1, 1, 7).expand(3, 1, 7)
    assert to_uint8(t)[0, :, 0].tolist() == [0, 0, 0, 2, 254, 255, 255]  # clamped, rounded half to even
    assert to_uint8(t.to(torch.bfloat16)).dtype == np.uint8
    hwc = np.array([[[-3.0, 0.4999, 127.5], [128.5, 254.6, 300.0]]], np.float32)  # already channels-last
    assert to_uint8(hwc, PIXELS).tolist() == [[[0, 0, 128], [128, 255, 255]]]
    assert to_uint8(hwc / 255.0).shape == (1, 2, 3)


def test_pair_and_time_validators():
    a = np.zeros((4, 5, 3), np.uint8)
    check_pair(a, a.copy())
    with pytest.raises(ValueError, match="frames differ in size"):
        check_pair(a, np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="frame1 must be a uint8 RGB array"):
        check_pair(a, a.astype(np.float32))
    assert check_ts([0, np.float32(0.25), 1]) == [0.0, 0.25, 1.0]
    with pytest.raises(ValueError, match=r"times must lie in \[0, 1\], got \[1.5\]"):
        check_ts([0.5, 1.5])


# ------------------------------------------------------------------------------------------------ Lanczos --
def _lanczos3_reference(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos a = 3 in float64, written from the definition: separable, output pixel i centred at (i + 0.5) * s
    in input pixels (s = in / out), taps sinc(x) sinc(x / 3) on |x| < 3, the kernel stretched by s when shrinking
    (s > 1: antialiasing), weights normalised to sum 1; rows first, the intermediate image rounded and clipped to
    0..255 as any 8-bit two-pass resize does (the overshoot at sharp edges is clipped there)."""
    def matrix(n_in: int, n_out: int) -> np.ndarray:
        s = n_in / n_out
        f = max(s, 1.0)
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            c = (i + 0.5) * s
            lo, hi = max(int(c - 3 * f + 0.5), 0), min(int(c + 3 * f + 0.5), n_in)
            x = (np.arange(lo, hi) - c + 0.5) / f
            w = np.where(np.abs(x) < 3, np.sinc(x) * np.sinc(x / 3), 0.0)
            m[i, lo:hi] = w / w.sum()
        return m

    rows, cols = matrix(image.shape[0], size[0]), matrix(image.shape[1], size[1])
    across = np.clip(np.rint(np.einsum("hwc,xw->hxc", image.astype(np.float64), cols)), 0, 255)
    return np.clip(np.rint(np.einsum("yh,hxc->yxc", rows, across)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(96, 160), (35, 47), (61, 32), (24, 40)])  # x2, x0.73, mixed, x0.5
def test_the_one_lanczos_matches_a_lanczos3_reference(size):
    from models.imageio import lanczos

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:48, 0:80]
    image = np.stack([127 + 100 * np.sin(xx / 3.0 + yy / 7.0), 4.0 * xx + yy, 255.0 * ((xx // 8 + yy // 8) % 2)],
                     axis=2) + rng.normal(0, 6, (48, 80, 3))  # waves, a ramp, a checkerboard with sharp edges
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    out, ref = lanczos(image, size), _lanczos3_reference(image, size)
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - ref.astype(int))
    # Pillow's fixed-point weights: a pixel here and there one level off the float64 reference (measured: < 0.3 %)
    assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())
    # and not any other kernel: bicubic / OpenCV's Lanczos-4 sit measurably farther from the reference
    import cv2
    from PIL import Image

    bicubic = np.asarray(Image.fromarray(image).resize(size[::-1], Image.Resampling.BICUBIC)).astype(int)
    lanczos4 = cv2.resize(image, size[::-1], interpolation=cv2.INTER_LANCZOS4).astype(int)
    assert np.abs(bicubic - ref).mean() > 0.5 and np.abs(lanczos4 - ref).mean() > 0.5  # measured: 0.85-7.0


def test_lanczos_keeps_flat_images_and_sizes_and_refuses_bad_input():
    from models.imageio import lanczos

    flat = np.full((7, 9, 3), 201, np.uint8)
    assert np.all(lanczos(flat, (30, 20)) == 201)
    same = lanczos(flat, (7, 9))
    assert np.array_equal(same, flat) and same is not flat
    with pytest.raises(ValueError, match="size must be positive"):
        lanczos(flat, (0, 4))
    with pytest.raises(ValueError, match="uint8 RGB"):
        lanczos(flat[..., 0], (4, 4))
