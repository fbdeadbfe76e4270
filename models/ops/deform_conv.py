"""Modulated deformable convolution (DCNv2, the `DCN_sep` layout of EDVR / Zooming-SlowMo) in plain PyTorch.

    y(p) = b + sum_g sum_k  W_{g,k} · m_{g,k}(p) · x_g(p + p_k + Δp_{g,k}(p))

for the 3x3 taps p_k (row-major), deformable groups g (input channels split into G contiguous groups), offsets
Δp = (dy, dx) and masks m in (0, 1). A sample is bilinear and any corner outside the image counts as 0.

Layout (`DCN_sep`): a conv on the offset features gives 3·G·9 channels, chunked into o1 | o2 | m. The offsets are
cat(o1, o2) = 2·G·9 channels read as interleaved (dy, dx) pairs at 2·(g·9+k) and 2·(g·9+k)+1; the mask is
sigmoid(m) at channel g·9+k.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def modulated_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                            bias: torch.Tensor | None = None, padding: int = 1, dilation: int = 1) -> torch.Tensor:
    """DCNv2 at stride 1.

    x (B, C, H, W); offset (B, 2·G·K, H, W) interleaved (dy, dx); mask (B, G·K, H, W); weight (Cout, C, kh, kw).
    Returns (B, Cout, H', W') with H' = H + 2·padding - dilation·(kh-1).
    """
    b, c, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    k = kh * kw
    if cin != c:
        raise ValueError(f"input has {c} channels, weight expects {cin}")
    g = mask.shape[1] // k
    if g * k != mask.shape[1] or offset.shape[1] != 2 * g * k or c % g:
        raise ValueError(f"offset {tuple(offset.shape)} / mask {tuple(mask.shape)} do not match {g} groups of {k} taps")
    ho, wo = offset.shape[-2:]
    dev, dt = x.device, x.dtype
    # base sampling positions (Ho, Wo, K) in input pixels: p + p_k
    ys = torch.arange(ho, device=dev, dtype=dt) - padding
    xs = torch.arange(wo, device=dev, dtype=dt) - padding
    ky = (torch.arange(kh, device=dev, dtype=dt) * dilation).repeat_interleave(kw)  # (K,) row-major taps
    kx = (torch.arange(kw, device=dev, dtype=dt) * dilation).repeat(kh)
    off = offset.view(b, g, k, 2, ho, wo)
    py = ys.view(1, 1, 1, ho, 1) + ky.view(1, 1, k, 1, 1) + off[:, :, :, 0]  # (B, G, K, Ho, Wo)
    px = xs.view(1, 1, 1, 1, wo) + kx.view(1, 1, k, 1, 1) + off[:, :, :, 1]
    # normalise for align_corners=False: pixel centre i -> (2i+1)/size - 1
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)  # (B, G, K, Ho, Wo, 2)
    grid = grid.reshape(b * g, k * ho, wo, 2)
    xg = x.reshape(b * g, c // g, h, w)
    cols = F.grid_sample(xg, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cols = cols.view(b, g, c // g, k, ho, wo) * mask.view(b, g, 1, k, ho, wo)  # (B, G, C/G, K, Ho, Wo)
    cols = cols.reshape(b, c * k, ho * wo)  # (channel, tap) order, as weight.view(Cout, C*K)
    out = torch.matmul(weight.reshape(cout, c * k), cols)  # (B, Cout, Ho*Wo)
    if bias is not None:
        out = out + bias.view(1, cout, 1)
    return out.view(b, cout, ho, wo)


class DCNSep(nn.Module):
    """`DCN_sep(in, out, 3, padding=1, deformable_groups=G)`: offsets and masks come from a separate feature map.

    Keys: ``weight``, ``bias``, ``conv_offset_mask.weight``, ``conv_offset_mask.bias`` (offsets start at 0).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 dilation: int = 1, deformable_groups: int = 8, offset_channels: int | None = None):
        super().__init__()
        self.padding, self.dilation, self.groups = padding, dilation, deformable_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        stdv = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -stdv, stdv)
        self.conv_offset_mask = nn.Conv2d(offset_channels or in_channels, 3 * deformable_groups * kernel_size ** 2,
                                          kernel_size, padding=padding, dilation=dilation, bias=True)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, fea: torch.Tensor) -> torch.Tensor:
        o1, o2, m = torch.chunk(self.conv_offset_mask(fea), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        return modulated_deform_conv2d(x, offset, torch.sigmoid(m), self.weight, self.bias,
                                       self.padding, self.dilation)
