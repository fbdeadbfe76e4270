"""``bfstvsr`` / ``bfstvsr_concat`` / ``videoinr`` / ``motif``: the residual heads on BasicVSR + RIFE — their
residual start (untrained = the ``basicvsr+rife`` frame, exactly), BasicVSR's features handed on unchanged, tiles
against one pass, training, each encoding's known answers, the shipped files and the speed bench."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import registry
from models.interfaces import PairRequest
from models.stvsr.trunk import TrunkConcatSTVSR, TrunkSTVSR
from models.stvsr.trunk_inr import TrunkMoTIF, TrunkVideoINR

HEADS = [TrunkSTVSR, TrunkConcatSTVSR, TrunkVideoINR, TrunkMoTIF]


pytestmark = pytest.mark.usefixtures("one_thread")


def _clip(n: int = 3, h: int = 36, w: int = 44) -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 6 + 3, (w + 3 * n) // 6 + 3, 3), dtype=np.uint8)
    tex = cv2.resize(small, (w + 3 * n + 12, h + 12), interpolation=cv2.INTER_CUBIC)
    return [tex[6:6 + h, 3 * k:3 * k + w].copy() for k in range(n)]


def _inputs(b: int = 2, h: int = 10, w: int = 12, hh: int = 25, ww: int = 30, n: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    f0, f1 = torch.randn(b, 64, h, w, generator=g), torch.randn(b, 64, h, w, generator=g)
    v01 = torch.randn(b, 2, h, w, generator=g)
    bases = torch.rand(n, b, 3, hh, ww, generator=g)
    return f0, f1, v01, -v01, bases


def _perturb(head: torch.nn.Module, seed: int = 1) -> None:
    """Give the zero-initialised last layers some weight (a 'trained' head)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for lin in (head.output_layer(), head.motion_head()):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * 0.05)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.05)


@pytest.mark.parametrize("cls", HEADS)
def test_untrained_head_returns_the_base_exactly(cls):
    head = cls()
    f0, f1, v01, v10, bases = _inputs()
    out = head(f0, f1, v01, v10, bases, torch.tensor([0.0, 0.4, 1.0]))
    assert out.shape == bases.shape
    assert torch.equal(out, bases)
    _perturb(head)
    assert not torch.equal(head(f0, f1, v01, v10, bases, torch.tensor([0.0, 0.4, 1.0])), bases)


@pytest.mark.parametrize("cls", HEADS)
def test_each_t_is_decoded_from_one_encoding_alone(cls):
    """decode_t depends on its own t only: one t alone equals the same t inside a list, and t reaches the output."""
    torch.manual_seed(0)
    head = cls()
    _perturb(head)
    f0, f1, v01, v10, bases = _inputs(n=1)
    base = bases[0]
    cache = head.encode(f0, f1, v01, v10, base.shape[-2:])
    a = head.decode_t(cache, base, 0.3)
    together = head(f0, f1, v01, v10, torch.stack([base, base]), torch.tensor([0.7, 0.3]))
    torch.testing.assert_close(together[1], a)
    assert (together[0] - a).abs().max() > 1e-4


def test_motion_starts_linear_along_the_spynet_flow():
    """The untrained mapper adds nothing to t' · V: a constant LR flow of (2, 1) px at x2.5 moves frame 0's payload
    by t · (5, 2.5) HR px, which the returned departure (zero) and the splat's count map show."""
    head = TrunkSTVSR()
    f0, f1, _, _, bases = _inputs(b=1, n=1)
    v01 = torch.zeros(1, 2, 10, 12)
    v01[:, 0], v01[:, 1] = 2.0, 1.0
    cache = head.encode(f0, f1, v01, -v01, bases.shape[-2:])
    torch.testing.assert_close(cache.lin_flow[0, 0], torch.full((25, 30), 5.0))
    _, motion = head.decode_t(cache, bases[0], 0.5, return_motion=True)
    assert torch.equal(motion, torch.zeros_like(motion))


@pytest.mark.parametrize("cls", HEADS)
def test_training_steps_lower_the_loss(cls):
    torch.manual_seed(0)
    head = cls()
    f0, f1, v01, v10, bases = _inputs(b=2, n=2)
    gt = (bases + 0.05 * torch.sin(torch.arange(30.0) / 3)).clamp(0, 1)  # a pattern the base lacks
    ts = torch.tensor([0.25, 0.75])
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        loss = (head(f0, f1, v01, v10, bases, ts) - gt).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.slow  # BasicVSR on a clip, twice
def test_basicvsr_features_ride_along_without_changing_the_frames():
    """upscale_stream(features=True) yields the same frames plus BasicVSR.fuse of each frame (all tiles' cores)."""
    from models.backbones.video_sr import BasicVSRUpscaler

    net = registry.get("basicvsr").net
    clip = _clip(3, 40, 48)
    plain = list(BasicVSRUpscaler(net).upscale_stream(clip))
    with_feat = list(BasicVSRUpscaler(net).upscale_stream(clip, features=True))
    tiled = list(BasicVSRUpscaler(net, tile=24, halo=12).upscale_stream(clip, features=True))
    x = torch.from_numpy(np.stack(clip)).permute(0, 3, 1, 2)[None].float() / 255
    with torch.no_grad():
        back = net.backward_features(x)
        fwd, feats = None, []
        for i in range(3):
            fwd = net.forward_feature(x[:, i], fwd, net.flow(x[:, i], x[:, i - 1]) if i else None)
            feats.append(net.fuse(back[i], fwd)[0].numpy())
    for p, (img, f), (_, ft), ref in zip(plain, with_feat, tiled, feats):
        assert np.array_equal(p, img)
        assert f.shape == (64, 40, 48) and f.dtype == np.float16
        np.testing.assert_allclose(f.astype(np.float32), ref, atol=2e-2, rtol=1e-2)
        assert np.abs(ft.astype(np.float32) - ref).mean() < 0.05 * np.abs(ref).mean()


def _pipeline(head):
    from models.stvsr.trunk_pipeline import TrunkSpaceTime

    return TrunkSpaceTime(head, registry.get("basicvsr"), registry.get("rife"))


def test_untrained_pipeline_is_basicvsr_plus_rife_exactly():
    from models.pipelines.stream import upscale_requests

    clip = _clip(3)
    reqs = lambda: [PairRequest(0, 1, clip[0], clip[1], [0.0, 0.5]),  # noqa: E731
                    PairRequest(1, 2, clip[1], clip[2], [0.0, 0.25, 1.0])]
    ours = list(upscale_requests(_pipeline(TrunkSTVSR()), reqs(), (90, 110)))
    base = list(upscale_requests(registry.get("basicvsr+rife"), reqs(), (90, 110)))
    assert [len(o) for o in ours] == [2, 3]
    for a, b in zip(ours, base):
        for x, y in zip(a, b):
            assert x.shape == (90, 110, 3) and np.array_equal(x, y)


@pytest.mark.slow  # four heads, tiled and whole
@pytest.mark.parametrize("cls", HEADS)
def test_pipeline_tiles_equal_one_pass_when_the_halo_covers_the_frame(cls):
    torch.manual_seed(0)
    head = cls()
    _perturb(head)
    clip = _clip(2, 30, 38)
    one = _pipeline(head)
    tiles = _pipeline(head)
    tiles.max_tile_pixels, tiles.halo = 40 * 40, 40  # cores of 4 LR cells, every window the whole frame
    a = one.upscale_pair(clip[0], clip[1], [0.3, 1.0], (75, 95))
    b = tiles.upscale_pair(clip[0], clip[1], [0.3, 1.0], (75, 95))
    base = registry.get("basicvsr+rife").upscale_pair(clip[0], clip[1], [0.3, 1.0], (75, 95))
    for x, y, z in zip(a, b, base):
        assert np.abs(x.astype(int) - y).max() <= 1
        assert not np.array_equal(x, z)  # the perturbed head changes the frame


@pytest.mark.parametrize("model_id, cls", [("bfstvsr", TrunkSTVSR), ("bfstvsr_concat", TrunkConcatSTVSR),
                                           ("videoinr", TrunkVideoINR), ("motif", TrunkMoTIF)])
def test_registry_reads_the_head_size_from_its_file(tmp_path, monkeypatch, model_id, cls):
    from models.weights import WeightSource, save_safetensors

    torch.manual_seed(0)
    head = cls(nf=16, refiner=8)
    _perturb(head)
    save_safetensors(head.state_dict(), tmp_path / "h.safetensors", half=True)
    monkeypatch.setattr(registry.spec(model_id), "weights", WeightSource(env_var="FRAMEFORGE_TEST_TRUNK"))
    monkeypatch.setenv("FRAMEFORGE_TEST_TRUNK", str(tmp_path / "h.safetensors"))
    model = registry.create(model_id)
    assert type(model.head) is cls and model.head.nf == 16 and model.head.config["refiner"] == 8
    for k, v in head.state_dict().items():
        torch.testing.assert_close(model.head.state_dict()[k], v.half().float())


def test_videoinr_backward_flows_follow_linear_motion():
    """Super SloMo's linear backward flows, known answer: under a constant motion a (V10 = -a) a pixel at time t came
    from p - t·a in frame 0 and goes to p + (1 - t)·a in frame 1."""
    from models.stvsr.trunk_inr import linear_backward_flows

    a = torch.tensor([3.0, -1.0]).view(1, 2, 1, 1)
    for t in (0.0, 0.3, 1.0):
        f0, f1 = linear_backward_flows(a, -a, torch.tensor(t))
        torch.testing.assert_close(f0, -t * a)
        torch.testing.assert_close(f1, (1 - t) * a)


def test_videoinr_untrained_warps_read_the_anchors_along_the_prior():
    """At x1 with V01 = (2, 0) LR px and t = 0.5 the untrained head's backward flow to frame 0 is (-1, 0): its warped
    F0 is the adapted feature one column to the left (the edge repeated); at t = 0 it is F0 itself."""
    from models.stvsr.trunk_inr import linear_backward_flows

    head = TrunkVideoINR()
    f0, f1, _, _, bases = _inputs(b=1, n=1, hh=10, ww=12)
    v01 = torch.zeros(1, 2, 10, 12)
    v01[:, 0] = 2.0
    cache = head.encode(f0, f1, v01, -v01, (10, 12))
    adapted0 = cache.lr_feat[:1]
    for t, shift in ((0.5, 1), (0.0, 0)):
        p0, p1 = linear_backward_flows(cache.v01, cache.v10, torch.tensor(t))
        w0, _ = head.warp_features(cache, p0, p1)
        want = torch.cat([adapted0[..., :1].expand(-1, -1, -1, shift), adapted0[..., :12 - shift]], -1)
        torch.testing.assert_close(w0, want, atol=1e-5, rtol=1e-5)


def test_motif_reliability_maps_known_answer():
    """A constant motion of one LR px to the right with F1 = F0 moved along it: the flows agree (psi_flow 0), the
    flow is smooth (psi_var 0) and the feature matches (psi_photo 0) except in the last column, where the warp reads
    beyond the frame; the zeroed self-motions carry zero maps."""
    from models.stvsr.trunk_inr import motion_inputs

    g = torch.Generator().manual_seed(0)
    f0 = torch.randn(1, 8, 6, 9, generator=g)
    f1 = torch.cat([f0[..., :1], f0[..., :-1]], -1)  # F1(x + 1) = F0(x)
    v01 = torch.zeros(1, 2, 6, 9)
    v01[:, 0] = 1.0
    m = motion_inputs(torch.cat([f0, f1]), torch.cat([v01, -v01]))
    assert m.shape == (2, 14, 6, 9)
    frame0 = m[0]
    assert torch.equal(frame0[:7, :, :], torch.zeros(7, 6, 9) + frame0[:7, :1, :1])  # the still motion: constants
    assert torch.equal(frame0[:5], torch.zeros(5, 6, 9))
    torch.testing.assert_close(frame0[7:9], v01[0] / 20)
    assert frame0[9, :, :-1].abs().max() < 1e-6 and frame0[9, :, -1].abs().max() > 1e-3  # psi_photo
    assert frame0[10].abs().max() < 1e-6 and frame0[11].abs().max() < 1e-6  # psi_flow, psi_var
    torch.testing.assert_close(frame0[12:14, 0, 0], torch.tensor([0.0, 1 / 8]))


@pytest.mark.slow  # the speed benchmark
def test_speed_bench_times_every_head_and_its_marginal_t(tmp_path):
    """bench.stvsr_trunk_speed on a tiny pair: a row per model and N_t, the marginal-t ratio in (0, 1) for each head,
    and a bad --models list refused with exit code 2."""
    import json

    from bench import stvsr_trunk_speed

    out = tmp_path / "speed.json"
    args = ["--lr", "12x16", "--scale", "2", "--n-t", "1,2", "--repeats", "1", "--threads", "1", "--json", str(out)]
    assert stvsr_trunk_speed.main(args + ["--models", "basicvsr+rife,videoinr,motif"]) == 0
    rows = json.loads(out.read_text())["results"]
    assert [(r["model"], r["n_t"]) for r in rows] == [(m, n) for m in ("basicvsr+rife", "videoinr", "motif")
                                                      for n in (1, 2)]
    for r in rows:
        assert r["hr"] == [24, 32] and r["wall_s"] > 0
        if r["model"] != "basicvsr+rife" and r["n_t"] == 1:
            assert 0 < r["marginal_t_over_full_forward"] < 1 and r["encode_s"] > 0 and r["decode_t_per_t_s"] > 0
    assert stvsr_trunk_speed.main(args + ["--models", "videoinr"]) == 2


@pytest.mark.parametrize("model_id, cls", [("bfstvsr", TrunkSTVSR), ("bfstvsr_concat", TrunkConcatSTVSR),
                                           ("videoinr", TrunkVideoINR), ("motif", TrunkMoTIF)])
def test_shipped_heads_load_strictly_with_their_cards(model_id, cls):
    """The bundled fp16 heads load through the registry (strict) as their class, trained (last layer no longer zero),
    and each card states its validation numbers."""
    spec = registry.spec(model_id)
    assert spec.available()
    model = registry.create(model_id)
    assert type(model.head) is cls
    assert model.head.output_layer().weight.abs().max() > 0
    card = spec.card_text()
    assert "in-between frames" in card and "vs base" in card


def test_hard_crops_pick_where_the_base_errs_and_uniform_crops_stay_uniform():
    """train.stvsr_trunk --hard-crops K: of K random crops, the one where the base frame is furthest from the truth."""
    import numpy as np

    from train.stvsr_trunk import pick_crop

    gt = torch.zeros(6, 3, 96, 96, 3, dtype=torch.uint8)
    base = gt.clone()
    base[:, :, 64:, 64:] = 200  # the base fails only in the bottom-right corner
    b = {"gt": gt, "base": base}
    rng = np.random.default_rng(0)
    hard = [pick_crop(b, [0, 1], 32, rng, candidates=16) for _ in range(20)]
    assert all(ch == cw == 32 for _, _, ch, cw in hard)
    assert all(y0 + 32 > 64 and x0 + 32 > 64 for y0, x0, _, _ in hard)  # every pick overlaps the failing corner
    uniform = [pick_crop(b, [0, 1], 32, rng) for _ in range(200)]
    assert 0.15 < np.mean([y0 + 32 > 64 and x0 + 32 > 64 for y0, x0, _, _ in uniform]) < 0.35  # (32/65)^2 = 0.24
    assert pick_crop(b, [0], 200, rng, candidates=4) == (0, 0, 96, 96)  # a window smaller than the crop: all of it
