"""SF-AdaCoF (Go et al., KIPS Trans. 2024): AdaCoF with a shared two-direction U-Net and feature-map differencing.

KernelEstimation (official layout, width 1.0 = 8,585,590 parameters with F = 5). Both frames run through the same
modules (shared weights). At each level l = 1..5 with C = 16, 32, 64, 128, 256:

    F_p = Basic_l(x_p), F_n = Basic_l(x_n)                      (C - 2 channels each)
    m_FD = FD_l(|F_n - F_p|)                                    compression block: conv3x3, ReLU, conv1x1 -> 1, ReLU
    m_p = pr_l(F_p) * m_FD,  m_n = ne_l(F_n) * m_FD             Hadamard products of 1-channel maps
    F_p <- cat(F_p, m_p, m_n),  F_n <- cat(F_n, m_p, m_n)       (C channels)
    x_p, x_n = Pool_l(F_p), Pool_l(F_n)                         learned Conv2d(C, C, 2, stride 2)

Decoder per branch (shared): Deconv5 = Basic(256, 256), Deconv4 = Basic(256, 128), Deconv3 = Basic(128, 64),
Deconv2 = Basic(64, 32), each with Upsample and an additive skip; the branches are concatenated (64 channels at /2)
and feed the seven AdaCoF heads.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import KernelEstimationBase, KernelInterpolationNet, basic, scaled


def flow_estimation(ch: int) -> nn.Sequential:
    """Compression block: conv3x3 (ch -> ch) + ReLU + conv1x1 (ch -> 1) + ReLU."""
    return nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(), nn.Conv2d(ch, 1, 1, 1), nn.ReLU())


class KernelEstimation(KernelEstimationBase):
    def __init__(self, kernel_size: int = 5, width: float = 1.0, extra_inputs: int = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.extra_inputs = extra_inputs  # channels appended to each frame's RGB (0 = the paper's network)
        chans = [scaled(c, width) for c in (16, 32, 64, 128, 256)]
        if chans[0] < 3:
            raise ValueError(f"SF-AdaCoF width {width} is too small (level-1 width {chans[0]} < 3)")
        self.levels = len(chans)
        cin = 3 + extra_inputs
        for lvl, c in enumerate(chans, start=1):
            setattr(self, f"moduleConv{lvl}", basic(cin, c - 2))
            setattr(self, f"modulePool{lvl}", nn.Conv2d(c, c, kernel_size=2, stride=2))
            setattr(self, f"flowconv{lvl}_FD", flow_estimation(c - 2))
            setattr(self, f"flowconv{lvl}_pr", flow_estimation(c - 2))
            setattr(self, f"flowconv{lvl}_ne", flow_estimation(c - 2))
            cin = c
        c1, c2, c3, c4, c5 = chans
        self.add_decoder(c2, c3, c4, c5)

        self.add_heads(2 * c2, scaled(64, width), kernel_size)

    def _encode_level(self, lvl: int, x_p: torch.Tensor, x_n: torch.Tensor):
        conv = getattr(self, f"moduleConv{lvl}")
        f_p, f_n = conv(x_p), conv(x_n)                                         # (B, C-2, h, w)
        m_fd = getattr(self, f"flowconv{lvl}_FD")(torch.abs(f_n - f_p))         # (B, 1, h, w)
        m_p = getattr(self, f"flowconv{lvl}_pr")(f_p) * m_fd
        m_n = getattr(self, f"flowconv{lvl}_ne")(f_n) * m_fd
        return torch.cat([f_p, m_p, m_n], 1), torch.cat([f_n, m_p, m_n], 1)     # (B, C, h, w)

    def forward(self, rfield0: torch.Tensor, rfield1: torch.Tensor):
        x_p, x_n = rfield0, rfield1                                             # (B, 3 + extra, H, W) each
        skips_p, skips_n = [], []
        for lvl in range(1, self.levels + 1):
            f_p, f_n = self._encode_level(lvl, x_p, x_n)
            skips_p.append(f_p)
            skips_n.append(f_n)
            pool = getattr(self, f"modulePool{lvl}")
            x_p, x_n = pool(f_p), pool(f_n)
        y_p = self.decode(x_p, *skips_p[1:])
        y_n = self.decode(x_n, *skips_n[1:])
        return self.heads(torch.cat([y_p, y_n], 1))                             # merge: (B, 2*C2, H/2, W/2)


def build_sf_adacof(width: float = 1.0, kernel_size: int = 5, dilation: int = 1, mode: str = "exact",
                    extra_inputs: int = 0):
    """SF-AdaCoF network; ``width`` 1.0 is the official one (checkpoint keys ``get_kernel.*``). ``extra_inputs``
    widens the first conv for per-frame conditioning maps (:mod:`models.vfi.aligned`); 0 is the paper's network."""
    return KernelInterpolationNet(KernelEstimation(kernel_size, width, extra_inputs), kernel_size, dilation, mode)
