"""The pretrained backbones: RIFE's IFNet, BasicVSR + SpyNet, EfficientNet-Lite0 — strict loads, known answers from
the upstream reference code (tests/fixtures/make_backbone_references.py), whole-video chunking and tiling, and the
two-stage space-time pipelines built from them."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import registry
from models.interfaces import PairRequest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


pytestmark = pytest.mark.usefixtures("one_thread")


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture (uint8 (h, w, 3)) that flow networks can track."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (w + 16, h + 16), interpolation=cv2.INTER_CUBIC)
    return big[8:8 + h, 8:8 + w]


# ----------------------------------------------------------------------------------------------------- RIFE --
def test_rife_loads_strictly_and_matches_the_reference_implementation():
    ref = np.load(FIXTURES / "rife_reference.npz")
    rife = registry.create("rife")
    assert sum(1 for _ in rife.net.state_dict()) == 158
    assert sum(p.numel() for p in rife.net.parameters()) == 5_664_776
    img0, img1 = torch.from_numpy(ref["img0"]), torch.from_numpy(ref["img1"])
    with torch.no_grad():
        flow, mask = rife.net.flows(img0, img1, float(ref["t"]), (16, 8, 4, 2, 1))
        merged = rife.net(img0, img1, float(ref["t"]), (16, 8, 4, 2, 1))
    np.testing.assert_allclose(flow.numpy(), ref["flow"], atol=2e-3)
    np.testing.assert_allclose(torch.sigmoid(mask).numpy(), ref["mask"], atol=1e-4)
    np.testing.assert_allclose(merged.numpy(), ref["merged"], atol=1e-4)


def _ifnet_written_out(net, img0, img1, t, levels):
    """IFNet's flows as the equations read (every warp and resize at the frame's size): what IFNet.flows computes
    with strided warps, batched sampling and the one-step carry of mask and features."""
    import torch.nn.functional as F

    from models.ops.warp import backward_warp

    def resize(x, f):
        return x if f == 1 else F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)

    b = img0.shape[0]
    tt = torch.as_tensor(t, dtype=img0.dtype).reshape(-1, 1, 1, 1)
    e0, e1 = net.encode(img0), net.encode(img1)
    flow = mask = feat = None
    for block, s in zip(net.blocks, levels):
        frames = (img0, img1, e0, e1) if flow is None else (
            backward_warp(img0, flow[:, :2]), backward_warp(img1, flow[:, 2:]),
            backward_warp(e0, flow[:, :2]), backward_warp(e1, flow[:, 2:]))
        x = resize(torch.cat(frames, 1), 1 / s)
        parts = [x, tt.expand(b, 1, *x.shape[-2:])]
        if flow is not None:
            parts.append(resize(torch.cat((mask, feat, flow / s), 1), 1 / s))
        x = torch.cat(parts, 1)
        y = resize(block(x), s)
        flow = y[:, :4] * s if flow is None else flow + y[:, :4] * s
        mask, feat = y[:, 4:5], y[:, 5:]
    return flow, mask


@pytest.mark.parametrize("levels,form", [((16, 8, 4, 2, 1), "plain"), ((8, 4, 2, 1, 0.5), "plain"),
                                         ((16, 4, 2, 1, 1), "plain"), ((16, 8, 4, 2, 1), "channels_last")])
def test_ifnet_fast_flows_equal_the_equations_written_out(levels, form):
    """The fast form (warps only where the resize reads, both frames in one sampling call, mask and features
    carried block to block without the frame-size detour; block inputs written channels-last for the CPU's
    channels-last copy) gives the written-out numbers of the plain network, batch of two, two t."""
    from models.backbones import cpu_fast

    plain = registry.create("rife").net
    net = cpu_fast.prepare(plain, form)
    a = torch.from_numpy(np.stack([texture(128, 192, 1), texture(128, 192, 3)])).permute(0, 3, 1, 2).float() / 255
    b = torch.roll(a, (3, -5), (2, 3))
    t = torch.tensor([0.5, 0.3])
    with torch.no_grad():
        flow, mask = net.flows(a, b, t, levels)
        ref_flow, ref_mask = _ifnet_written_out(plain, a, b, t, levels)
    assert flow.shape == (2, 4, 128, 192) and mask.shape == (2, 1, 128, 192)
    assert ref_flow.abs().max() > 1  # the pair moves: the flows are not trivially equal
    np.testing.assert_allclose(flow.numpy(), ref_flow.numpy(), atol=1e-3)
    np.testing.assert_allclose(mask.numpy(), ref_mask.numpy(), atol=1e-3)


def test_rife_undoes_a_known_translation_at_any_t():
    """A texture moving 8 px per frame: the frame at t is the texture moved 8 t px."""
    tex = texture(96, 200)
    f0, f1 = tex[:, 16:176], tex[:, 24:184]  # frame 1 = frame 0 moved 8 px left
    rife = registry.get("rife")
    out = rife.interpolate(f0, f1, [0.0, 0.25, 0.5, 1.0])
    assert out[0] is not f0 and np.array_equal(out[0], f0) and np.array_equal(out[3], f1)
    for t, frame in ((0.25, out[1]), (0.5, out[2])):
        shift = int(round(8 * t))
        truth = tex[:, 16 + shift:176 + shift]
        err = np.abs(frame[8:-8, 16:-16].astype(float) - truth[8:-8, 16:-16]).mean()
        blend = np.abs(((1 - t) * f0.astype(float) + t * f1)[8:-8, 16:-16] - truth[8:-8, 16:-16]).mean()
        assert err < 2.0 and err < blend / 4, (t, err, blend)
    x = torch.from_numpy(np.stack([f0, f1])).permute(0, 3, 1, 2).float() / 255
    flow, mask = rife.motion(x[:1], x[1:], 0.5)
    assert flow.shape == (1, 4, 96, 160) and mask.shape == (1, 1, 96, 160)
    centre = flow[0, :, 24:72, 40:120].mean((1, 2))  # I_t(p) = I_0(p + (4, 0)) = I_1(p - (4, 0))
    np.testing.assert_allclose(centre.numpy(), [4, 0, -4, 0], atol=0.5)


def test_rife_level_rule_and_tiles():
    from models.backbones.rife import levels_for

    assert levels_for(240, 320) == (8.0, 4.0, 2.0, 1.0, 0.5)
    assert levels_for(480, 854) == (16.0, 8.0, 4.0, 2.0, 1.0)
    assert levels_for(1080, 1920) == (16.0, 8.0, 4.0, 2.0, 1.0)
    assert levels_for(2160, 3840) == (32.0, 16.0, 8.0, 4.0, 2.0)
    tex = texture(160, 260)
    f0, f1 = tex[:, :240], tex[:, 6:246]
    whole = registry.create("rife")
    tiled = registry.create("rife", max_pixels=100 * 100, tile=128, overlap=48)
    a, b = whole.interpolate(f0, f1, [0.5])[0], tiled.interpolate(f0, f1, [0.5])[0]
    mse = np.mean((a.astype(float) - b) ** 2)
    assert 0 < mse and 10 * np.log10(255 ** 2 / mse) > 35  # tiled, yet almost the whole-frame result


# ------------------------------------------------------------------------------------------------- BasicVSR --
def test_basicvsr_loads_strictly_and_matches_the_reference_implementation():
    ref = np.load(FIXTURES / "basicvsr_reference.npz")
    up = registry.create("basicvsr")
    assert sum(p.numel() for p in up.net.parameters()) == 6_291_311  # + 6 buffer values (SpyNet mean/std)
    with torch.no_grad():
        out = up.net(torch.from_numpy(ref["clip"]))
    assert out.shape == (1, 5, 3, 160, 192)
    np.testing.assert_allclose(out[:, 2].numpy(), ref["centre"], atol=1e-4)


def _clip(n: int = 7, h: int = 40, w: int = 48) -> list[np.ndarray]:
    tex = texture(h + 8, w + 3 * n)
    return [tex[k % 3:k % 3 + h, 3 * k:3 * k + w].copy() for k in range(n)]


def test_basicvsr_stream_in_chunks_equals_the_whole_clip():
    """The forward branch is carried across chunks; with a look-ahead reaching the clip's end, chunks are exact."""
    clip = _clip()
    net = registry.get("basicvsr").net
    with torch.no_grad():
        whole = net(torch.from_numpy(np.stack(clip)).permute(0, 3, 1, 2)[None].float() / 255)[0]
    whole = (whole.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    from models.backbones.video_sr import BasicVSRUpscaler

    exact = list(BasicVSRUpscaler(net, chunk=3, lookahead=10).upscale_stream(clip))
    assert len(exact) == 7 and exact[0].shape == (160, 192, 3)
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(exact, whole)) <= 1
    short = list(BasicVSRUpscaler(net, chunk=2, lookahead=1).upscale_stream(clip))
    diff = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(short, whole)])
    assert 0 < diff < 3  # a short look-ahead changes the backward branch a little


@pytest.mark.slow  # BasicVSR on tiles and cuts
def test_basicvsr_tiles_and_scene_cuts():
    from models.backbones.video_sr import BasicVSRUpscaler

    net = registry.get("basicvsr").net
    clip = _clip(4, 72, 100)
    whole = list(BasicVSRUpscaler(net).upscale_stream(clip))
    tiled = list(BasicVSRUpscaler(net, tile=32, halo=12).upscale_stream(clip))
    mse = np.mean([(a.astype(float) - b) ** 2 for a, b in zip(whole, tiled)])
    assert 10 * np.log10(255 ** 2 / mse) > 35
    # a cut before frame 2: frames 2.. are made as a clip of their own, and frames 0-1 see nothing after the cut
    other = _clip(4, 72, 100)[::-1]
    items = [(clip[0], False), (clip[1], False), (other[0], True), (other[1], False)]
    cut = list(BasicVSRUpscaler(net).upscale_stream(items))
    alone_a = list(BasicVSRUpscaler(net).upscale_stream(clip[:2]))
    alone_b = list(BasicVSRUpscaler(net).upscale_stream(other[:2]))
    for a, b in zip(cut, alone_a + alone_b):
        assert np.abs(a.astype(int) - b).max() <= 1


def test_basicvsr_any_size_and_tiny_frames():
    up = registry.get("basicvsr")
    frame = texture(20, 30)  # smaller than SpyNet's 33 px minimum: padded inside
    assert up.upscale(frame, (80, 120)).shape == (80, 120, 3)
    assert up.upscale(frame, (50, 75)).shape == (50, 75, 3)  # x2.5: x4, then Lanczos down
    with pytest.raises(ValueError, match="uint8 RGB"):
        up.upscale(frame.astype(np.float32), (40, 60))


# ------------------------------------------------------------------------------------------ EfficientNet --
def _imagenet_crop(image: np.ndarray) -> torch.Tensor:
    from PIL import Image

    im = Image.fromarray(image)
    s = 256 / min(im.size)
    im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BICUBIC)
    left, top = (im.size[0] - 224) // 2, (im.size[1] - 224) // 2
    im = im.crop((left, top, left + 224, top + 224))
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None].float() / 255


def test_efficientnet_lite0_classifies_sample_photos_and_gives_features():
    skdata = pytest.importorskip("skimage.data")
    net = registry.create("efficientnet_lite0")
    with torch.no_grad():
        cat = net(_imagenet_crop(skdata.chelsea())).argmax(1).item()
        coffee = net(_imagenet_crop(skdata.coffee())).softmax(1)[0]
        feats = net.features(_imagenet_crop(skdata.coffee()))
    assert cat in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    assert coffee.argmax().item() == 967 and coffee[967] > 0.5  # espresso
    assert {s: tuple(f.shape[1:]) for s, f in feats.items()} == {2: (16, 112, 112), 4: (24, 56, 56),
                                                                 8: (40, 28, 28), 16: (112, 14, 14)}


# --------------------------------------------------------------------------------- space-time pipelines --
def _requests(frames: list[np.ndarray], ts: list[float]) -> list[PairRequest]:
    reqs = [PairRequest(i, i + 1, frames[i], frames[i + 1], list(ts)) for i in range(len(frames) - 1)]
    reqs.append(PairRequest(len(frames) - 2, len(frames) - 1, frames[-2], frames[-1], [1.0]))  # the last frame
    return reqs


def test_two_stage_stream_makes_every_requested_frame():
    from models.pipelines.stream import upscale_requests

    clip = _clip(4, 36, 44)
    model = registry.get("basicvsr+rife")
    outs = list(upscale_requests(model, _requests(clip, [0.0, 0.5]), (72, 88)))
    assert [len(o) for o in outs] == [2, 2, 2, 1]
    assert all(f.shape == (72, 88, 3) and f.dtype == np.uint8 for o in outs for f in o)
    pair = model.upscale_pair(clip[0], clip[1], [0.0, 0.5, 1.0], (72, 88))
    assert len(pair) == 3 and pair[0].shape == (72, 88, 3)


def test_two_stage_stream_upscales_each_anchor_once_and_equals_per_pair_for_image_upscalers():
    from models.baselines.resize import Lanczos
    from models.baselines.two_stage import TwoStage
    from models.pipelines.stream import upscale_requests

    calls = []

    class Counting(Lanczos):
        def upscale(self, frame, size):
            calls.append(1)
            return super().upscale(frame, size)

    clip = _clip(5, 30, 40)
    model = TwoStage(Counting(), registry.get("dis_flow"))
    streamed = list(upscale_requests(model, _requests(clip, [0.0, 0.25, 0.5]), (60, 80)))
    assert len(calls) == 5  # one per anchor (the per-pair path would make 10)
    for req, got in zip(_requests(clip, [0.0, 0.25, 0.5]), streamed):
        want = model.upscale_pair(req.frame0, req.frame1, req.ts, (60, 80))
        assert all(np.array_equal(a, b) for a, b in zip(got, want))


# ---------------------------------------------------------------------------------------- the registry --
def test_create_without_weights_and_card_and_origin():
    fresh = registry.create("rife", pretrained=False)
    loaded = registry.get("rife")
    assert not torch.equal(fresh.net.block0.conv0[0][0].weight, loaded.net.block0.conv0[0][0].weight)
    spec = registry.spec("basicvsr+rife")
    assert "bundled weights/basicvsr.safetensors" in spec.origin() and "rife.safetensors" in spec.origin()
    card = registry.spec("rife").card_text()
    assert "MIT" in card and "sha256" in card


def test_weights_from_an_installed_package_are_found_without_importing_it(tmp_path, monkeypatch):
    from models.weights import WeightSource, resolve

    pkg = tmp_path / "fakepkg"
    (pkg / "w").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('this package must not be imported')\n")
    (pkg / "w" / "net.pth").write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path))
    src = WeightSource(package=("fakepkg", "w/net.pth"))
    assert src.configured() and resolve(src) == pkg / "w" / "net.pth"
    assert "fakepkg" not in sys.modules
    assert not WeightSource(package=("fakepkg", "w/missing.pth")).configured()
