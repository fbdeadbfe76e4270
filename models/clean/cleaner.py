"""A learned pre-cleaner for compressed low-resolution frames (RealBasicVSR's idea, Chan et al. CVPR 2022), and the
spatial upscaler that runs it in front of another.

The cleaner maps a decoded LR frame x (compressed, blurred, noisy) to the clean LR frame, as a residual:

    x̂ = x + g([x, q, τ, m])

``q`` is the decoder's per-macroblock QP map (H.264 quantiser, /51, nearest-upsampled to pixels), ``τ`` the frame
type (I 0, P ½, B 1) and ``m`` 1 where q and τ are known, 0 where they are not (PNG/JPEG inputs, frames whose decoder
exports nothing): the network was trained with both, so without side data it estimates the damage from the pixels.
``g`` works at half resolution (pixel-unshuffle by 2: 24 channels) with ``blocks`` residual blocks of ``width``
channels and pixel-shuffles back; its last convolution starts at zero, so the untrained cleaner is the identity.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..backbones.runner import NetRunner
from ..imageio import check_frame, to_tensor, to_uint8

SIDE = 3  # q, τ, m
FRAME_TYPE = {"I": 0.0, "P": 0.5, "B": 1.0}


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class PreCleaner(nn.Module):
    """x̂ = x + g([x, q, τ, m]) (module docstring); x (B, 3, H, W) in [0, 1], side (B, 3, H, W) or None."""

    def __init__(self, width: int = 32, blocks: int = 6):
        super().__init__()
        self.head = nn.Conv2d((3 + SIDE) * 4, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 3 * 4, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # untrained = identity
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        if side is None:
            side = x.new_zeros(b, SIDE, h, w)  # nothing known: m = 0
        inp = torch.cat([x, side.to(x.dtype)], 1)
        ph, pw = h % 2, w % 2
        if ph or pw:
            inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
        f = F.relu(self.head(F.pixel_unshuffle(inp, 2)), inplace=True)  # (B, width, H/2, W/2)
        delta = F.pixel_shuffle(self.tail(self.body(f)), 2)[..., :h, :w]  # (B, 3, H, W)
        return x + delta.to(x.dtype)


def side_planes(qp: np.ndarray | None, frame_type: str | None, size: tuple[int, int]) -> np.ndarray:
    """(3, H, W) float32 side input: the QP map (/51) upsampled x16 and cropped, the frame type, the known mask."""
    h, w = size
    if qp is None:
        return np.zeros((SIDE, h, w), np.float32)
    q = np.repeat(np.repeat(np.asarray(qp, np.float32) / 51.0, 16, 0), 16, 1)[:h, :w]
    if q.shape != (h, w):
        raise ValueError(f"QP map {qp.shape} does not cover a {w}x{h} frame")
    t = np.full((h, w), FRAME_TYPE.get(frame_type or "P", 0.5), np.float32)
    return np.stack([q, t, np.ones((h, w), np.float32)])


class Cleaner(NetRunner):
    """Runs :class:`PreCleaner` on uint8 RGB frames (a ``clean`` model of the registry)."""

    cpu_bf16 = True  # measured: the cleaned frame moves by < 0.01 dB under bf16 on a native-bf16 CPU

    def __init__(self, width: int = 32, blocks: int = 6):
        self.net = PreCleaner(width, blocks).eval()

    @torch.inference_mode()
    def clean(self, frame: np.ndarray, qp: np.ndarray | None = None, frame_type: str | None = None) -> np.ndarray:
        """The cleaned uint8 frame (same size); ``qp`` / ``frame_type`` from the decoder when known (by default those
        a :class:`models.degrade.CodedFrame` carries)."""
        check_frame(frame)
        if qp is None:
            qp, frame_type = getattr(frame, "qp", None), getattr(frame, "frame_type", None)
        device = next(self.net.parameters()).device
        x = to_tensor(frame, device)
        side = None
        if qp is not None:
            side = torch.from_numpy(side_planes(qp, frame_type, frame.shape[:2]))[None].to(device)
        with self._precision(device):
            y = self.net(x, side)
        return to_uint8(y[0])


class CleanedUpscaler:
    """:class:`~models.interfaces.SpatialUpscaler`: clean each LR frame, then hand it to ``upscaler`` (through its
    stream when it has one, so a video upscaler still sees the whole sequence)."""

    side_data = True  # the pipelines decode QP maps and frame types for it (models.degrade.CodedFrame)

    def __init__(self, cleaner: Cleaner, upscaler):
        self.cleaner = cleaner
        self.upscaler = upscaler

    def upscale(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return self.upscaler.upscale(self.cleaner.clean(frame), size)

    def upscale_stream(self, items: Iterable[tuple[np.ndarray, bool]], size) -> Iterator[np.ndarray]:
        cleaned = ((self.cleaner.clean(frame), cut) for frame, cut in items)
        if hasattr(self.upscaler, "upscale_stream"):
            return self.upscaler.upscale_stream(cleaned, size)
        return (self.upscaler.upscale(frame, size) for frame, _ in cleaned)
