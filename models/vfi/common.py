"""Pieces shared by AdaCoF and SF-AdaCoF: the conv blocks, the seven AdaCoF heads and the interpolation wrapper.

Module and attribute names follow the official code so that the state_dict keys are the official ones
(``get_kernel.moduleConv1.0.weight``, heads as Sequentials whose convs sit at indices 0, 2, 4 and 7, ...).

The wrapper implements (AdaCoF, Lee et al. CVPR 2020):

    W_i, alpha_i, beta_i (i = 1, 2), V = KernelEstimation(I_0 - mean, I_1 - mean)
    I_0.5 = V * AdaCoF(pad(I_0); W_1, alpha_1, beta_1) + (1 - V) * AdaCoF(pad(I_1); W_2, alpha_2, beta_2)

with the inputs reflect-padded at the bottom/right to a multiple of 32 and the result cropped back, and the
training regularisers g_Spatial = sum TV_charb(mean_n W*alpha), TV_charb(mean_n W*beta) over both frames and
g_Occlusion = TV_charb(V).

The kernel-weighted mean displacement of frame i's taps, D_i = sum_n W_i,n ((k_n d - p) + alpha_i,n, (l_n d - p) +
beta_i,n) with p = (F-1)d/2, is where the kernel looks on average: the flow F_0.5->i that AdaCoF has learned
implicitly. Training can pull it towards a teacher flow in its first steps (``train.vfi --flow-warmup``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.metrics import charbonnier  # the training loss (one definition, in the metrics module)
from models.ops.adacof import adacof

MEAN_RGB = (0.4631, 0.4352, 0.3990)  # per-channel mean subtracted before the kernel network (no std division)
MULTIPLE = 32  # five /2 levels


class FrameShapeError(ValueError):
    """The two input frames do not have the same (B, 3, H, W) shape."""


def scaled(channels: int, width: float) -> int:
    """Channel count of a width-``width`` variant (1.0 = the official network)."""
    return max(1, int(round(channels * width)))


def basic(cin: int, cout: int) -> nn.Sequential:
    """'Basic' block: 3 x (conv3x3 + ReLU); convs at indices 0, 2, 4."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.ReLU())


def upsample(ch: int) -> nn.Sequential:
    """Bilinear x2 (align_corners=True) + conv3x3 + ReLU; the conv at index 1."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                         nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU())


def subnet_offset(cin: int, hidden: int, taps: int) -> nn.Sequential:
    """Alpha / beta head: conv-ReLU x2, conv->F^2, ReLU, x2, conv F^2->F^2 (convs at 0, 2, 4, 7)."""
    return nn.Sequential(nn.Conv2d(cin, hidden, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(hidden, taps, 3, 1, 1), nn.ReLU(),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                         nn.Conv2d(taps, taps, 3, 1, 1))


class TapSoftmax(nn.Module):
    """Softmax over the F^2 taps (dim 1). A channels-last map is normalised along its innermost memory axis through
    a permuted view: the same softmax, without the NCHW copy (and the NCHW result) that a dim-1 softmax of a
    channels-last tensor makes on the CPU (6x faster on a 480p map of 25 taps)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return x.permute(0, 2, 3, 1).softmax(-1).permute(0, 3, 1, 2)  # (B, H, W, T) view, softmax over T
        return x.softmax(1)


def subnet_weight(cin: int, hidden: int, taps: int) -> nn.Sequential:
    """Kernel-weight head: as the offset head, then softmax over the F^2 taps."""
    return nn.Sequential(*subnet_offset(cin, hidden, taps), TapSoftmax())


def subnet_occlusion(cin: int, hidden: int) -> nn.Sequential:
    """Occlusion head V: 3 x (conv + ReLU), x2, conv->1, sigmoid (convs at 0, 2, 4, 7)."""
    return nn.Sequential(nn.Conv2d(cin, hidden, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 3, 1, 1), nn.ReLU(),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                         nn.Conv2d(hidden, 1, 3, 1, 1), nn.Sigmoid())


class KernelEstimationBase(nn.Module):
    """Base of both kernel networks: the U-Net decoder and the seven heads, with the official attribute names."""

    def add_decoder(self, c2: int, c3: int, c4: int, c5: int) -> None:
        """Deconv_l = Basic, each followed by Upsample (x2, conv, ReLU), for l = 5 .. 2."""
        self.moduleDeconv5, self.moduleUpsample5 = basic(c5, c5), upsample(c5)
        self.moduleDeconv4, self.moduleUpsample4 = basic(c5, c4), upsample(c4)
        self.moduleDeconv3, self.moduleUpsample3 = basic(c4, c3), upsample(c3)
        self.moduleDeconv2, self.moduleUpsample2 = basic(c3, c2), upsample(c2)

    def decode(self, bottom: torch.Tensor, conv2, conv3, conv4, conv5) -> torch.Tensor:
        """y_l = Upsample_l(Deconv_l(y_{l+1})) + Conv_l (additive skips); bottom is /32, the result (B, C2, H/2, W/2)."""
        y = self.moduleUpsample5(self.moduleDeconv5(bottom)) + conv5
        y = self.moduleUpsample4(self.moduleDeconv4(y)) + conv4
        y = self.moduleUpsample3(self.moduleDeconv3(y)) + conv3
        return self.moduleUpsample2(self.moduleDeconv2(y)) + conv2

    def add_heads(self, cin: int, hidden: int, kernel_size: int) -> None:
        taps = kernel_size ** 2
        self.moduleWeight1 = subnet_weight(cin, hidden, taps)
        self.moduleAlpha1 = subnet_offset(cin, hidden, taps)
        self.moduleBeta1 = subnet_offset(cin, hidden, taps)
        self.moduleWeight2 = subnet_weight(cin, hidden, taps)
        self.moduleAlpha2 = subnet_offset(cin, hidden, taps)
        self.moduleBeta2 = subnet_offset(cin, hidden, taps)
        self.moduleOcclusion = subnet_occlusion(cin, hidden)

    def heads(self, x: torch.Tensor):
        """x (B, cin, H/2, W/2) -> W1, alpha1, beta1, W2, alpha2, beta2 (B, F^2, H, W) and V (B, 1, H, W)."""
        return (self.moduleWeight1(x), self.moduleAlpha1(x), self.moduleBeta1(x),
                self.moduleWeight2(x), self.moduleAlpha2(x), self.moduleBeta2(x), self.moduleOcclusion(x))


def tv_charbonnier(m: torch.Tensor) -> torch.Tensor:
    """Charbonnier total variation of a (B, 1, H, W) map: horizontal + vertical differences."""
    return charbonnier(m[:, :, :, :-1] - m[:, :, :, 1:]) + charbonnier(m[:, :, :-1, :] - m[:, :, 1:, :])


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    # the official code reflect-pads; reflection needs pad < size, so tiny inputs fall back to replication
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class KernelInterpolationNet(nn.Module):
    """The AdaCoFNet wrapper around a kernel network ``get_kernel`` (official key prefix ``get_kernel.``).

    forward(frame0, frame1): RGB in [0, 1], (B, 3, H, W) each, any H and W -> the middle frame (B, 3, H, W),
    not clamped. With ``aux=True`` returns a dict with ``frame1``, ``g_Spatial`` and ``g_Occlusion``.
    ``mode`` is the AdaCoF sampling mode ("exact" for official checkpoints, "fast" for grid_sample).
    """

    def __init__(self, get_kernel: nn.Module, kernel_size: int = 5, dilation: int = 1, mode: str = "exact"):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.kernel_pad = (kernel_size - 1) * dilation // 2
        self.mode = mode
        self.get_kernel = get_kernel
        self.register_buffer("_mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, aux: bool = False):
        if frame0.shape != frame1.shape or frame0.dim() != 4 or frame0.shape[1] != 3:
            raise FrameShapeError(f"frames must both be (B, 3, H, W); got {tuple(frame0.shape)} and "
                                  f"{tuple(frame1.shape)}")
        h, w = frame0.shape[-2:]
        f0, f1 = _pad_to_multiple(frame0, MULTIPLE), _pad_to_multiple(frame1, MULTIPLE)  # (B, 3, Hp, Wp)
        mean = self._mean.to(f0.dtype)
        w1, a1, b1, w2, a2, b2, occ = self.get_kernel(f0 - mean, f1 - mean)
        p = self.kernel_pad
        s0 = adacof(F.pad(f0, (p, p, p, p), mode="replicate"), w1, a1, b1, self.kernel_size, self.dilation, self.mode)
        s1 = adacof(F.pad(f1, (p, p, p, p), mode="replicate"), w2, a2, b2, self.kernel_size, self.dilation, self.mode)
        out = (occ * s0 + (1 - occ) * s1)[:, :, :h, :w]
        if not aux:
            return out
        m = [torch.mean(wt * off, dim=1, keepdim=True) for wt, off in ((w1, a1), (w1, b1), (w2, a2), (w2, b2))]
        g_spatial = sum(tv_charbonnier(x) for x in m)
        return {"frame1": out, "g_Spatial": g_spatial, "g_Occlusion": tv_charbonnier(occ),
                "flow0": self.mean_displacement(w1, a1, b1)[:, :, :h, :w],
                "flow1": self.mean_displacement(w2, a2, b2)[:, :, :h, :w]}

    def mean_displacement(self, weight: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """D = sum_n W_n (tap_n - p + offset_n) as a (B, 2, H, W) flow in pixels, (x, y) order like OpenCV."""
        n = torch.arange(self.kernel_size ** 2, device=weight.device)
        k = ((n // self.kernel_size) * self.dilation - self.kernel_pad).to(weight.dtype).view(1, -1, 1, 1)
        l = ((n % self.kernel_size) * self.dilation - self.kernel_pad).to(weight.dtype).view(1, -1, 1, 1)
        dy = (weight * (k + alpha)).sum(1)
        dx = (weight * (l + beta)).sum(1)
        return torch.stack([dx, dy], dim=1)
