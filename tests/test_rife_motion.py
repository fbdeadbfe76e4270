"""RIFE's level list chosen per pair from the motion (issue 31): the coarse estimate, the rule, the interpolator."""
import numpy as np
import pytest
import torch

from models import registry
from models.backbones.ifnet import LEVELS
from models.backbones.rife import MOTION_RULE, levels_for, levels_for_motion, motion_px
from tests.test_backbones import texture

FINE = tuple(s / 2 for s in LEVELS)


def _pair(d: int, h: int = 192, w: int = 256):
    tex = texture(h, w + 64)
    return tex[:, 16:16 + w], tex[:, 16 + d:16 + d + w]  # frame 1 = frame 0 moved d px left


def test_coarse_flow_measures_a_known_pan():
    """The first block alone at 1/16 gives the displacement of a panning texture within 1.5 px (or 15 %)."""
    rife = registry.get("rife")
    for d in (1, 6, 24, 40):
        f0, f1 = _pair(d)
        x = torch.from_numpy(np.stack([f0, f1])).permute(0, 3, 1, 2).float() / 255
        a, b = rife._padded(x[:1], x[1:], 64)
        with torch.no_grad():
            coarse = rife.net.coarse_flow(a, b)
        assert coarse.shape == (1, 4, 192 // 16, 256 // 16)
        m = float(motion_px(coarse)[0])
        assert abs(m - d) <= max(1.5, 0.15 * d), (d, m)


def test_level_rule_by_motion():
    small_fine = {"threshold": 4.0, "per_480": False, "k_small": 2.0, "k_large": None}
    assert levels_for_motion(480, 854, 3.0, motion_rule=small_fine) == FINE  # small motion: LEVELS / 2
    assert levels_for_motion(480, 854, 5.0, motion_rule=small_fine) == levels_for(480, 854) == LEVELS  # size rule
    large_fine = {"threshold": 4.0, "per_480": False, "k_small": 1.0, "k_large": 2.0}
    assert levels_for_motion(480, 854, 5.0, motion_rule=large_fine) == FINE
    assert levels_for_motion(240, 320, 3.0, motion_rule=large_fine) == LEVELS  # k = 1 even where the size rule says 2
    per_480 = {**small_fine, "per_480": True}  # 3 px at 240 px short side = 6 px per 480 px: large
    assert levels_for_motion(240, 320, 3.0, motion_rule=per_480) == levels_for(240, 320) == FINE
    assert levels_for_motion(720, 1280, 5.4, motion_rule=per_480) == FINE  # 3.6 px per 480: small
    assert levels_for_motion(720, 1280, 9.0, motion_rule=per_480) == LEVELS  # 6 px per 480: large
    # above max_short the size rule whatever the motion
    for m in (0.0, 100.0):
        assert levels_for_motion(1080, 1920, m, motion_rule=large_fine) == levels_for(1080, 1920)
        assert levels_for_motion(2160, 3840, m, motion_rule=small_fine) == levels_for(2160, 3840)
    with pytest.raises(ValueError, match="level_mode"):
        registry.create("rife", level_mode="fast")


def test_motion_mode_uses_the_chosen_list_exactly(monkeypatch):
    """Under a rule "at most 6 px: LEVELS / 2, else the size rule": a 2 px pan at 368 px (the size rule says 16..1)
    runs the finer list, bit-equal to asking for it; a 40 px pan runs the size rule's list; level_mode="size" is the
    rule of before."""
    for key, value in {"threshold": 6.0, "per_480": False, "k_small": 2.0, "k_large": None}.items():
        monkeypatch.setitem(MOTION_RULE, key, value)
    motion, size = registry.create("rife"), registry.create("rife", level_mode="size")
    assert motion.level_mode == "motion"  # the default
    fixed_fine = registry.create("rife", levels=FINE)
    f0, f1 = _pair(2, 368, 384)
    out = motion.interpolate(f0, f1, [0.5])[0]
    assert motion.last_levels == FINE
    assert np.array_equal(out, fixed_fine.interpolate(f0, f1, [0.5])[0])
    ref = size.interpolate(f0, f1, [0.5])[0]
    assert size.last_levels == LEVELS and not np.array_equal(out, ref)
    g0, g1 = _pair(40, 368, 384)
    assert np.array_equal(motion.interpolate(g0, g1, [0.5])[0], size.interpolate(g0, g1, [0.5])[0])
    assert motion.last_levels == LEVELS
    x = torch.from_numpy(np.stack([f0, f1])).permute(0, 3, 1, 2).float() / 255
    levels, m = motion.pair_levels(x[:1], x[1:])
    assert levels == FINE and abs(m - 2) < 1.5


def test_motion_is_measured_only_where_the_rule_offers_two_lists(monkeypatch):
    """Under the shipped rule (<= 3 px: 16..1, else the size rule) a pair whose size rule already says 16..1 (short
    side 361-720, e.g. 720p) is not measured at all: no coarse flow, output bit-equal to the size mode; at 240 px
    (size rule 8..0.5) one coarse flow per pair decides."""
    from models.backbones.ifnet import IFNet

    calls = []
    real = IFNet.coarse_flow
    monkeypatch.setattr(IFNet, "coarse_flow", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    motion, size = registry.create("rife"), registry.create("rife", level_mode="size")
    f0, f1 = _pair(2, 368, 384)
    assert np.array_equal(motion.interpolate(f0, f1, [0.5])[0], size.interpolate(f0, f1, [0.5])[0])
    assert calls == [] and motion.last_levels == LEVELS
    g0, g1 = _pair(2, 240, 320)
    motion.interpolate(g0, g1, [0.5])
    assert calls == [1] and motion.last_levels == LEVELS  # 2 px: the coarser list, where the size rule says 8..0.5
