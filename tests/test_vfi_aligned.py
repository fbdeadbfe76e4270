"""Kernel interpolation on RIFE's motion (models/vfi/aligned.py): alignment, the start at the prior, training."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import registry
from tests.test_backbones import texture


pytestmark = pytest.mark.usefixtures("one_thread")


def _untrained(model: str = "sf_adacof_aligned", width: float = 0.25):
    from models.vfi.aligned import start_at_prior

    interp = registry.create(model, pretrained=False, width=width)
    start_at_prior(interp.net)
    return interp


def test_alignment_undoes_a_known_translation_before_the_kernels_run():
    tex = texture(96, 208)
    f0, f1 = tex[:, 8:200], tex[:, 16:208]  # frame 1 = frame 0 moved 8 px left
    interp = _untrained()
    x = torch.from_numpy(np.stack([f0, f1])).permute(0, 3, 1, 2).float() / 255
    a0, a1, mask = interp.align(x[:1], x[1:], 0.5)
    truth = torch.from_numpy(tex[:, 12:204].copy()).permute(2, 0, 1)[None].float() / 255  # moved 4 px
    inner = np.s_[:, :, 8:-8, 16:-16]
    for a in (a0, a1):
        assert (a - truth)[inner].abs().mean() < 0.01  # both frames aligned to t before any kernel
    assert (x[:1] - truth)[inner].abs().mean() > 0.05  # the raw frame is not
    assert mask.shape == (1, 1, 96, 192) and 0 <= mask.min() and mask.max() <= 1


@pytest.mark.parametrize("model", ["sf_adacof_aligned", "adacof_aligned"])
def test_untrained_model_returns_ifnets_frame(model):
    tex = texture(80, 150, seed=3)
    f0, f1 = tex[:, :128], tex[:, 10:138]
    ours = _untrained(model).interpolate(f0, f1, [0.3, 0.5])
    rife = registry.get("rife").interpolate(f0, f1, [0.3, 0.5])
    for a, b in zip(ours, rife):
        diff = np.abs(a.astype(int) - b)
        assert diff.mean() < 0.5 and diff.max() <= 8  # a 0.1 % kernel spread and the uint8 rounding


def test_a_training_step_lowers_the_loss():
    from train.vfi_aligned import loss_terms, prepare

    torch.manual_seed(0)
    interp = registry.create("sf_adacof_aligned", pretrained=False, width=0.25)
    prepare(interp.net)
    rife = registry.get("rife")
    tex = texture(64, 96, seed=5).astype(np.float32) / 255
    frames = [torch.from_numpy(tex[:, k:k + 64].copy()).permute(2, 0, 1)[None] for k in (0, 9, 18)]
    f0, ft, f1 = (torch.cat([f, f.flip(-1)]) for f in frames)
    batch = (f0, ft * 0.97 + 0.01, f1, torch.tensor([0.5, 0.5]))  # a target IFNet cannot make exactly
    opt = torch.optim.Adamax(interp.net.parameters(), lr=2e-3)
    losses = []
    for _ in range(8):
        terms = loss_terms(interp.net, rife, batch, None, 32, False, 0.0)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(terms["charb"].item())
    assert losses[-1] < losses[0] * 0.95, losses


@pytest.mark.parametrize("model", ["sf_adacof", "adacof"])
def test_conditioned_variant_with_a_plain_checkpoint_is_the_paper_variant(model):
    """The *_aligned_cond network differs only in its first conv; with a paper-variant state_dict (extra columns
    zero) it computes the same frame, and its conditioning maps do change the output once the columns are not zero."""
    from models.vfi.aligned import aligned_synthesis, extra_inputs, load_plain

    torch.manual_seed(1)
    plain = registry.create(f"{model}_aligned", pretrained=False, width=0.25).net.eval()
    cond = registry.create(f"{model}_aligned_cond", pretrained=False, width=0.25).net.eval()
    assert extra_inputs(plain) == 0 and extra_inputs(cond) == 2
    first = "get_kernel.moduleConv1.0.weight"
    assert cond.state_dict()[first].shape[1] == plain.state_dict()[first].shape[1] + (4 if model == "adacof" else 2)
    for seq in ("moduleOcclusion", "moduleAlpha1"):  # non-trivial heads so the outputs depend on the inputs
        torch.nn.init.normal_(getattr(plain.get_kernel, seq)[-2 if seq == "moduleOcclusion" else -1].weight, 0, 0.05)
    load_plain(cond, plain.state_dict())
    a0, a1 = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 40, 48)
    m = torch.rand(1, 1, 40, 48)
    with torch.no_grad():
        ref = aligned_synthesis(plain, a0, a1, m)
        same = aligned_synthesis(cond, a0, a1, m, t=0.3)
        assert torch.equal(ref, same) and torch.equal(same, aligned_synthesis(cond, a0, a1, m, t=0.7))
        with pytest.raises(ValueError, match="needs t"):
            aligned_synthesis(cond, a0, a1, m)
        cond.get_kernel.moduleConv1[0].weight.normal_(0, 0.1)
        moved = aligned_synthesis(cond, a0, a1, m, t=0.3) - aligned_synthesis(cond, a0, a1, m, t=0.7)
        assert moved.abs().max() > 1e-6  # t now reaches the output (random heads damp it; exactly 0 before)


def test_conditioned_variant_starts_at_the_prior_and_learns():
    from models.vfi.aligned import conditioning
    from train.vfi_aligned import prepare

    interp = registry.create("adacof_aligned_cond", pretrained=False, width=0.25)
    prepare(interp.net)
    w = interp.net.get_kernel.moduleConv1[0].weight  # (c1, 2 x (3 + 2), 3, 3): RGB_0, c_0, RGB_1, c_1
    assert w[:, 3:5].abs().sum() == 0 and w[:, 8:10].abs().sum() == 0 and w[:, :3].abs().sum() > 0
    c0, c1 = conditioning(torch.full((2, 1, 4, 4), 0.8), torch.tensor([0.25, 0.5]), torch.zeros(2, 3, 4, 4))
    assert torch.allclose(c0[:, 0], torch.tensor(0.3)) and torch.allclose(c0[0, 1], torch.tensor(0.25))
    assert torch.allclose(c0[1, 1], torch.tensor(0.0)) and torch.equal(c1, -c0)
    tex = texture(80, 150, seed=3)
    f0, f1 = tex[:, :128], tex[:, 10:138]
    ours = interp.interpolate(f0, f1, [0.3])[0]
    diff = np.abs(ours.astype(int) - registry.get("rife").interpolate(f0, f1, [0.3])[0])
    assert diff.mean() < 0.5 and diff.max() <= 8


@pytest.mark.slow  # 18 frames at 480p through three models
def test_shipped_conditioned_kernels_improve_on_rife_where_the_motion_is_large(train_frames):
    """The shipped *_aligned_cond weights against their own prior on real frames: DAVIS-2016 car-roundabout (a
    training sequence, the one with the largest gain of the ten), frames 0-8, t = 1/4, 1/2, 3/4 from gaps of 4. An
    untrained model would give RIFE's frame (+0.00); the held-out numbers are in the cards."""
    from bench.metrics import psnr

    name, frames = train_frames(3, 9)
    assert name == "car-roundabout"

    def score(model_id):
        model = registry.get(model_id)
        return np.mean([psnr(out, frames[s + k + 1]) for s in (0, 4)
                        for k, out in enumerate(model.interpolate(frames[s], frames[s + 4], [0.25, 0.5, 0.75]))])

    rife = score("rife")
    for model_id in ("sf_adacof_aligned_cond", "adacof_aligned_cond"):
        assert score(model_id) > rife + 0.05, model_id  # measured: +0.09 / +0.10 dB on these 6 frames


def test_cpu_bf16_runs_only_where_asked_supported_and_allowed(monkeypatch):
    """models.device.autocast: fp32 on the CPU unless a network asks for bf16, the CPU has it natively and
    FRAMEFORGE_CPU_BF16 is not 0."""
    from models import settings
    from models.device import autocast, cpu_bf16_supported

    monkeypatch.delenv("FRAMEFORGE_CPU_BF16", raising=False)  # the app's default (conftest pins 0 for the suite)
    settings.reload()
    cpu = torch.device("cpu")
    with autocast(cpu):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(cpu, cpu_bf16=True):
        assert torch.is_autocast_enabled("cpu") == cpu_bf16_supported()
        if cpu_bf16_supported():
            assert torch.nn.functional.linear(torch.ones(1, 4), torch.ones(2, 4)).dtype == torch.bfloat16
    monkeypatch.setenv("FRAMEFORGE_CPU_BF16", "0")
    settings.reload()
    with autocast(cpu, cpu_bf16=True):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setenv("FRAMEFORGE_CPU_BF16", "maybe")
    with pytest.raises(settings.SettingsError, match="FRAMEFORGE_CPU_BF16 must be 1/0"):
        settings.reload()


def test_shipped_kernels_under_cpu_bf16_match_fp32(monkeypatch):
    """The aligned models run their kernel network under CPU bf16 autocast by default; the frame is the fp32 frame
    up to a grey level on a few pixels (IFNet and the AdaCoF sampling stay fp32). FRAMEFORGE_CPU_BF16=0 gives fp32."""
    from models import settings
    from models.device import cpu_bf16_supported

    if not cpu_bf16_supported():
        pytest.skip("this CPU has no native bf16: the aligned models run in fp32 here")
    monkeypatch.delenv("FRAMEFORGE_CPU_BF16", raising=False)  # the app's default (conftest pins 0 for the suite)
    settings.reload()
    tex = texture(96, 190, seed=11)
    f0, f1 = tex[:, :176], tex[:, 14:190]
    model = registry.create("sf_adacof_aligned_cond")  # the shipped weights
    fast = model.interpolate(f0, f1, [0.4])[0].astype(int)
    monkeypatch.setenv("FRAMEFORGE_CPU_BF16", "0")
    settings.reload()
    exact = model.interpolate(f0, f1, [0.4])[0].astype(int)
    model.cpu_bf16 = False
    monkeypatch.delenv("FRAMEFORGE_CPU_BF16")
    settings.reload()
    assert np.array_equal(model.interpolate(f0, f1, [0.4])[0], exact)  # the per-model switch gives fp32 too
    diff = np.abs(fast - exact)
    assert 0 < diff.max() <= 3 and (diff > 1).mean() < 1e-3 and diff.mean() < 0.1
