"""AdaCoF (Lee et al., CVPR 2020): a U-Net predicts per-pixel deformable kernels for both frames.

KernelEstimation (official layout, width 1.0 = 21,843,427 parameters with F = 5):
    x = cat(I_0, I_1)                                   (B, 6, H, W)
    encoder  Conv_l = Basic(., C_l), Pool_l = AvgPool2   C = 32, 64, 128, 256, 512 (down to /32)
    decoder  Deconv5 = Basic(512, 512), Deconv4 = Basic(512, 256), Deconv3 = Basic(256, 128), Deconv2 = Basic(128, 64),
             each followed by Upsample (x2, conv, ReLU) and an additive skip from Conv5..Conv2
    -> 64 channels at /2 -> the seven heads (W1, alpha1, beta1, W2, alpha2, beta2, V) at full size.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .common import KernelEstimationBase, KernelInterpolationNet, basic, scaled


class KernelEstimation(KernelEstimationBase):
    def __init__(self, kernel_size: int = 5, width: float = 1.0, extra_inputs: int = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.extra_inputs = extra_inputs  # channels appended to each frame's RGB (0 = the paper's network)
        c1, c2, c3, c4, c5 = (scaled(c, width) for c in (32, 64, 128, 256, 512))
        self.moduleConv1 = basic(2 * (3 + extra_inputs), c1)
        self.modulePool1 = nn.AvgPool2d(2, 2)
        self.moduleConv2 = basic(c1, c2)
        self.modulePool2 = nn.AvgPool2d(2, 2)
        self.moduleConv3 = basic(c2, c3)
        self.modulePool3 = nn.AvgPool2d(2, 2)
        self.moduleConv4 = basic(c3, c4)
        self.modulePool4 = nn.AvgPool2d(2, 2)
        self.moduleConv5 = basic(c4, c5)
        self.modulePool5 = nn.AvgPool2d(2, 2)

        self.add_decoder(c2, c3, c4, c5)
        self.add_heads(c2, scaled(64, width), kernel_size)

    def forward(self, rfield0: torch.Tensor, rfield1: torch.Tensor):
        x = torch.cat([rfield0, rfield1], 1)                                    # (B, 6 [+ 2 extra], H, W)
        conv1 = self.moduleConv1(x)                                             # /1
        conv2 = self.moduleConv2(self.modulePool1(conv1))                       # /2
        conv3 = self.moduleConv3(self.modulePool2(conv2))                       # /4
        conv4 = self.moduleConv4(self.modulePool3(conv3))                       # /8
        conv5 = self.moduleConv5(self.modulePool4(conv4))                       # /16
        y = self.decode(self.modulePool5(conv5), conv2, conv3, conv4, conv5)      # (B, C2, H/2, W/2)
        return self.heads(y)


def build_adacof(width: float = 1.0, kernel_size: int = 5, dilation: int = 1, mode: str = "exact",
                 extra_inputs: int = 0):
    """AdaCoF network; ``width`` 1.0 is the official one (checkpoint keys ``get_kernel.*``). ``extra_inputs``
    widens the first conv for per-frame conditioning maps (:mod:`models.vfi.aligned`); 0 is the paper's network."""
    return KernelInterpolationNet(KernelEstimation(kernel_size, width, extra_inputs), kernel_size, dilation, mode)
