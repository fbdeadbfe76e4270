"""Weight-free baselines: resize, blend, DIS-flow interpolation, two-stage space-time upscaling."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.metrics import psnr
from models.baselines import Bicubic, Blend, DISFlowInterpolator, Lanczos, TwoStage
from models.baselines.dis_flow import fb_consistency, flows_to_t
from models.interfaces import FrameInterpolator, SpaceTimeUpscaler, SpatialUpscaler
from models.ops.warp import backward_warp_cv2


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture, uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    x = cv2.GaussianBlur(x, (0, 0), 2.0)
    x = (x - x.mean()) / (x.std() + 1e-6) * 50 + 128
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------- resize --
@pytest.mark.parametrize("cls", [Lanczos, Bicubic])
def test_resize_shapes_and_float_scales(cls):
    up = cls()
    assert isinstance(up, SpatialUpscaler)
    f = texture(30, 41)
    for s in (2, 2.5, 3.7, 0.5):
        size = (round(30 * s), round(41 * s))
        out = up.upscale(f, size)
        assert out.shape == (*size, 3) and out.dtype == np.uint8
    const = np.full((10, 12, 3), 77, np.uint8)
    assert np.all(up.upscale(const, (25, 30)) == 77)  # a flat image stays flat
    assert np.array_equal(up.upscale(f, (30, 41)), f)


def test_lanczos_values_match_a_lanczos3_reference():
    from test_bottom_layer import _lanczos3_reference

    f = texture(30, 41)
    for size in ((60, 82), (75, 103), (111, 152), (15, 20)):  # x2, x2.5, x3.7, x0.5
        diff = np.abs(Lanczos().upscale(f, size).astype(int) - _lanczos3_reference(f, size).astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.01, (size, diff.max(), diff.mean())


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError):
        Lanczos().upscale(np.zeros((4, 4), np.uint8), (8, 8))
    with pytest.raises(ValueError):
        Lanczos().upscale(np.zeros((4, 4, 3), np.uint8), (0, 8))


def test_lanczos_sharper_than_bicubic_on_texture():
    hr = texture(64, 64, seed=3)
    lr = np.asarray(Image.fromarray(hr).resize((32, 32), Image.BICUBIC))
    assert psnr(Lanczos().upscale(lr, (64, 64)), hr) > psnr(Bicubic().upscale(lr, (64, 64)), hr)


# -------------------------------------------------------------------------------------------------- blend --
def test_blend_known_answer():
    a = np.zeros((4, 5, 3), np.uint8)
    b = np.full((4, 5, 3), 200, np.uint8)
    m = Blend()
    assert isinstance(m, FrameInterpolator) and m.arbitrary_t
    out = m.interpolate(a, b, [0.0, 0.25, 0.5, 1.0])
    assert [int(o[0, 0, 0]) for o in out] == [0, 50, 100, 200]
    assert all(o.dtype == np.uint8 and o.shape == a.shape for o in out)


def test_blend_rejects_bad_input():
    a = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError):
        Blend().interpolate(a, np.zeros((4, 6, 3), np.uint8), [0.5])
    with pytest.raises(ValueError):
        Blend().interpolate(a, a, [1.5])


# ---------------------------------------------------------------------------------------------- warp/flow --
def test_backward_warp_integer_shift():
    img = texture(20, 24)
    flow = np.zeros((20, 24, 2), np.float32)
    flow[..., 0] = 3  # out(x) = img(x + 3)
    out = backward_warp_cv2(img, flow)
    assert np.array_equal(out[:, :-3], img[:, 3:])
    assert np.array_equal(out[:, -3:], np.repeat(img[:, -1:], 3, axis=1))  # border replicate


def test_flows_to_t_and_consistency_on_constant_motion():
    f01 = np.zeros((8, 9, 2), np.float32)
    f01[..., 0], f01[..., 1] = 4.0, -2.0
    f10 = -f01
    for approx in ("linear", "linear_own", "slomo"):
        ft0, ft1 = flows_to_t(f01, f10, 0.25, approx)
        np.testing.assert_allclose(ft0[0, 0], [-1.0, 0.5], atol=1e-6)
        np.testing.assert_allclose(ft1[0, 0], [3.0, -1.5], atol=1e-6)
    assert np.all(fb_consistency(f01, f10, "hard") == 1)
    assert np.all(fb_consistency(f01, f01, "hard") == 0)  # flows that do not undo each other
    assert np.all(fb_consistency(f01, f01, "soft") < 1e-6)


@pytest.mark.parametrize("dx,dy", [(6, 4), (-4, 8)])
def test_dis_flow_recovers_translation(dx, dy):
    big = texture(160, 200, seed=1)
    y0, x0 = 40, 40

    def crop(ox, oy):  # the scene seen by a camera moved by (ox, oy): content moves by (-ox, -oy)
        return big[y0 + oy:y0 + oy + 96, x0 + ox:x0 + ox + 128].copy()

    f0, f1, half = crop(0, 0), crop(dx, dy), crop(dx // 2, dy // 2)
    m = DISFlowInterpolator()
    out0, mid, out1 = m.interpolate(f0, f1, [0.0, 0.5, 1.0])
    assert np.array_equal(out0, f0) and np.array_equal(out1, f1)
    inner = (slice(16, -16), slice(16, -16))
    assert psnr(mid[inner], half[inner]) > 35.0
    assert psnr(mid[inner], half[inner]) > psnr(Blend().interpolate(f0, f1, [0.5])[0][inner], half[inner]) + 10


def test_dis_flow_options_validated():
    with pytest.raises(ValueError):
        DISFlowInterpolator(approx="cubic")
    with pytest.raises(ValueError):
        DISFlowInterpolator(consistency="maybe")


# ------------------------------------------------------------------------------------------------ two-stage --
class _MidpointOnly:
    """Midpoint-only interpolator: the rounded mean of the two frames; records every call's ts."""
    arbitrary_t = False

    def __init__(self):
        self.calls = []

    def interpolate(self, frame0, frame1, ts):
        self.calls.append(list(ts))
        return [Blend().interpolate(frame0, frame1, [t])[0] for t in ts]


def test_two_stage_shapes_and_anchors():
    f0, f1 = texture(16, 20, 0), texture(16, 20, 1)
    m = TwoStage(Lanczos(), DISFlowInterpolator())
    assert isinstance(m, SpaceTimeUpscaler) and m.arbitrary_t
    outs = m.upscale_pair(f0, f1, [0.0, 0.25, 0.5, 1.0], (40, 50))
    assert [o.shape for o in outs] == [(40, 50, 3)] * 4
    assert np.array_equal(outs[0], Lanczos().upscale(f0, (40, 50)))
    assert np.array_equal(outs[3], Lanczos().upscale(f1, (40, 50)))


def test_two_stage_midpoint_only_interpolator():
    f0, f1 = texture(8, 10, 0), texture(8, 10, 1)
    m = TwoStage(Bicubic(), _MidpointOnly())
    assert m.arbitrary_t is False
    outs = m.upscale_pair(f0, f1, [0.0, 0.5, 1.0], (16, 20))
    assert len(outs) == 3 and outs[1].shape == (16, 20, 3)
    # other times by midpoint recursion at HR: 1/4 = mid(0, 1/2), 3/8 = mid(1/4, 1/2); 0.3 snaps to 1/4
    up0, up1 = Bicubic().upscale(f0, (16, 20)), Bicubic().upscale(f1, (16, 20))
    mid = lambda a, b: Blend().interpolate(a, b, [0.5])[0]  # noqa: E731
    half = mid(up0, up1)
    quarter = mid(up0, half)
    m.interpolator.calls.clear()
    outs = m.upscale_pair(f0, f1, [0.25, 0.375, 0.3, 1.0], (16, 20))
    assert np.array_equal(outs[0], quarter)
    assert np.array_equal(outs[1], mid(quarter, half))
    assert np.array_equal(outs[2], quarter) and outs[2] is not outs[0]
    assert np.array_equal(outs[3], up1)
    assert m.interpolator.calls == [[0.5]] * 3  # 1/2, 1/4, 3/8: each tree node once
    with pytest.raises(ValueError):
        m.upscale_pair(f0, f1, [1.5], (16, 20))


# ------------------------------------------------------------------------------------------------- registry --
def test_baseline_specs_build():
    from models import registry
    from models.baselines.specs import baseline_specs

    tasks = {s.id: s.task for s in baseline_specs()}
    assert tasks == {"lanczos": "sr", "bicubic": "sr", "blend": "vfi", "dis_flow": "vfi",
                     "lanczos+dis": "stvsr", "bicubic+dis": "stvsr"}
    assert isinstance(registry.get("dis_flow"), FrameInterpolator)
    assert isinstance(registry.get("lanczos"), SpatialUpscaler)
    assert isinstance(registry.get("lanczos+dis"), SpaceTimeUpscaler)


# ------------------------------------------------------------------------------------------------ real data --
def test_dis_flow_beats_blend_on_real_triplets(train_frames):
    """Frames 0 and 2 of the first 3 DAVIS-2016 training sequences, frame 1 the truth (measured: dis_flow +7.6,
    +2.0, +7.8 dB over blend)."""
    dis, blend = DISFlowInterpolator(), Blend()
    for i in range(3):
        name, (f0, gt, f1) = train_frames(i, 3)
        p_dis = psnr(dis.interpolate(f0, f1, [0.5])[0], gt)
        p_blend = psnr(blend.interpolate(f0, f1, [0.5])[0], gt)
        assert p_dis > p_blend + 0.5, (name, p_dis, p_blend)
