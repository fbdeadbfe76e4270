"""SpyNet (Ranjan & Black, CVPR 2017, "Optical Flow Estimation using a Spatial Pyramid Network"), as used inside
BasicVSR (BasicSR layout: ``basic_module.{0..5}.basic_module.{0,2,4,6,8}``, ``mean`` / ``std`` buffers).

A 6-level pyramid of average-pooled, ImageNet-normalised frames; at each level k (coarse to fine) a small CNN G_k
refines the upsampled flow from the reference, the warped support frame and the flow itself:

    V_k = G_k( R_k, W(S_k, up(V_{k-1})), up(V_{k-1}) ) + up(V_{k-1}),    up(V) = 2 x bilinear-upsampled V

The frames are resized to a multiple of 32 first and the flow back (with its components rescaled). The result is
the flow from ``ref`` to ``supp`` in pixels: supp(p + V(p)) ~ ref(p), i.e. the backward flow that warps ``supp``
onto ``ref``. Best on small, nearby frames (BasicVSR runs it on the low-resolution neighbours).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.ops.warp import backward_warp

LEVELS = 6


class BasicModule(nn.Module):
    """G_k: five 7x7 convs, 8 -> 32 -> 64 -> 32 -> 16 -> 2 channels, ReLU between."""

    def __init__(self):
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        layers: list[nn.Module] = []
        for i in range(5):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 7, 1, 3))
            if i < 4:
                layers.append(nn.ReLU(inplace=False))
        self.basic_module = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SpyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList([BasicModule() for _ in range(LEVELS)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _pyramid_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        refs, supps = [(ref - self.mean) / self.std], [(supp - self.mean) / self.std]
        for _ in range(LEVELS - 1):  # coarsest first
            refs.insert(0, F.avg_pool2d(refs[0], 2, 2, count_include_pad=False))
            supps.insert(0, F.avg_pool2d(supps[0], 2, 2, count_include_pad=False))
        b, _, h, w = refs[0].shape
        flow = refs[0].new_zeros(b, 2, h // 2, w // 2)
        for g, r, s in zip(self.basic_module, refs, supps):
            up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            up = F.pad(up, (0, r.shape[3] - up.shape[3], 0, r.shape[2] - up.shape[2]), mode="replicate")
            flow = g(torch.cat((r, backward_warp(s, up, "border"), up), 1)) + up
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Flow (B, 2, H, W) from ``ref`` to ``supp`` (frames (B, 3, H, W) RGB in [0, 1])."""
        if ref.shape != supp.shape:
            raise ValueError(f"frames differ in shape: {tuple(ref.shape)} vs {tuple(supp.shape)}")
        h, w = ref.shape[-2:]
        hp, wp = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        ref = F.interpolate(ref, size=(hp, wp), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(hp, wp), mode="bilinear", align_corners=False)
        flow = F.interpolate(self._pyramid_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        return flow * flow.new_tensor([w / wp, h / hp]).view(1, 2, 1, 1)
