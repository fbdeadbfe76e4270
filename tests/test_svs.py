"""Singular Value Scaling: the op against known answers, the DDPM / StyleGAN2 parameter rules, the spectrum
pipeline, generator loading and the Compression tab's handler."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from models.pipelines.svs_spectrum import (COLUMNS, default_layers, effective_rank, list_layers, svs_spectrum)
from models.svs import apply_svs, scale_bias, singular_value_scale, spectrum
from models.pipelines.compress import load_generator
from models.svs.generators import BUNDLED_DIR
from models.weights import WeightsUnavailable

torch.set_num_threads(1)


def small_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=8)


# --------------------------------------------------------------------------------------------------- the op
def test_diagonal_known_answer():
    w = torch.diag(torch.tensor([4.0, 9.0, 16.0]))
    out = singular_value_scale(w)
    assert torch.allclose(out, torch.diag(torch.tensor([2.0, 3.0, 4.0])), atol=1e-6)
    assert out.dtype == torch.float32


def test_rotated_diagonal_known_answer():
    q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    s = torch.tensor([100.0, 25.0, 1.0, 0.25, 0.01], dtype=torch.float64)
    w = q @ torch.diag(s) @ q.T
    assert torch.allclose(singular_value_scale(w), q @ torch.diag(s.sqrt()) @ q.T, atol=1e-10)


def test_conv_weight_keeps_vectors_and_shape():
    w = torch.randn(12, 6, 3, 3, generator=torch.Generator().manual_seed(0)) * 3
    out = singular_value_scale(w)
    assert out.shape == w.shape and out.dtype == w.dtype
    m0, m1 = w.reshape(12, -1).double(), out.reshape(12, -1).double()
    u0, s0, v0 = torch.linalg.svd(m0, full_matrices=False)
    u1, s1, v1 = torch.linalg.svd(m1, full_matrices=False)
    assert torch.allclose(s1, s0.sqrt(), rtol=1e-5)
    # singular vectors equal up to sign (the spectrum is distinct for a random matrix)
    assert torch.allclose((u0 * u1).sum(0).abs(), torch.ones(12, dtype=torch.float64), atol=1e-4)
    assert torch.allclose((v0 * v1).sum(1).abs(), torch.ones(12, dtype=torch.float64), atol=1e-4)
    # no renormalisation: sigma_max^2 of the result equals the original sigma_max
    assert spectrum(out)[0] ** 2 == pytest.approx(spectrum(w)[0], rel=1e-5)


def test_wide_linear_and_half_precision():
    w = torch.randn(4, 10).half()
    out = singular_value_scale(w)
    assert out.dtype == torch.float16 and out.shape == (4, 10)
    np.testing.assert_allclose(spectrum(out), np.sqrt(spectrum(w)), rtol=2e-3)


def test_one_dim_weight_refused():
    with pytest.raises(ValueError, match=">= 2 dims"):
        singular_value_scale(torch.ones(3))


def test_bias_rule():
    b = torch.tensor([3.0, 4.0])                      # ||b|| = 5
    out = scale_bias(b)
    assert torch.allclose(out, b / np.sqrt(5.0 + 1e-8))
    assert out.norm().item() == pytest.approx(np.sqrt(5.0), rel=1e-6)
    big = torch.randn(64, generator=torch.Generator().manual_seed(2)) * 10
    assert scale_bias(big).norm().item() == pytest.approx(big.norm().sqrt().item(), rel=1e-6)
    assert torch.equal(scale_bias(torch.zeros(4)), torch.zeros(4))


def test_effective_rank():
    assert effective_rank(np.array([5.0, 0, 0])) == pytest.approx(1.0)
    assert effective_rank(np.ones(7)) == pytest.approx(7.0)


# --------------------------------------------------------------------------------------------------- rules
def test_apply_svs_ddpm_rule_on_unet():
    model = small_unet()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.add_(0.5)                         # so the reset to (1, 0) is visible
    before = copy.deepcopy(model)
    convlin = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    norms = {n: m for n, m in model.named_modules() if isinstance(m, nn.GroupNorm)}
    report = apply_svs(model, rule="ddpm")

    assert sorted(report.scaled_weights) == sorted(f"{n}.weight" for n in convlin)
    assert sorted(report.scaled_biases) == sorted(f"{n}.bias" for n in convlin if convlin[n].bias is not None)
    assert any("to_q" in n for n in report.scaled_weights) and any("to_out.0" in n for n in report.scaled_weights)
    assert any("time_embedding.linear_1" in n for n in report.scaled_weights)
    assert sorted(report.reset_norms) == sorted(norms)
    assert all("norm" in n for n in report.skipped) and len(report.skipped) == 2 * len(norms)
    assert report.total_params == sum(p.numel() for p in model.parameters())
    assert report.scaled_params == sum(convlin[n].weight.numel() + (convlin[n].bias.numel() if convlin[n].bias
                                       is not None else 0) for n in convlin)
    for n, m in norms.items():
        assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    old = dict(before.named_parameters())
    for n, p in model.named_parameters():
        if n in report.scaled_weights:
            np.testing.assert_allclose(spectrum(p), np.sqrt(spectrum(old[n])), rtol=1e-4, atol=1e-6)
        elif n in report.scaled_biases:
            assert torch.allclose(p, scale_bias(old[n]))
    for (n, b0), (_, b1) in zip(before.named_buffers(), model.named_buffers()):
        assert torch.equal(b0, b1), n


def test_apply_svs_ddpm_without_norm_reset_keeps_norms():
    model = small_unet()
    with torch.no_grad():
        model.conv_norm_out.weight.fill_(2.0)
    report = apply_svs(model, rule="ddpm", reset_norms=False)
    assert report.reset_norms == [] and torch.all(model.conv_norm_out.weight == 2.0)


class _Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c, c, 3, 3))
        self.bias = nn.Parameter(torch.randn(c))
        self.noise_strength = nn.Parameter(torch.tensor([0.1]))
        self.affine = nn.Linear(8, c)
        nn.init.ones_(self.affine.bias)


class _Synthesis(nn.Module):
    def __init__(self):
        super().__init__()
        self.const = nn.Parameter(torch.randn(1, 4, 4, 4))
        self.b4 = nn.Module()
        self.b4.conv1 = _Layer(4)
        self.b4.torgb = _Layer(4)


class _G(nn.Module):
    def __init__(self):
        super().__init__()
        self.mapping = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
        self.synthesis = _Synthesis()


def test_apply_svs_stylegan2_rule():
    torch.manual_seed(0)
    g = _G()
    before = copy.deepcopy(g)
    report = apply_svs(g, rule="stylegan2", include_torgb=False)
    assert sorted(report.scaled_weights) == ["synthesis.b4.conv1.affine.weight", "synthesis.b4.conv1.weight"]
    assert sorted(report.scaled_biases) == ["synthesis.b4.conv1.affine.bias", "synthesis.b4.conv1.bias"]
    # affine bias initialised to 1 is scaled too: ones(4) / sqrt(2)
    assert torch.allclose(g.synthesis.b4.conv1.affine.bias, torch.full((4,), 1 / np.sqrt(2.0)), atol=1e-6)
    old = dict(before.named_parameters())
    for n, p in g.named_parameters():
        if n not in report.scaled:
            assert torch.equal(p, old[n]), n          # mapping, const, noise_strength, torgb untouched
    g2 = _G()
    assert "synthesis.b4.torgb.weight" in apply_svs(g2, rule="stylegan2").scaled_weights


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown SVS rule"):
        apply_svs(nn.Linear(2, 2), rule="vit")


# --------------------------------------------------------------------------------------------------- pipeline
def test_svs_spectrum_leaves_model_and_writes_png(tmp_path):
    model = small_unet()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    names = list_layers(model)
    assert "conv_in" in names and "conv_out" in names and any(n.endswith("to_q") for n in names)
    assert not any("norm" in n for n in names)
    chosen = [names[0], next(n for n in names if n.endswith("to_k"))]
    res = svs_spectrum(model, chosen, figure_path=tmp_path / "s.png")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    png = res.figure_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert [r[0] for r in res.rows] == chosen and all(len(r) == len(COLUMNS) for r in res.rows)
    w = model.conv_in.weight
    row = res.rows[0]
    assert row[1] == "8x1x3x3" and row[2] == w.numel()
    s = spectrum(w)
    assert row[3] == pytest.approx(s[0], abs=1e-4) and row[4] == pytest.approx(np.sqrt(s[0]), abs=1e-4)
    assert row[5] == pytest.approx(float(w.detach().norm()), abs=1e-3)
    assert res.total_params == sum(p.numel() for p in model.parameters())
    assert 0 < res.scaled_params < res.total_params
    # comma-separated layers and the default set
    assert [r[0] for r in svs_spectrum(model, ", ".join(chosen), top_k=3).rows] == chosen
    assert [r[0] for r in svs_spectrum(model, None).rows] == default_layers(model)
    with pytest.raises(ValueError, match="unknown layer"):
        svs_spectrum(model, ["conv_in", "nope"])


# --------------------------------------------------------------------------------------------------- loading
def test_bundled_generator_loads():
    if not (BUNDLED_DIR / "diffusion_pytorch_model.safetensors").is_file():
        pytest.skip(f"bundled weights absent at {BUNDLED_DIR}")
    model = load_generator("bundled")
    assert model.config.sample_size == 32 and model.config.in_channels == 1
    assert next(model.parameters()).dtype == torch.float32
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6
    with torch.no_grad():
        eps = model(torch.zeros(1, 1, 32, 32), torch.tensor([500])).sample
    assert eps.shape == (1, 1, 32, 32) and torch.isfinite(eps).all()


def test_local_folder_round_trip(tmp_path):
    model = small_unet()
    model.save_pretrained(tmp_path / "pipe" / "unet")
    loaded = load_generator(str(tmp_path / "pipe"), roots=[tmp_path])  # found in the unet/ subfolder
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_missing_sources_give_clear_errors(tmp_path):
    allowed, outside = tmp_path / "models", tmp_path / "elsewhere"
    allowed.mkdir()
    outside.mkdir()
    small_unet().save_pretrained(outside / "real")
    with pytest.raises(ValueError, match="empty source"):
        load_generator("  ", roots=[allowed])
    messages = []
    for path in (outside / "real", outside / "missing", "/etc/shadow", "/root/.ssh", str(allowed / ".." / "elsewhere")):
        with pytest.raises(ValueError) as info:
            load_generator(str(path), roots=[allowed])
        messages.append(str(info.value).replace(repr(str(path)), "<source>"))
    assert len(set(messages)) == 1 and "FRAMEFORGE_MODELS_DIRS" in messages[0]  # no oracle: one message for all
    with pytest.raises(ValueError, match="not a folder under"):
        load_generator(str(allowed / "missing"), roots=[allowed])
    (allowed / "empty").mkdir()
    with pytest.raises(WeightsUnavailable, match="tried"):
        load_generator(str(allowed / "empty"), roots=[allowed])  # exists but holds no model
    with pytest.raises(ValueError, match="longer than"):
        load_generator("a/" + "b" * 400, roots=[allowed])


def test_hub_id_offline_gives_clear_error():
    import huggingface_hub.constants as hf_constants

    assert hf_constants.HF_HUB_OFFLINE  # tests/conftest.py sets HF_HUB_OFFLINE before huggingface_hub is imported
    with pytest.raises(WeightsUnavailable) as info:
        load_generator("frameforge-test/no-such-ddpm")
    msg = str(info.value)
    assert msg.startswith("Hub download of frameforge-test/no-such-ddpm failed") and "HF_HUB_OFFLINE" in msg


# --------------------------------------------------------------------------------------------------- the tab
def test_tab_handler(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("FRAMEFORGE_MODELS_DIRS", str(tmp_path))
    from demos import compression
    from models import settings

    settings.reload()

    model = small_unet()
    folder = tmp_path / "m"
    model.save_pretrained(folder)
    image, table, summary = compression.svs_spectrum(str(folder), "conv_in, conv_out")
    assert Path(image).is_file() and Path(image).suffix == ".png"
    assert [r[0] for r in table] == ["conv_in", "conv_out"]
    assert f"{sum(p.numel() for p in model.parameters()):,} parameters" in summary
    import gradio as gr

    with pytest.raises(gr.Error):
        compression.svs_spectrum(str(folder), ["no_such_layer"])
