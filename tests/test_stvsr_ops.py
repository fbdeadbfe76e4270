"""Known-answer tests for the pure-PyTorch ops behind BF-STVSR."""
import math

import pytest
import torch
import torch.nn.functional as F

from models.ops.bspline import cubic_bspline
from models.ops.deform_conv import DCNSep, modulated_deform_conv2d
from models.ops.fourier import fourier_basis
from models.ops.siren import Siren, SineLayer
from models.ops.softsplat import softmax_splat, splat_count, splat_max, splat_sum


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _shifted_conv(x, weight, dy, dx):
    """conv2d(padding 1) of x sampled at p + (dy, dx) with zeros outside the image."""
    big = F.pad(x, (2, 2, 2, 2))
    shifted = torch.roll(big, shifts=(-dy, -dx), dims=(2, 3))
    return F.conv2d(shifted, weight)[:, :, 1:1 + x.shape[2], 1:1 + x.shape[3]]


def test_deform_conv_zero_offset_unit_mask_is_conv2d():
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 8, 7, 9), torch.randn(5, 8, 3, 3), torch.randn(5)
    g = 4
    out = modulated_deform_conv2d(x, torch.zeros(2, 2 * g * 9, 7, 9), torch.ones(2, g * 9, 7, 9), w, b)
    assert torch.allclose(out, F.conv2d(x, w, b, padding=1), atol=1e-5)


@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -1), (-1, 2)])
def test_deform_conv_integer_offset_is_shifted_conv(dy, dx):
    torch.manual_seed(1)
    x, w = torch.randn(1, 4, 6, 7), torch.randn(3, 4, 3, 3)
    g = 2
    off = torch.zeros(1, g * 9, 2, 6, 7)
    off[:, :, 0], off[:, :, 1] = dy, dx  # interleaved (dy, dx) per (group, tap)
    out = modulated_deform_conv2d(x, off.view(1, 2 * g * 9, 6, 7), torch.ones(1, g * 9, 6, 7), w)
    assert torch.allclose(out, _shifted_conv(x, w, dy, dx), atol=1e-5)


def test_dcn_sep_channel_layout():
    """conv_offset_mask -> o1 | o2 | m; cat(o1, o2) is read as (dy, dx) pairs; mask = sigmoid(m)."""
    torch.manual_seed(2)
    g = 2
    dcn = DCNSep(4, 3, deformable_groups=g)
    x = torch.randn(1, 4, 5, 6)
    with torch.no_grad():
        dcn.bias.zero_()
        dcn.conv_offset_mask.bias[0:2 * g * 9:2] = 1.0  # every dy = 1 (even channels of cat(o1, o2)), dx = 0
        dcn.conv_offset_mask.bias[2 * g * 9:] = 0.0  # mask sigmoid(0) = 0.5
    out = dcn(x, torch.randn(1, 4, 5, 6))
    assert torch.allclose(out, 0.5 * _shifted_conv(x, dcn.weight, 1, 0), atol=1e-5)


def test_deform_conv_half_pixel_is_bilinear():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 1, 1] = 1  # centre tap only
    off = torch.zeros(1, 9, 2, 3, 4)
    off[:, 4, 1] = 0.5  # centre tap, dx = +0.5
    out = modulated_deform_conv2d(x, off.view(1, 18, 3, 4), torch.ones(1, 9, 3, 4), w)
    expect = torch.tensor([[0.5, 1.5, 2.5, 1.5], [4.5, 5.5, 6.5, 3.5], [8.5, 9.5, 10.5, 5.5]])  # right edge: 0.5·x + 0
    assert torch.allclose(out[0, 0], expect, atol=1e-5)


def test_splat_sum_integer_flow_moves_pixels_and_drops_outside():
    x = torch.arange(1.0, 13.0).view(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 1.0  # one pixel to the right
    out = splat_sum(x, flow)
    expect = torch.zeros(3, 4)
    expect[:, 1:] = x[0, 0, :, :3]
    assert torch.equal(out[0, 0], expect)  # the last column left the image
    flow[:, 0], flow[:, 1] = 0.0, -1.0  # one up
    assert torch.equal(splat_sum(x, flow)[0, 0, :2], x[0, 0, 1:])


def test_splat_fractional_weights_sum_to_value():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 2.0
    flow = torch.zeros(1, 2, 4, 4)
    flow[0, 0, 1, 1], flow[0, 1, 1, 1] = 0.25, 0.5
    out = splat_sum(x, flow)[0, 0]
    assert out[1, 1] == pytest.approx(2 * 0.75 * 0.5) and out[1, 2] == pytest.approx(2 * 0.25 * 0.5)
    assert out[2, 1] == pytest.approx(2 * 0.75 * 0.5) and out[2, 2] == pytest.approx(2 * 0.25 * 0.5)
    assert float(out.sum()) == pytest.approx(2.0)


def test_splat_max_and_count_on_a_collision():
    x = torch.tensor([[[[3.0, 5.0, 1.0]]]])  # (1, 1, 1, 3)
    flow = torch.zeros(1, 2, 1, 3)
    flow[0, 0, 0, 0] = 1.0  # pixel 0 lands on pixel 1
    flow[0, 0, 0, 2] = 5.0  # pixel 2 leaves the image
    assert splat_max(x, flow)[0, 0, 0].tolist() == [0.0, 5.0, 0.0]
    assert splat_sum(x, flow)[0, 0, 0].tolist() == [0.0, 8.0, 0.0]
    # unweighted: each sample adds to every in-bounds neighbour (at integer targets also the zero-weight ones)
    count = splat_count(torch.ones_like(x), flow)[0, 0, 0].tolist()
    assert count == [0.0, 2.0, 2.0]  # pixel 1 got samples 0 and 1; pixel 2 their zero-weight right neighbours
    assert not splat_max(x.requires_grad_(), flow).requires_grad


def test_softmax_splat_normaliser_and_gradient():
    torch.manual_seed(3)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    flow = (torch.rand(1, 2, 5, 5) - 0.5).requires_grad_()
    z = torch.randn(1, 1, 5, 5)
    out, norm = softmax_splat(x, flow, z)
    assert torch.allclose(out, splat_sum(x * z.exp(), flow)) and torch.allclose(norm, splat_sum(z.exp(), flow))
    out.sum().backward()
    assert flow.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def _splat_by_loops(x, flow):
    """The definition, pixel by pixel: each source pixel adds its bilinear weights times its value to the (up to
    four) in-bounds neighbours of where it lands."""
    n, c, h, w = x.shape
    out = torch.zeros_like(x)
    for b in range(n):
        for y in range(h):
            for xx in range(w):
                tx, ty = xx + float(flow[b, 0, y, xx]), y + float(flow[b, 1, y, xx])
                x0, y0 = math.floor(tx), math.floor(ty)
                for cx, cy in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
                    if 0 <= cx < w and 0 <= cy < h:
                        out[b, :, cy, cx] += (1 - abs(tx - cx)) * (1 - abs(ty - cy)) * x[b, :, y, xx]
    return out


def test_splat_sum_equals_the_definition_and_its_gradient_is_exact():
    """The sparse-product splat against a loop over pixels (random flows, collisions, samples leaving the image),
    in float64; gradcheck for x, the flow and z; a channels-last input gives the same result."""
    torch.manual_seed(7)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    flow = torch.randn(2, 2, 5, 6, dtype=torch.float64) * 2
    torch.testing.assert_close(splat_sum(x, flow), _splat_by_loops(x, flow), rtol=0, atol=1e-12)
    torch.testing.assert_close(splat_sum(x.contiguous(memory_format=torch.channels_last), flow), splat_sum(x, flow),
                               rtol=0, atol=1e-12)
    xs, fs = x[:, :2, :4, :4].clone().requires_grad_(), (flow[:, :, :4, :4] * 0.6 + 0.3).requires_grad_()
    assert torch.autograd.gradcheck(splat_sum, (xs, fs))
    zs = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(softmax_splat, (xs, fs, zs))  # e^z rides in the splat weights


def test_splat_reduced_precision_and_non_finite_flow():
    """bf16 values come back in bf16, summed in float32 (close to the float32 result); a NaN or infinite flow drops
    that sample instead of spreading NaN."""
    torch.manual_seed(8)
    x, flow = torch.rand(1, 4, 6, 7), torch.randn(1, 2, 6, 7)
    low = splat_sum(x.bfloat16(), flow)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), splat_sum(x, flow), rtol=0.02, atol=0.02)
    bad = flow.clone()
    bad[0, 0, 2, 3], bad[0, 1, 4, 4] = float("nan"), float("inf")
    keep = torch.ones(1, 1, 6, 7)
    keep[0, 0, 2, 3] = keep[0, 0, 4, 4] = 0
    out = splat_sum(x, bad)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, splat_sum(x * keep, torch.nan_to_num(bad, 0, 0, 0)))


def test_cubic_bspline_known_values_and_partition_of_unity():
    v = cubic_bspline(torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0]))
    assert torch.allclose(v[:5], torch.tensor([4 / 6, 1 / 6, 1 / 6, 0, 0]), atol=1e-5)
    assert float(v[5]) == pytest.approx((4 - 6 * 0.25 + 3 * 0.125) / 6, rel=1e-6)
    assert 0 <= float(v[6]) < 1e-12  # clamped to 2 - 1e-6 as in the official code
    x = torch.linspace(-3, 3, 601)
    total = sum(cubic_bspline(x - k) for k in range(-6, 7))
    assert torch.allclose(total, torch.ones_like(x), atol=1e-5)


def test_siren_init_bounds_and_keys():
    torch.manual_seed(4)
    first, later = SineLayer(66, 64, is_first=True), SineLayer(64, 256)
    assert first.linear.weight.abs().max() <= 1 / 66 and first.linear.weight.abs().max() > 0.9 / 66
    bound = math.sqrt(6 / 64) / 30
    assert later.linear.weight.abs().max() <= bound and later.linear.weight.abs().max() > 0.9 * bound
    net = Siren(198, [64, 64, 64, 256], 3)
    keys = set(net.state_dict())
    assert {"net.0.linear.weight", "net.3.linear.bias", "net.4.weight", "net.4.bias"} <= keys
    assert net.net[4].weight.abs().max() <= math.sqrt(6 / 256) / 30
    x = torch.zeros(1, 66)
    assert torch.allclose(first(x), torch.sin(30 * first.linear.bias))


def test_fourier_basis_known_values():
    freq = torch.tensor([[1.0, 0.0, 0.0, 2.0, 0.5, 0.5]])  # pairs (1, 0), (0, 2), (0.5, 0.5)
    rel = torch.tensor([[0.5, 0.25]])  # (dy, dx)
    s = torch.tensor([0.5, 0.5, 0.375])
    expect = torch.cat([torch.cos(math.pi * s), torch.sin(math.pi * s)])
    out = fourier_basis(freq, rel)
    assert out.shape == (1, 6) and torch.allclose(out[0], expect, atol=1e-6)
    with pytest.raises(ValueError):
        fourier_basis(torch.zeros(1, 3), rel)


def test_splat_two_frames_merges_both_anchors():
    """Zero flow, equal importance: the mean of the two frames' values; the count is the official unweighted one
    (each sample reaches its 4 neighbours, weight 0 or not: 4 per frame inside, 1 at the top-left corner); a frame
    whose samples leave the image leaves only the other's value and count."""
    from models.ops.softsplat import splat_two_frames

    x = torch.stack([torch.full((2, 3, 4), 1.0), torch.full((2, 3, 4), 3.0)])  # (2N=2, C=2, 3, 4)
    z = torch.zeros(2, 1, 3, 4)
    out, zsum, z_max, count = splat_two_frames(x, torch.zeros(2, 2, 3, 4), z, torch.ones_like(z))
    assert out.shape == (1, 2, 3, 4)
    torch.testing.assert_close(out, torch.full_like(out, 2.0))
    torch.testing.assert_close(zsum, torch.full_like(zsum, 2.0))
    torch.testing.assert_close(z_max, torch.ones_like(z_max))
    assert count[0, 0, 0, 0] == 2 and count[0, 0, 1, 1] == 8
    away = torch.zeros(2, 2, 3, 4)
    away[1, 0] = 100.0  # frame 1's samples land outside
    out, zsum, _, count = splat_two_frames(x, away, z, torch.ones_like(z))
    torch.testing.assert_close(out, torch.ones_like(out))
    assert count[0, 0, 0, 0] == 1 and count[0, 0, 1, 1] == 4


@pytest.mark.slow  # the speed benchmark
def test_splat_speed_bench_checks_agreement_and_writes_both_passes(tmp_path):
    """bench.splat_speed on a tiny tile: the two formulations agree (it asserts that before timing), a row per pass
    with both times and their ratio; bad sizes are refused with exit code 2."""
    import json

    from bench import splat_speed

    out = tmp_path / "splat.json"
    assert splat_speed.main(["--size", "12", "--channels", "3", "--repeats", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["pass"] for r in rows] == ["forward", "forward + backward"]
    for r in rows:
        assert r["scatter_add_s"] > 0 and r["sparse_product_s"] > 0
        assert r["speed_up"] == pytest.approx(r["scatter_add_s"] / r["sparse_product_s"])
    assert splat_speed.main(["--size", "1", "--json", str(out)]) == 2
