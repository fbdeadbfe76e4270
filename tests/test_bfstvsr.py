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
    from train.stvsr import charbonnier

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


def test_stopped_run_summary_comes_from_its_checkpoint_and_log(tmp_path, monkeypatch):
    """A run killed before writing summary.json can still be exported: step, kept step and wall time from last.pt,
    the kept step's validation numbers from log.jsonl, and the recorded command without the --export flag."""
    import argparse
    import json
    import sys

    import train.stvsr as ts

    ck = {"step": torch.tensor(400), "best_step": torch.tensor(200), "wall": torch.tensor(1167.5)}
    torch.save(ck, tmp_path / "last.pt")
    log = [{"step": s, "loss": 0.1, "val_anchor": a, "val_mid": m, "val_all": (2 * a + m) / 3}
           for s, a, m in ((100, 22.0, 21.0), (200, 24.0, 23.5), (300, 22.5, 22.0))]
    log.insert(1, {"step": 150, "loss": 0.1})
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    monkeypatch.setattr(ts, "val_set", lambda cache: [])
    monkeypatch.setattr(ts, "lanczos_reference", lambda vals: {"lanczos_anchor": 32.0, "lanczos_blend_mid": 26.0})
    argv = ["--model", "concat", "--steps", "20000", "--out", str(tmp_path), "--export", "bfstvsr_concat"]
    monkeypatch.setattr(sys, "argv", ["train.stvsr"] + argv)
    args = argparse.Namespace(model="concat", out=str(tmp_path), batch=2, n_t=3, lr_patch=24,
                              x4_frac=0.7, tf_frac=0.3, flow_weight=0.1)
    summary = ts.summary_from_log(args)
    assert (summary["step"], summary["best_step"], summary["wall_s"]) == (400, 200, 1167.5)
    assert summary["best"] == {"val_anchor": 24.0, "val_mid": 23.5, "val_all": (48.0 + 23.5) / 3}
    assert "--export" not in summary["command"] and "--steps 20000" in summary["command"]
    assert summary["model"] == "concat" and summary["reference"]["lanczos_anchor"] == 32.0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


@pytest.mark.parametrize("cls", [BFSTVSR, ConcatSTVSR])
def test_activation_stats_hook_every_sine_layer_and_leave_none_behind(cls):
    from bench.stvsr_activations import PARTS, activation_stats
    from models.ops.siren import SineLayer

    torch.manual_seed(0)
    model = cls(**TINY)
    lr = torch.rand(1, 2, 3, 8, 8)
    gt = torch.rand(2, 1, 3, 16, 16)
    stats = activation_stats(model, lr, gt, torch.tensor([[0.0, 0.5]]))
    sines = [n for n, m in model.named_modules() if isinstance(m, SineLayer)]
    assert sorted(stats["sine_layers"]) == sorted(sines) and len(sines) == 10
    for s in stats["sine_layers"].values():
        assert 0 < s["out"] <= 1.0 and s["preact"] > 0  # sin output is bounded by 1
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed
    assert set(stats["grad_norm"]) == set(PARTS) and all(v > 0 for v in stats["grad_norm"].values())
    assert stats["target_std"] == pytest.approx(gt.std().item())


def test_validation_teacher_flows_follow_a_known_shift():
    """DIS flows from each end frame to each frame of a window: a texture moving 1 px right per frame gives
    +1 / +2 px from frame 0 and -1 / -2 px from the last frame (x channel first), 0 in y, 0 to itself."""
    from train.stvsr import window_teacher_flows

    rng = np.random.default_rng(0)
    tex = torch.from_numpy(rng.random((3, 64, 80))).float()
    tex = F.avg_pool2d(tex[None], 5, 1, 2)[0]  # smooth enough for DIS
    frames = torch.stack([torch.roll(tex, k, dims=-1) for k in range(3)])[:, None]  # (N=3, 1, 3, H, W)
    flow = window_teacher_flows(frames)
    assert flow.shape == (2, 1, 3, 2, 64, 80)
    inner = flow[..., 12:-12, 12:-12].mean((-1, -2))  # (2, 1, 3, 2)
    want_x = torch.tensor([[0.0, 1.0, 2.0], [-2.0, -1.0, 0.0]])
    assert torch.allclose(inner[:, 0, :, 0], want_x, atol=0.25), inner[:, 0, :, 0]
    assert inner[:, 0, :, 1].abs().max() < 0.25
