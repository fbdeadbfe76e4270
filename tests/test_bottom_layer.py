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
    assert signed[0, :, 0, 1].tolist() == pytest.approx([-1.0, -0.6, 1.0], abs=1e-7) and float(signed[0, 0, 1, 2]) == -1.0
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
