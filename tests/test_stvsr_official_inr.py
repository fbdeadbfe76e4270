"""VideoINR, MoTIF and RAFT-small: the official checkpoint layouts (strict loads, exact parameter counts) and
forwards on tiny inputs."""
import numpy as np
import pytest
import torch

from models.backbones.raft_small import CorrPyramid, RAFTSmall
from models.stvsr.motif import MoTIF
from models.stvsr.videoinr import VideoINR
from test_bfstvsr import _conv, _pcd, _pyramid, _resblocks, _siren, official_layout


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _n(shape):
    return int(np.prod(shape))


def _top(keys):
    """Helpers called with an empty prefix give '.name'; the official VideoINR keys sit at the top level."""
    return [(k.lstrip("."), s) for k, s in keys]


# ---- official layouts, written from the official module definitions (not from our classes) -----------------
def raft_small_layout():
    """RAFT-small alone: BF-STVSR's ``flow_predictor.*`` keys without the prefix."""
    p = "flow_predictor."
    return [(k[len(p):], s) for k, s in official_layout() if k.startswith(p)]


def _pcd_no_tmb(p):
    return [(k, s) for k, s in _pcd(p) if ".TMB_" not in k]


def videoinr_layout():
    """Sakuya_arch.LunaTokis(64, 6, 8, 5, 40): the Zooming-SlowMo encoder at the top level (PCD_Align without
    TMBs), the unused upsampler convs, and the three SIRENs (hidden [64, 64, 256] / [64, 64, 256, 256])."""
    keys = _conv("conv_first", 64, 3, 3) + _resblocks("feature_extraction", 5) + _top(_pyramid(""))
    keys += _pcd_no_tmb("pcd_align") + _conv("fusion", 64, 128, 1)
    for cell in ("pcd_h", "pcd_c"):
        p = f"ConvBLSTM.forward_net.{cell}"
        keys += _pyramid(p) + _pcd_no_tmb(f"{p}.pcd_align") + _conv(f"{p}.fusion", 64, 128, 1)
    keys += _conv("ConvBLSTM.forward_net.cell_list.0.conv", 256, 128, 3) + _conv("ConvBLSTM.conv_1x1", 64, 128, 1)
    keys += _resblocks("recon_trunk", 40)
    keys += _conv("upconv1", 256, 64, 3) + _conv("upconv2", 256, 64, 3) + _conv("HRconv", 64, 64, 3)
    keys += _conv("conv_last", 3, 64, 3)
    keys += _siren("feat_imnet", [201, 64, 64, 256], 64) + _siren("flow_imnet", [263, 64, 64, 256], 4)
    keys += _siren("encode_imnet", [525, 64, 64, 256, 256], 3)
    return keys


def motif_layout():
    """Ours.LunaTokis(setting=5): BF-STVSR's encoder (ZSM_encoder with TMBs) and RAFT-small, SIREN flow_imnet
    67 -> 3 and imnet 66 -> 64, the 198-input synth_net, flow_process (groups=2 convs + 5 LateralBlocks),
    g_filter, and the unused norm_gamma / norm_beta / shuffle."""
    keys = [(k, s) for k, s in official_layout() if k.split(".")[0] in ("alpha", "flow_predictor", "encoder")]
    keys += _siren("flow_imnet", [67, 64, 64, 256], 3) + _siren("imnet", [66, 64, 64, 256], 64)
    keys += _siren("synth_net", [198, 64, 64, 64, 256], 3)
    keys += _conv("flow_process.0", 64, 7, 3) + _conv("flow_process.1", 64, 32, 3)  # groups=2: 14/2, 64/2 in
    for i in range(3, 8):
        keys += _conv(f"flow_process.{i}.layers.0", 64, 64, 3) + _conv(f"flow_process.{i}.layers.2", 64, 64, 3)
    keys += _conv("flow_process.9", 64, 64, 3)
    keys += [("norm_gamma", (1, 3, 1)), ("norm_beta", (1, 3, 1)), ("g_filter", (1, 1, 1, 3, 3))]
    keys += _conv("shuffle", 64, 64, 1)
    return keys


LAYOUTS = {"raft": (raft_small_layout, RAFTSmall, 990_162), "videoinr": (videoinr_layout, VideoINR, 11_312_698),
           "motif": (motif_layout, MoTIF, 13_775_768)}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_official_layout_loads_strictly(name):
    layout_fn, cls, total = LAYOUTS[name]
    layout = layout_fn()
    assert len({k for k, _ in layout}) == len(layout)
    assert sum(_n(s) for _, s in layout) == total
    torch.manual_seed(0)
    model = cls()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == dict(layout)
    assert sum(p.numel() for p in model.parameters()) == total
    fake = {k: torch.randn(s) for k, s in layout}
    load = getattr(model, "load_official", lambda sd: model.load_state_dict(sd, strict=True))
    load(fake)
    for k in (layout[0][0], layout[-1][0]):
        assert torch.equal(model.state_dict()[k], fake[k])
    del fake[layout[len(layout) // 2][0]]
    with pytest.raises(RuntimeError):
        load(fake)


def test_official_layouts_share_their_parts_value_for_value():
    """The official checkpoints share networks under the same names: BF-STVSR's ``flow_predictor.*`` is RAFT-small
    (106 keys), MoTIF holds it and BF-STVSR's 534 ``encoder.*`` keys (and ``alpha``), VideoINR holds that encoder at
    the top level without its 3 x 42 TMB keys. One fake BF-STVSR checkpoint's tensors, strictly loaded into our
    RAFTSmall, MoTIF and VideoINR, arrive value for value, and the two RAFTs compute the same flow."""
    torch.manual_seed(0)
    bf = {k: torch.randn(s) * 0.05 for k, s in official_layout()}
    p = "flow_predictor."
    raft = RAFTSmall().eval()
    raft.load_state_dict({k[len(p):]: v for k, v in bf.items() if k.startswith(p)}, strict=True)
    shared = [k for k, _ in motif_layout() if k.split(".")[0] in ("alpha", "flow_predictor", "encoder")]
    assert len(shared) == 1 + 106 + 534
    motif = MoTIF().eval()
    motif.load_official({k: bf[k] if k in shared else torch.randn(s) * 0.05 for k, s in motif_layout()})
    got = motif.state_dict()
    assert all(torch.equal(got[k], bf[k]) for k in shared)
    encoder = {k[len("encoder."):]: v for k, v in bf.items() if k.startswith("encoder.") and ".TMB_" not in k}
    vinr = VideoINR().eval()
    vinr.load_official({k: encoder[k] if k in encoder else torch.randn(s) * 0.05 for k, s in videoinr_layout()})
    got = vinr.state_dict()
    assert len(encoder) == 534 - 3 * 42 and all(torch.equal(got[k], v) for k, v in encoder.items())
    img0 = torch.rand(1, 3, 32, 48) * 255
    img1 = torch.roll(img0, 2, dims=-1)
    with torch.no_grad():
        flow = raft(img0, img1, iters=2)
        assert torch.equal(motif.flow_predictor(img0, img1, iters=2), flow) and flow.abs().sum() > 0


# ---- RAFT-small -------------------------------------------------------------------------------------------------
def test_raft_small_forward_shape():
    torch.manual_seed(0)
    raft = RAFTSmall().eval()
    img1 = torch.rand(2, 3, 32, 48) * 255
    img2 = torch.roll(img1, 2, dims=-1)
    with torch.no_grad():
        flows = raft(img1, img2, iters=3, return_all=True)
        last = raft(img1, img2, iters=3)
    assert len(flows) == 3 and flows[-1].shape == (2, 2, 32, 48) and torch.isfinite(flows[-1]).all()
    assert torch.allclose(last, flows[-1])
    with pytest.raises(ValueError):
        raft(img1[..., :30], img2[..., :30])


def test_correlation_lookup_follows_the_official_window_order():
    """Level 0 at zero flow: window cell (i, j) holds <g1(p), g2(p + (d_i, d_j))> / sqrt(D) with d_i moving x (the
    official meshgrid order), 0 outside the image."""
    torch.manual_seed(0)
    f1, f2 = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    coords = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")[::-1])[None]
    corr = CorrPyramid(f1, f2)(coords)  # (1, 196, 8, 8)
    assert corr.shape == (1, 4 * 49, 8, 8)
    y, x = 3, 4
    for i, j in ((0, 6), (2, 3), (5, 1), (6, 6)):
        dx, dy = i - 3, j - 3
        want = (f1[0, :, y, x] * f2[0, :, y + dy, x + dx]).sum() / 2.0 if 0 <= x + dx < 8 and 0 <= y + dy < 8 else 0.0
        assert float(corr[0, i * 7 + j, y, x]) == pytest.approx(float(want), abs=1e-5)


# ---- forwards ---------------------------------------------------------------------------------------------------
def test_videoinr_forward_tiny():
    torch.manual_seed(0)
    model = VideoINR().eval()
    lr0, lr1 = torch.rand(1, 3, 16, 20), torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        out = model(lr0, lr1, [0.0, 0.5, 1.0], (32, 40))
        assert out.shape == (3, 1, 3, 32, 40) and torch.isfinite(out).all()
        assert 0 <= out.min() and out.max() <= 1
        feat, inp = model.encode(lr0, lr1)  # the chunked decoder gives the same numbers
        full = model.decode(feat, inp, torch.tensor([0.5]), (32, 40))
        model.chunk = 300
        assert torch.allclose(model.decode(feat, inp, torch.tensor([0.5]), (32, 40)), full, atol=1e-5)
        assert torch.allclose(full.clamp(0, 1), out[1], atol=1e-5)


def test_motif_forward_tiny_and_cached_path():
    torch.manual_seed(0)
    model = MoTIF().eval()
    lr0 = torch.rand(1, 3, 16, 20)
    lr1 = torch.roll(lr0, 1, dims=-1)
    with torch.no_grad():
        model.alpha.fill_(-2.0)
        out = model(lr0, lr1, [0.0, 0.5, 1.0], (32, 40))
        assert out.shape == (3, 1, 3, 32, 40) and torch.isfinite(out).all()
        assert 0 <= out.min() and out.max() <= 1
        cache = model.encode(lr0, lr1, (32, 40))
        assert cache.geo.context.shape == (2, 64, 16, 20)
        assert torch.allclose(model.decode_t(cache, 0.5), out[1], atol=1e-4)


@pytest.mark.parametrize("model_id,layout,var", [("videoinr_official", videoinr_layout, "FRAMEFORGE_VIDEOINR_CKPT"),
                                                 ("motif_official", motif_layout, "FRAMEFORGE_MOTIF_CKPT")])
def test_official_checkpoint_from_a_local_file_through_the_registry(model_id, layout, var, tmp_path, monkeypatch):
    """Offered only once its file is named; a flat state_dict (``module.`` prefixed, as saved from DataParallel)
    loads with weights_only and the model makes frames of the requested size at any t."""
    from models import registry

    monkeypatch.delenv(var, raising=False)
    assert model_id not in registry.ids("stvsr", available_only=True)
    torch.manual_seed(0)
    state = {"module." + k: torch.randn(s) * 0.02 for k, s in layout()}
    torch.save(state, tmp_path / "ckpt.pth")
    monkeypatch.setenv(var, str(tmp_path / "ckpt.pth"))
    assert model_id in registry.ids("stvsr", available_only=True)
    model = registry.create(model_id)
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    f1 = np.roll(f0, 1, axis=1)
    out = model.upscale_pair(f0, f1, [0.0, 0.5, 1.0], (32, 40))
    assert [o.shape for o in out] == [(32, 40, 3)] * 3 and all(o.dtype == np.uint8 for o in out)
    with pytest.raises(ValueError, match="times must lie"):
        model.upscale_pair(f0, f1, [1.5], (32, 40))
