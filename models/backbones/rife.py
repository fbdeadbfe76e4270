"""RIFE as a FrameForge model: :class:`RifeInterpolator` runs :class:`~models.backbones.ifnet.IFNet` on uint8 frames
at any t, and hands its motion (flows at t and blend mask) to the models that build on it.

* **Padding**: frames are edge-replicated at the bottom/right to a multiple of 4 x the coarsest level (64 for the
  default list), then cropped back.
* **Level list** from the frame size (:func:`levels_for`): RIFE's list (16, 8, 4, 2, 1) divided by a factor k
  (:data:`LEVEL_RULE`, picked on training clips with ``python -m bench.rife_levels``).
* **Tiles**: frames above ``max_pixels`` are interpolated in overlapping tiles (``tile``, ``overlap``) with blended
  seams; the motion of the whole frame is not needed at once.
* **Precision**: fp16 autocast on CUDA (models.device); on the CPU fp32, or bf16 autocast with ``cpu_bf16=True``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.device import inference_device
from models.ops.tiles import tiled

from .ifnet import LEVELS, IFNet, merge
from .runner import NetRunner

#: Short-side bounds (pixels) -> level divisor k (levels = LEVELS / k), from ``python -m bench.rife_levels`` on
#: training triplets (bench/results/rife_levels.json): k = 2 wins at 240p (+0.25 dB, 239 ms), is only +0.09 dB at
#: 480p for 3.7x the time and loses at 720p, where k = 1 wins; k = 0.5 above 1440p is RIFE's own advice for UHD
#: (no UHD training clips here to check it).
LEVEL_RULE = ((360, 2.0), (1440, 1.0), (float("inf"), 0.5))


def levels_for(h: int, w: int, rule=LEVEL_RULE) -> tuple[float, ...]:
    """Level list for an (h, w) frame: LEVELS / k with k from the first rule row whose short side bound >= min(h, w).
    """
    short = min(h, w)
    k = next(k for bound, k in rule if short <= bound)
    return tuple(s / k for s in LEVELS)


def to_tensor(frames: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 (H, W, 3) frames -> float (N, 3, H, W) in [0, 1] on ``device``."""
    x = torch.from_numpy(np.stack([np.asarray(f) for f in frames])).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    return x.float().clamp(0, 1).mul(255.0).round().byte().permute(1, 2, 0).cpu().numpy()


class RifeInterpolator(NetRunner):
    """:class:`~models.interfaces.FrameInterpolator` with RIFE 4.25's IFNet; ``arbitrary_t``."""

    arbitrary_t = True

    def __init__(self, net: IFNet | None = None, levels: Sequence[float] | None = None,
                 max_pixels: int = 3840 * 2160, tile: int = 1024, overlap: int = 128, cpu_bf16: bool = False):
        self.net = (net or IFNet()).eval()
        self.levels = tuple(levels) if levels else None  # None: from the frame size
        self.max_pixels, self.tile, self.overlap = int(max_pixels), int(tile), int(overlap)
        self.cpu_bf16 = cpu_bf16

    def _levels(self, h: int, w: int) -> tuple[float, ...]:
        return self.levels or levels_for(h, w)

    @torch.no_grad()
    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """IFNet's motion at t for float frames (B, 3, H, W) in [0, 1], any H, W (padded inside):
        (F (B, 4, H, W): F_t->0 then F_t->1 in pixels, mask M (B, 1, H, W) in [0, 1], the weight of frame 0).

            I_t ~ M W(I_0, F_t->0) + (1 - M) W(I_1, F_t->1)

        IFNet runs on the frames' device (callers such as the aligned interpolators pass frames already there).
        """
        self.net.to(img0.device)
        h, w = img0.shape[-2:]
        levels = self._levels(h, w)
        multiple = max(64, int(4 * max(levels)))
        pad = (0, (-w) % multiple, 0, (-h) % multiple)
        a, b = F.pad(img0, pad, mode="replicate"), F.pad(img1, pad, mode="replicate")
        with self._precision(img0.device):
            flow, mask = self.net.flows(a, b, t, levels)
        return flow[:, :, :h, :w].float(), torch.sigmoid(mask[:, :, :h, :w].float())

    @torch.no_grad()
    def _frames(self, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float]) -> list[torch.Tensor]:
        """I_t (3, H, W) for each t, one IFNet pass per t (the blocks take t as input)."""
        out = []
        for t in ts:
            flow, m = self.motion(img0, img1, t)
            out.append(merge(img0, img1, flow, m)[0])
        return out

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        from models.baselines.blend import check_pair, check_ts

        check_pair(frame0, frame1)
        ts = check_ts(ts)
        inner = [t for t in ts if 0.0 < t < 1.0]
        made: dict[float, np.ndarray] = {}
        if inner:
            device = inference_device()  # motion() runs IFNet where the frames are
            h, w = frame0.shape[:2]
            if h * w <= self.max_pixels:
                x = to_tensor([frame0, frame1], device)
                made = {t: to_uint8(f) for t, f in zip(inner, self._frames(x[:1], x[1:], inner))}
            else:
                for t in inner:
                    def run(y, x0, th, tw, t=t):
                        x = to_tensor([frame0[y:y + th, x0:x0 + tw], frame1[y:y + th, x0:x0 + tw]], device)
                        return self._frames(x[:1], x[1:], [t])[0].float().permute(1, 2, 0).cpu().numpy()

                    made[t] = (tiled(h, w, self.tile, self.overlap, run).clip(0, 1) * 255.0).round().astype(np.uint8)
        return [frame0.copy() if t == 0.0 else frame1.copy() if t == 1.0 else made[t] for t in ts]

    def __repr__(self) -> str:
        return f"RifeInterpolator(levels={self.levels or 'auto'}, cpu_bf16={self.cpu_bf16})"

