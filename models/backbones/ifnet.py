"""IFNet of RIFE 4.25/4.26 (Huang et al., ECCV 2022, "Real-Time Intermediate Flow Estimation"), in plain PyTorch.

Coarse-to-fine estimation of the two backward flows from time t and a blend mask, five blocks, block i working at
1 / s_i of the frame (the level list s, e.g. (16, 8, 4, 2, 1)):

    (F_t->0, F_t->1, m, f)_0 = B_0( I_0, I_1, E(I_0), E(I_1), t )
    (dF, m, f)_i = B_i( W(I_0, F_t->0), W(I_1, F_t->1), W(E(I_0), F_t->0), W(E(I_1), F_t->1), t, m, f ;  F )
    F_i = F_{i-1} + dF
    I_t = sigmoid(m) W(I_0, F_t->0) + (1 - sigmoid(m)) W(I_1, F_t->1)

E is a small encoder (4 feature channels at full resolution), W the backward warp (border), m the mask logit and f
8 feature channels handed from block to block. Every block: bilinear resize by 1 / s, two stride-2 convs, eight
residual convs with a learned per-channel scale (beta), a transposed conv + pixel shuffle back to 1 / s, resize
back to the frame (flows multiplied by s). t is an input channel of every block, so any t in [0, 1] is asked for
directly.

The state_dict is RIFE 4.25's ``flownet.pkl`` without its training-only ``teacher.*`` and ``caltime.*`` tensors:
158 tensors, 5.66 M parameters (block widths 192/128/96/64/32).
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.ops.warp import backward_warp, backward_warp_down, downsample, even_stride

#: Block widths of RIFE 4.25.
WIDTHS = (192, 128, 96, 64, 32)
#: Default level list (RIFE's own for scale 1).
LEVELS = (16.0, 8.0, 4.0, 2.0, 1.0)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class Encoder(nn.Module):
    """E: RGB (B, 3, H, W) -> (B, 4, H, W) features (RIFE's ``Head``)."""

    def __init__(self):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.cnn0(x))  # (B, 16, H/2, W/2)
        x = self.act(self.cnn1(x))
        x = self.act(self.cnn2(x))
        return self.cnn3(x)  # (B, 4, H, W)


class ResConv(nn.Module):
    """y = LeakyReLU(beta * conv(x) + x)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if torch.is_grad_enabled():
            return self.act(y * self.beta + x)
        return self.act(y.mul_(self.beta).add_(x))  # inference: the same operations in place (no temporaries)


class IFBlock(nn.Module):
    """One level's network, at the level's resolution: inputs (B, cin, H/s, W/s) -> (B, 13, H/s, W/s): flow delta
    (4), mask logit (1), features (8), before the resize back to the frame."""

    def __init__(self, cin: int, c: int):
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lastconv(self.convblock(self.conv0(x)))


class IFNet(nn.Module):
    """Flows F_t->0, F_t->1 (B, 4, H, W: (u, v) to frame 0, then to frame 1, in pixels), mask logit (B, 1, H, W).

    H and W must be multiples of the largest level (64 for the default list, with the blocks' x4 stride):
    :class:`~models.backbones.rife.RifeInterpolator` pads.
    """

    def __init__(self):
        super().__init__()
        for i, c in enumerate(WIDTHS):
            # block 0: I_0, I_1 (6) + E(I_0), E(I_1) (8) + t (1); later: + mask (1) + features (8) + flow (4)
            setattr(self, f"block{i}", IFBlock(15 if i == 0 else 15 + 1 + 8 + 4, c))
        self.encode = Encoder()

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(WIDTHS))]

    def flows(self, img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor,
              levels: Sequence[float] = LEVELS, encoded: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(F (B, 4, H, W), mask logit (B, 1, H, W)) at time t (a float or a (B,) / (B, 1, 1, 1) tensor).

        ``encoded``: (E(I_0), E(I_1)) when already computed (:meth:`encode_pair`), else computed here."""
        if len(levels) != len(WIDTHS):
            raise ValueError(f"IFNet takes {len(WIDTHS)} levels, got {list(levels)}")
        b = img0.shape[0]
        tt = torch.as_tensor(t, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        e0, e1 = encoded if encoded is not None else self.encode_pair(img0, img1)
        # each frame with its features, both frames in one batch: a warp is one sampling call, and PyTorch's CPU
        # grid_sample runs its batch items in parallel (one item: one thread). The flow is kept in that layout too:
        # fz (2B, 2, H, W) = (F_t->0 of each item, then F_t->1 of each item).
        z = torch.cat((torch.cat((img0, e0), 1), torch.cat((img1, e1), 1)), 0)  # (2B, 7, H, W)
        fz = carry = s_prev = None  # carry: the last block's (m, f) at its own 1 / s_prev
        cl = _channels_last(self.block1)
        for block, s in zip(self.blocks, levels):
            if fz is None:
                x = downsample(torch.cat((img0, img1, e0, e1), 1), s)
                x = _stack((x, tt.expand(b, 1, *x.shape[-2:])), cl)
            else:
                # W(I_0), W(E(I_0)) by F_t->0 and W(I_1), W(E(I_1)) by F_t->1 in one call, computed only where the
                # (bilinear, non-antialiased) resize to 1 / s reads them (backward_warp_down): the numbers of
                # warping the whole frame, then resizing
                fast = even_stride(s, img0.shape)
                wz = backward_warp_down(z, fz, int(s)) if fast else downsample(backward_warp(z, fz), s)
                fd = fz if s == 1 else downsample(fz, s) / s
                x = _stack((wz[:b, :3], wz[b:, :3], wz[:b, 3:], wz[b:, 3:], tt.expand(b, 1, *wz.shape[-2:]),
                            carry_to(carry, s_prev, s, img0.shape[-2:]), fd[:b], fd[b:]), cl)
            y = block(x)  # (B, 13, H/s, W/s): flow delta, m, f
            d = y[:, :4].reshape(b, 2, 2, *y.shape[-2:]).transpose(0, 1).reshape(2 * b, 2, *y.shape[-2:])
            up = d if s == 1 else F.interpolate(d, scale_factor=s, mode="bilinear", align_corners=False) * s
            fz = up if fz is None else fz + up
            carry, s_prev = y[:, 4:], s
        mask = carry[:, :1] if s_prev == 1 else F.interpolate(carry[:, :1], scale_factor=s_prev, mode="bilinear",
                                                               align_corners=False)
        return torch.cat((fz[:b], fz[b:]), 1), mask

    def encode_pair(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(E(I_0), E(I_1)), each (B, 4, H, W)."""
        return self.encode(img0), self.encode(img1)

    def coarse_flow(self, img0: torch.Tensor, img1: torch.Tensor, s: float = LEVELS[0], t: float = 0.5,
                    encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """A cheap motion estimate: the first block alone at 1 / ``s`` of the frame, F_t->0 and F_t->1 (B, 4, H/s,
        W/s) in frame pixels (H, W multiples of 4 s). At s = 16 it costs 1/256 of the block at full size, so
        next to the encoder (``encoded``, reused by :meth:`flows`) it is nearly free."""
        b = img0.shape[0]
        e0, e1 = encoded if encoded is not None else self.encode_pair(img0, img1)
        x = downsample(torch.cat((img0, img1, e0, e1), 1), s)
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        x = torch.cat((x, tt.expand(b, 1, *x.shape[-2:])), 1)
        return self.block0(x)[:, :4] * s

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor = 0.5,
                levels: Sequence[float] = LEVELS) -> torch.Tensor:
        """I_t (B, 3, H, W) from frames in [0, 1]."""
        flow, mask = self.flows(img0, img1, t, levels)
        return merge(img0, img1, flow, torch.sigmoid(mask))


def _channels_last(module: nn.Module) -> bool:
    """Whether the module's convolution weights are in channels-last order (the CPU copy of
    :mod:`~models.backbones.cpu_fast`)."""
    w = next(p for p in module.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1)
    return w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def _stack(parts: Sequence[torch.Tensor], channels_last: bool) -> torch.Tensor:
    """``torch.cat(parts, 1)``; written straight into channels-last order for a channels-last block (one pass
    instead of the concatenation and then the convolution's reorder: 20 ms instead of 86 for the last block's
    28 channels at 720p)."""
    if not channels_last:
        return torch.cat(parts, 1)
    p0 = parts[0]
    dtype = functools.reduce(torch.promote_types, [p.dtype for p in parts])  # as cat promotes (bf16 autocast)
    out = torch.empty((p0.shape[0], sum(p.shape[1] for p in parts), *p0.shape[-2:]), dtype=dtype, device=p0.device,
                      memory_format=torch.channels_last)
    return torch.cat(parts, 1, out=out)


def carry_to(y: torch.Tensor, s_prev: float, s: float, size: tuple[int, int]) -> torch.Tensor:
    """A block's mask and features ``y`` (B, 9, H/s_prev, W/s_prev) at the next block's 1 / s: the resize of
    ``y`` to the frame (bilinear x s_prev), then to 1 / s (:func:`~models.ops.warp.downsample`), in one step.

    For s_prev = 2 s (every list here) the two resizes are one bilinear x2 (align_corners=False): the strided mean
    of two neighbours of the x s_prev resize is that resize at their midpoint, (i + 1/2) s / s_prev - 1/2, the x2
    resize's sample point, and the two never straddle a knot (they differ at float rounding only). The frame-size
    detour is skipped: 13 channels at the frame's size per block were 16 % of IFNet's time at 720p.
    """
    if s_prev == 2 * s and (s == 1 or s_prev == 1 or even_stride(s, size)):
        return F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
    full = y if s_prev == 1 else F.interpolate(y, scale_factor=s_prev, mode="bilinear", align_corners=False)
    return downsample(full, s)


def merge(img0: torch.Tensor, img1: torch.Tensor, flow: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """I_t = M W(I_0, F_t->0) + (1 - M) W(I_1, F_t->1), M = sigmoid(mask logit) in [0, 1] (both warps in one
    batched call: PyTorch's CPU grid_sample is parallel over the batch only)."""
    b = img0.shape[0]
    w = backward_warp(torch.cat((img0, img1), 0), torch.cat((flow[:, :2], flow[:, 2:]), 0))
    return m * w[:b] + (1 - m) * w[b:]
