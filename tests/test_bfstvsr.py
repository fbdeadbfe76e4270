"""BF-STVSR: the official checkpoint layout, the cached path, the ablation, the upscaler and a training step."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.stvsr.bfstvsr import BFSTVSR
from models.stvsr.concat import ConcatSTVSR
from models.stvsr.upscaler import BFSTVSRUpscaler

TINY = dict(nf=8, n_extract=1, n_trunk=1, groups=2, tmb=False, mapper_hidden=(8, 8, 16), fourier_features=8,
            bspline_features=8, decoder_hidden=(8, 8, 8, 16))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these graphs are thousands of tiny ops, and with 2 OpenMP threads on a loaded 2-core
    machine every parallel region waits for a descheduled peer (measured: one training step 0.5 s -> 30 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- the official layout, written from the official module definitions (not from our classes) -----------------
def _conv(name, cout, cin, k, bias=True):
    return [(f"{name}.weight", (cout, cin, k, k))] + ([(f"{name}.bias", (cout,))] if bias else [])


def _linear(name, cout, cin, bias=True):
    return [(f"{name}.weight", (cout, cin))] + ([(f"{name}.bias", (cout,))] if bias else [])


def _dcn(name, nf=64, g=8):
    return _conv(name, nf, nf, 3) + _conv(f"{name}.conv_offset_mask", 3 * g * 9, nf, 3)


def _pcd(p, nf=64):
    keys = []
    for s in "12":
        keys += _conv(f"{p}.L3_offset_conv1_{s}", nf, 2 * nf, 3) + _conv(f"{p}.L3_offset_conv2_{s}", nf, nf, 3)
        keys += _dcn(f"{p}.L3_dcnpack_{s}")
        for lv in ("L2", "L1"):
            keys += _conv(f"{p}.{lv}_offset_conv1_{s}", nf, 2 * nf, 3) + _conv(f"{p}.{lv}_offset_conv2_{s}", nf, 2 * nf, 3)
            keys += _conv(f"{p}.{lv}_offset_conv3_{s}", nf, nf, 3) + _dcn(f"{p}.{lv}_dcnpack_{s}")
            keys += _conv(f"{p}.{lv}_fea_conv_{s}", nf, 2 * nf, 3)
    for tmb in ("TMB_A_l1", "TMB_B_l1", "TMB_A_l2", "TMB_B_l2", "TMB_A_l3", "TMB_B_l3"):
        keys += _conv(f"{p}.{tmb}.t_process.0", 64, 1, 1, False) + _conv(f"{p}.{tmb}.t_process.2", 64, 64, 1, False)
        keys += _conv(f"{p}.{tmb}.t_process.4", 64, 64, 1, False)
        keys += _conv(f"{p}.{tmb}.f_process.0", 64, 64, 3) + _conv(f"{p}.{tmb}.f_process.2", 64, 64, 3)
    return keys


def _pyramid(p, nf=64):
    return sum((_conv(f"{p}.fea_{lv}_conv{i}", nf, nf, 3) for lv in ("L2", "L3") for i in (1, 2)), [])


def _resblocks(p, n, nf=64):
    return sum((_conv(f"{p}.{i}.conv{j}", nf, nf, 3) for i in range(n) for j in (1, 2)), [])


def _siren(p, dims, out):
    keys = [kv for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])) for kv in _linear(f"{p}.net.{i}.linear", b, a)]
    return keys + _linear(f"{p}.net.{len(dims) - 1}", out, dims[-1])


def _raft_small():
    """RAFT-small (`flow_predictor`): two SmallEncoders (instance / no norm: no keys) and the SmallUpdateBlock."""
    keys = []
    for enc, out in (("fnet", 128), ("cnet", 160)):
        p = f"flow_predictor.{enc}"
        keys += _conv(f"{p}.conv1", 32, 3, 7)
        cin = 32
        for li, dim in ((1, 32), (2, 64), (3, 96)):
            for bi in (0, 1):
                b = f"{p}.layer{li}.{bi}"
                keys += _conv(f"{b}.conv1", dim // 4, cin, 1) + _conv(f"{b}.conv2", dim // 4, dim // 4, 3)
                keys += _conv(f"{b}.conv3", dim, dim // 4, 1)
                if bi == 0 and li > 1:
                    keys += _conv(f"{b}.downsample.0", dim, cin, 1)
                cin = dim
        keys += _conv(f"{p}.conv2", out, 96, 1)
    u = "flow_predictor.update_block"
    keys += _conv(f"{u}.encoder.convc1", 96, 4 * 49, 1) + _conv(f"{u}.encoder.convf1", 64, 2, 7)
    keys += _conv(f"{u}.encoder.convf2", 32, 64, 3) + _conv(f"{u}.encoder.conv", 80, 128, 3)
    keys += sum((_conv(f"{u}.gru.conv{g}", 96, 96 + 146, 3) for g in "zrq"), [])
    keys += _conv(f"{u}.flow_head.conv1", 128, 96, 3) + _conv(f"{u}.flow_head.conv2", 2, 128, 3)
    return keys


def official_layout():
    e = "encoder"
    keys = [("alpha", (1,))] + _raft_small()
    keys += _conv(f"{e}.conv_first", 64, 3, 3) + _resblocks(f"{e}.feature_extraction", 5) + _pyramid(e)
    keys += _pcd(f"{e}.pcd_align") + _conv(f"{e}.fusion", 64, 128, 1)
    for cell in ("pcd_h", "pcd_c"):
        p = f"{e}.ConvBLSTM.forward_net.{cell}"
        keys += _pyramid(p) + _pcd(f"{p}.pcd_align") + _conv(f"{p}.fusion", 64, 128, 1)
    keys += _conv(f"{e}.ConvBLSTM.forward_net.cell_list.0.conv", 256, 128, 3)
    keys += _conv(f"{e}.ConvBLSTM.conv_1x1", 64, 128, 1) + _resblocks(f"{e}.recon_trunk", 40)
    keys += _siren("flow_imnet", [66, 64, 64, 256], 128) + [("flow_imnet.t_dilation.weight", (64, 1))]
    keys += _linear("flow_imnet.final_linear", 3, 64) + [("flow_imnet.t_res", (1,))]
    keys += _siren("imnet", [64, 64, 64, 256], 128) + _conv("imnet.coef", 64, 64, 3) + _conv("imnet.freq", 64, 64, 3)
    keys += [("imnet.phase.weight", (64, 1))] + _linear("imnet.final_linear", 64, 64)
    keys += _siren("synth_net", [198, 64, 64, 64, 256], 3)
    return keys


def _n(shape):
    return int(np.prod(shape))


def test_official_layout_counts():
    layout = official_layout()
    assert len(layout) == 678 and len({k for k, _ in layout}) == 678
    raft = sum(_n(s) for k, s in layout if k.startswith("flow_predictor."))
    total = sum(_n(s) for k, s in layout if k != "flow_imnet.t_res")
    assert raft == 990_162 and total == 13_469_513 and total - raft == 12_479_351


def test_official_checkpoint_loads_strictly():
    torch.manual_seed(0)
    fake = {k: torch.randn(s) for k, s in official_layout()}
    fake["flow_imnet.t_res"] = torch.tensor([0.5])  # must be reset to 0.125
    model = BFSTVSR()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: s for k, s in official_layout() if not k.startswith("flow_predictor.")}
    assert sum(p.numel() for p in model.parameters()) == 12_479_351
    model.load_official(fake)
    assert torch.equal(model.synth_net.net[4].weight, fake["synth_net.net.4.weight"])
    assert torch.equal(model.encoder.recon_trunk[39].conv2.bias, fake["encoder.recon_trunk.39.conv2.bias"])
    assert model.flow_imnet.t_res.item() == 0.125
    del fake["alpha"]
    with pytest.raises(RuntimeError):
        model.load_official(fake)


# ---- paths ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [BFSTVSR, ConcatSTVSR])
def test_cached_path_equals_plain_forward(cls):
    torch.manual_seed(0)
    model = cls(**TINY).eval()
    with torch.no_grad():
        model.alpha.fill_(-2.0)
        lr0, lr1 = torch.rand(2, 3, 10, 12), torch.rand(2, 3, 10, 12)  # 10 is padded to 12 inside
        cache = model.encode(lr0, lr1, (25, 31))
        for t in (0.0, 0.3, 0.5, 1.0):
            plain = model(lr0, lr1, [t], (25, 31))[0]
            assert plain.shape == (2, 3, 25, 31)
            assert torch.allclose(model.decode_t(cache, t), plain, atol=1e-5)
        several = model(lr0, lr1, [0.3, 1.0], (25, 31))
        assert torch.allclose(several[0], model.decode_t(cache, 0.3), atol=1e-5)
        model.chunk = 100  # chunked MLPs give the same numbers
        assert torch.allclose(model.decode_t(model.encode(lr0, lr1, (25, 31)), 0.3), several[0], atol=1e-5)


def test_upscaler_tiles_match_one_pass_and_keep_size():
    torch.manual_seed(0)
    model = BFSTVSR(**TINY)
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    f1 = np.roll(f0, 1, axis=1)
    whole = BFSTVSRUpscaler(model, max_tile_pixels=10 ** 7).upscale_pair(f0, f1, [0.0, 0.5], (54, 66))
    tiled = BFSTVSRUpscaler(model, max_tile_pixels=3600, halo=4).upscale_pair(f0, f1, [0.0, 0.5], (54, 66))
    assert [o.shape for o in tiled] == [(54, 66, 3)] * 2 and tiled[0].dtype == np.uint8
    for a, b in zip(whole, tiled):
        assert np.abs(a.astype(int) - b).mean() < 2.0
    with pytest.raises(ValueError):
        BFSTVSRUpscaler(model).upscale_pair(f0, f1, [1.5], (36, 44))


def _raw_rgb(model, lr0, lr1, ts, size):
    """The decoder output before the [0, 1] clamp (the clamp is the last op of ``_synthesise``)."""
    seen = []
    hook = model.synth_net.register_forward_hook(lambda m, i, o: seen.append(o))
    model(lr0, lr1, ts, size)
    hook.remove()
    return torch.cat(seen, 1)  # (B·N, Q, 3)


@pytest.mark.parametrize("cls", [BFSTVSR, ConcatSTVSR])
def test_fresh_decoder_starts_inside_the_clamp(cls):
    """Regression: with PyTorch's default RGB bias, seed 0 put all three channels below 0 on every pixel, so the
    clamp passed no gradient and the loss never moved. Every channel of a fresh model must start inside (0, 1)."""
    for seed in range(4):
        torch.manual_seed(seed)
        model = cls(**TINY)
        assert torch.equal(model.synth_net.net[-1].bias, torch.full((3,), 0.5))
        with torch.no_grad():
            raw = _raw_rgb(model, torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), [0.0, 0.5], (16, 16))
        assert raw.min() > 0.05 and raw.max() < 0.95, (seed, raw.min(), raw.max())


@pytest.mark.parametrize("cls", [BFSTVSR, ConcatSTVSR])
def test_training_steps_lower_the_loss(cls):
    from models.metrics import charbonnier

    torch.manual_seed(0)  # the seed whose decoder used to start dead
    model = cls(**TINY)
    g = torch.Generator().manual_seed(1)
    colour = torch.tensor([0.2, 0.5, 0.8]).view(1, 1, 3, 1, 1)  # a fixed batch with distinct channel levels
    lr = colour + 0.15 * torch.rand(2, 2, 3, 8, 8, generator=g)  # (B, 2 frames, 3, 8, 8)
    gt = F.interpolate(lr.flatten(0, 1), scale_factor=2, mode="bilinear").view(2, 2, 3, 16, 16)
    gt = torch.stack([gt[:, 0], 0.5 * (gt[:, 0] + gt[:, 1])])  # (N=2, B, 3, 16, 16): t = 0, 0.5
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(10):
        loss = charbonnier(model(lr[:, 0], lr[:, 1], [0.0, 0.5], (16, 16)), gt)
        opt.zero_grad()
        loss.backward()
        if step == 0:  # the gradient reaches every part of the network
            for part in (model.encoder, model.imnet, model.flow_imnet, model.synth_net):
                assert sum(p.grad.abs().sum() for p in part.parameters() if p.grad is not None) > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
