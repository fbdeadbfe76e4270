"""BasicVSR (Chan et al., CVPR 2021, "BasicVSR: The Search for Essential Components in Video Super-Resolution"),
in plain PyTorch, with the BasicSR state_dict layout (``spynet.*``, ``backward_trunk.main.*``, ``forward_trunk.main.*``,
``fusion``, ``upconv1/2``, ``conv_hr``, ``conv_last``; 6.29 M parameters with num_feat 64, num_block 30).

Bidirectional recurrent propagation over the low-resolution frames x_1..x_N, aligned by SpyNet flows:

    b_i = R_b( x_i, W(b_{i+1}, V_{i->i+1}) ),   b_N = R_b(x_N, 0)          (backward branch)
    f_i = R_f( x_i, W(f_{i-1}, V_{i->i-1}) ),   f_1 = R_f(x_1, 0)          (forward branch)
    y_i = U( fuse(b_i, f_i) ) + bilinear_x4(x_i)

R = conv + 30 residual blocks, W the backward warp (zeros outside), U two pixel-shuffle x2 stages and two convs.
Output: x4. The steps are exposed (:meth:`BasicVSR.flow`, :meth:`backward_features`, :meth:`forward_feature`,
:meth:`reconstruct`) so that :class:`~models.backbones.video_sr.BasicVSRUpscaler` can run a long video in chunks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.ops.warp import backward_warp

from .spynet import SpyNet


class ResidualBlockNoBN(nn.Module):
    """x + conv2(ReLU(conv1(x)))."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return x + y if torch.is_grad_enabled() else y.add_(x)  # inference: the same sum in place


class ConvResidualBlocks(nn.Module):
    """R: conv (cin -> nf) + LeakyReLU(0.1) + ``num_block`` residual blocks."""

    def __init__(self, cin: int, nf: int, num_block: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, nf, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
                                  nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(num_block)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class BasicVSR(nn.Module):
    scale = 4

    def __init__(self, num_feat: int = 64, num_block: int = 30):
        super().__init__()
        self.num_feat = num_feat
        self.spynet = SpyNet()
        self.backward_trunk = ConvResidualBlocks(num_feat + 3, num_feat, num_block)
        self.forward_trunk = ConvResidualBlocks(num_feat + 3, num_feat, num_block)
        self.fusion = nn.Conv2d(num_feat * 2, num_feat, 1, 1, 0)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, 64 * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)

    # ------------------------------------------------------------------------------------------------ steps --
    def flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """V_{ref->supp} (B, 2, h, w) (SpyNet), to warp features of ``supp`` onto ``ref``."""
        return self.spynet(ref, supp)

    def backward_features(self, x: torch.Tensor, flows: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[b_1 .. b_N] for LR frames x (B, N, 3, h, w); ``flows`` (B, N - 1, 2, h, w) = V_{i->i+1} if known."""
        b, n, _, h, w = x.shape
        if flows is None and n > 1:
            flows = self.flow(x[:, :-1].flatten(0, 1), x[:, 1:].flatten(0, 1)).view(b, n - 1, 2, h, w)
        feat = x.new_zeros(b, self.num_feat, h, w)
        out = [None] * n
        for i in range(n - 1, -1, -1):
            if i < n - 1:
                feat = backward_warp(feat, flows[:, i], "zeros")
            feat = self.backward_trunk(torch.cat((x[:, i], feat), 1))
            out[i] = feat
        return out

    def forward_feature(self, x_i: torch.Tensor, prev_feat: torch.Tensor | None,
                        flow: torch.Tensor | None) -> torch.Tensor:
        """f_i from x_i (B, 3, h, w), f_{i-1} and V_{i->i-1} (both None for the first frame)."""
        if prev_feat is None:
            prev_feat = x_i.new_zeros(x_i.shape[0], self.num_feat, *x_i.shape[-2:])
        else:
            prev_feat = backward_warp(prev_feat, flow, "zeros")
        return self.forward_trunk(torch.cat((x_i, prev_feat), 1))

    def fuse(self, back: torch.Tensor, fwd: torch.Tensor) -> torch.Tensor:
        """The fused propagated feature LReLU(fusion([b_i, f_i])) (B, num_feat, h, w): BasicVSR's trunk output,
        which the space-time models read as their encoder feature."""
        return self.lrelu(self.fusion(torch.cat((back, fwd), 1)))

    def reconstruct(self, x_i: torch.Tensor, back: torch.Tensor, fwd: torch.Tensor) -> torch.Tensor:
        """y_i (B, 3, 4h, 4w) from x_i and the two branches' features."""
        return self.upsample(x_i, self.fuse(back, fwd))

    def upsample(self, x_i: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        """U: the fused feature -> y_i (B, 3, 4h, 4w)."""
        out = self.lrelu(self.pixel_shuffle(self.upconv1(fused)))
        out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x_i, scale_factor=4, mode="bilinear", align_corners=False)

    # -------------------------------------------------------------------------------------------- reference --
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole clip at once: LR (B, N, 3, h, w) in [0, 1] -> HR (B, N, 3, 4h, 4w)."""
        back = self.backward_features(x)
        outs, feat = [], None
        for i in range(x.shape[1]):
            flow = self.flow(x[:, i], x[:, i - 1]) if i else None
            feat = self.forward_feature(x[:, i], feat, flow)
            outs.append(self.reconstruct(x[:, i], back[i], feat))
        return torch.stack(outs, 1)
