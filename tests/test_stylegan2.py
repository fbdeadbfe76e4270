"""The StyleGAN2 generator in rosinality's layout: the official 256 px config-f keys and shapes, a known answer
against rosinality's model code (``tests/fixtures/stylegan2_reference.npz``, made by
``make_stylegan2_reference.py``), the FIR resampling, channel pruning and SVS's StyleGAN2 rule on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.svs import apply_svs, spectrum
from models.svs.stylegan2 import Generator, fir_kernel, generator_from_state, prune_generator, upfirdn2d

torch.set_num_threads(1)
REF = np.load(Path(__file__).parent / "fixtures" / "stylegan2_reference.npz")


def test_official_256_layout_keys_and_shapes():
    g = Generator(256)  # FFHQ-256 config-f: style 512, 8 mapping layers, channel multiplier 2
    mine = [(k, ",".join(map(str, v.shape))) for k, v in g.state_dict().items()]
    assert mine == list(zip(REF["keys"].tolist(), REF["shapes"].tolist()))
    assert sum(p.numel() for p in g.parameters()) == 30_034_338  # the paper's 30.0M


def _reference_state():
    return {k[len("state/"):]: torch.from_numpy(REF[k]) for k in REF.files if k.startswith("state/")}


def test_known_answer_against_rosinality_code():
    g = generator_from_state(_reference_state()).eval()
    assert g.config["conv_widths"] == [16] * 7 and g.size == 32
    with torch.no_grad():
        out = g(torch.from_numpy(REF["z"]), randomize_noise=False)
    np.testing.assert_allclose(out.numpy(), REF["out"], atol=1e-4)


def test_fir_resampling_keeps_constants_and_sizes():
    x = torch.ones(1, 2, 8, 8)
    up = upfirdn2d(x, fir_kernel() * 4, up=2, pad=(2, 1))
    assert up.shape == (1, 2, 16, 16)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))  # interior of a constant stays constant
    blurred = upfirdn2d(x, fir_kernel(), pad=(1, 2))
    assert blurred.shape == (1, 2, 8, 8) and torch.allclose(blurred[..., 2:-2, 2:-2], torch.ones(1, 2, 4, 4))
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[0, 0, 2, 2] = 1
    k = torch.arange(16.0).view(4, 4)
    out = upfirdn2d(impulse, k, pad=(2, 1))  # a true convolution: the impulse response is the kernel itself
    assert torch.equal(out[0, 0, 1:5, 1:5], k)


def test_pruning_slices_every_consumer_and_round_trips():
    torch.manual_seed(0)
    g = Generator(32, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 16}, img_channels=1).eval()
    z = torch.randn(2, 32)
    same, kept = prune_generator(g, 0.0)
    with torch.no_grad():
        assert torch.equal(same(z, randomize_noise=False), g(z, randomize_noise=False))
    pruned, kept = prune_generator(g, 0.5)
    assert pruned.config["conv_widths"] == [16, 16, 16, 8, 8, 8, 8]  # ceil(0.5 C) per conv
    assert sum(p.numel() for p in pruned.parameters()) < 0.5 * sum(p.numel() for p in g.parameters())
    back = generator_from_state(pruned.state_dict()).eval()
    with torch.no_grad():
        assert torch.equal(back(z, randomize_noise=False), pruned(z, randomize_noise=False))
    # the conv keeps its highest-L1 filters
    w = g.conv1.conv.weight.abs().sum((0, 2, 3, 4))
    assert set(kept[0]) == set(torch.topk(w, 16).indices.tolist())


def test_svs_stylegan2_rule_on_the_rosinality_layout():
    torch.manual_seed(0)
    g = Generator(16, style_dim=16, n_mlp=2, channels={4: 16, 8: 16, 16: 16})
    before = {k: v.clone() for k, v in g.state_dict().items()}
    report = apply_svs(g, "stylegan2", include_torgb=False)
    after = g.state_dict()
    for k in ("style.1.weight", "input.input", "conv1.noise.weight", "to_rgb1.conv.weight", "noises.noise_0"):
        assert torch.equal(before[k], after[k]), k  # mapping, const, noise, to-RGB (not asked), buffers
    for k in ("conv1.conv.weight", "convs.0.conv.modulation.weight"):
        np.testing.assert_allclose(spectrum(after[k][0] if after[k].ndim == 5 else after[k]),
                                   np.sqrt(spectrum(before[k][0] if before[k].ndim == 5 else before[k])),
                                   rtol=1e-4)
    assert "convs.1.activate.bias" in report.scaled_biases and "convs.0.conv.modulation.bias" in report.scaled_biases
    with_rgb = apply_svs(Generator(16, style_dim=16, n_mlp=2, channels={4: 16, 8: 16, 16: 16}), "stylegan2")
    assert "to_rgb1.conv.weight" in with_rgb.scaled_weights
    with pytest.raises(ValueError, match="power of two"):
        Generator(48)


def test_a_rosinality_checkpoint_loads_through_the_registry(tmp_path, monkeypatch):
    """rosinality saves {"g", "d", "g_ema", "g_optim", "d_optim", "args"}; g_ema is read weights-only."""
    import argparse

    from models import registry

    state = _reference_state()
    ckpt = {"g": state, "g_ema": state, "d": {}, "args": argparse.Namespace(size=32, latent=64)}
    torch.save(ckpt, tmp_path / "550000.pt")
    monkeypatch.setenv("FRAMEFORGE_STYLEGAN2", str(tmp_path / "550000.pt"))
    g = registry.create("stylegan2_official")
    with torch.no_grad():
        out = g(torch.from_numpy(REF["z"]), randomize_noise=False)
    np.testing.assert_allclose(out.numpy(), REF["out"], atol=1e-4)

    class Payload:  # anything but plain data is refused
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"g_ema": state, "x": Payload()}, tmp_path / "evil.pt")
    monkeypatch.setenv("FRAMEFORGE_STYLEGAN2", str(tmp_path / "evil.pt"))
    with pytest.raises(ValueError, match="weights-only"):
        registry.create("stylegan2_official")


def test_lab_compresses_a_stylegan2_generator(tmp_path, monkeypatch):
    import zipfile

    from models import registry
    from models.pipelines import compress as lab
    from models.pipelines.svs_spectrum import svs_spectrum

    g = generator_from_state(_reference_state()).eval()
    with pytest.raises(ValueError, match="filter L1"):
        lab.compress(g, 0.5, "taylor", archive=tmp_path / "x.zip")
    result = lab.compress(g, 0.5, "l1", svs=True, archive=tmp_path / "g_p50.zip")
    assert result.prune.params_after < result.prune.params_before
    assert result.prune.macs_after < result.prune.macs_before
    assert result.svs.rule == "stylegan2" and "style.1.weight" in result.svs.skipped
    with zipfile.ZipFile(result.archive) as zf:
        assert zf.namelist() == ["g_p50.safetensors"]
        zf.extractall(tmp_path)
    monkeypatch.setenv("FRAMEFORGE_STYLEGAN2", str(tmp_path / "g_p50.safetensors"))
    back = registry.create("stylegan2_official")
    assert back.config["conv_widths"] == [8] * 7
    z = torch.randn(2, 64)
    with torch.no_grad():
        assert torch.allclose(back(z, randomize_noise=False), result.model(z, randomize_noise=False), atol=5e-2)
    grids = lab.sample_grids({"teacher": g, "pruned": result.pruned}, n=4)
    assert grids["teacher"].shape == (2 + 34, 2 + 4 * 34, 3) and not np.array_equal(grids["teacher"], grids["pruned"])
    spec = svs_spectrum(result.pruned, None, rule="stylegan2", figure_path=tmp_path / "s.png")
    assert spec.rows and (tmp_path / "s.png").is_file()


def test_adversarial_weight_schedule():
    from train.stylegan2_mnist import adv_schedule

    assert adv_schedule(1, 0.1) == 0.1  # from the first step, at once
    assert adv_schedule(5, 0.1, start=5, ramp=10) == 0.0  # not before (or at) the start
    assert adv_schedule(10, 0.1, start=5, ramp=10) == pytest.approx(0.05)  # half-way up the ramp
    assert adv_schedule(100, 0.1, start=5, ramp=10) == pytest.approx(0.1)
    assert adv_schedule(100, 0.0, start=5, ramp=10) == 0.0


@pytest.mark.parametrize("adv", [0.0, 0.05])
def test_student_finetuning_steps_lower_the_distillation_loss(adv):
    import torch.nn.functional as F

    from train.stylegan2_mnist import Discriminator, finetune_student

    torch.manual_seed(0)
    teacher = Generator(16, style_dim=16, n_mlp=2, channels={4: 16, 8: 16, 16: 16}, img_channels=1).eval()
    student, _ = prune_generator(teacher, 0.5)
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(3))

    def kd(g):
        with torch.no_grad():
            return F.l1_loss(g(z, randomize_noise=False), teacher(z, randomize_noise=False)).item()

    before = kd(student)
    images = torch.rand(16, 1, 16, 16) * 2 - 1
    D = Discriminator(channels=(8, 8, 8), img_channels=1)  # 16 -> 8 -> 4
    ema, records = finetune_student(student, teacher, D, images, steps=6, evaluate=lambda g: {"kd": kd(g)},
                                    eval_steps=[0, 6], lr=0.01, batch=8, adv_weight=adv, adv_start=2, adv_ramp=2,
                                    log=lambda s: None)
    assert [s for s, _ in records] == [0, 6] and records[0][1]["kd"] == pytest.approx(before)
    assert kd(student) < before
