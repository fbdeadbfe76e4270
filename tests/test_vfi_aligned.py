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
