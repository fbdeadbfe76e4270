"""The face student (FrameForge configuration of the JBE 2021 student): an encoder–SFT-decoder without landmarks,
dictionaries, AdaIN or selection, predicting a residual over the pretrained upscaler's output.

    B = BasicVSR(LR) resized to the output size                         (the base; models.face.baselines)
    F_2, F_4, F_8, F_16 = EfficientNet-Lite0(B)                          (frozen ImageNet features, strides 2..16)
    h_16 = MSDilate(conv(F_16))
    h_s/2 = up( SFT_s(conv(h_s); F_s) )  for s = 16, 8, 4, 2,   SFT(x; c) = x * Scale(c) + Shift(c)
    I = B + conv_out([h_1, B])                                           (conv_out zero-initialised: I = B at start)

Departures from the paper (named in the model card): EfficientNet-Lite0 features replace VGG19 (no VGG weights exist
here); the output is a residual over the pretrained BasicVSR instead of a full synthesis from a bicubic input;
channel widths are thin (128 at stride 16 down to 16) for the CPU.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.efficientnet_lite import FEATURE_CHANNELS

#: Decoder widths at strides 16, 8, 4, 2 and at full resolution.
WIDTHS = (128, 64, 32, 16, 16)
STRIDES = (16, 8, 4, 2)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class SFT(nn.Module):
    """Spatial feature transform: x * Scale(c) + Shift(c), both conv-LReLU-conv of the condition, Shift ending in a
    sigmoid as in DFDNet."""

    def __init__(self, cond: int, ch: int):
        super().__init__()
        self.scale = nn.Sequential(nn.Conv2d(cond, ch, 3, 1, 1), _act(), nn.Conv2d(ch, ch, 3, 1, 1))
        self.shift = nn.Sequential(nn.Conv2d(cond, ch, 3, 1, 1), _act(), nn.Conv2d(ch, ch, 3, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return x * self.scale(cond) + self.shift(cond)


class MSDilate(nn.Module):
    """Multi-scale dilated block: convs with dilation 4, 3, 2, 1, concatenated, fused, plus the input."""

    def __init__(self, ch: int):
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(nn.Conv2d(ch, ch // 2, 3, 1, d, dilation=d), _act())
                                      for d in (4, 3, 2, 1))
        self.fuse = nn.Conv2d(2 * ch, ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fuse(torch.cat([b(x) for b in self.branches], 1))


class SFTDecoder(nn.Module):
    """h_16 -> residual image, conditioned on four feature maps (the student's raw features, or the teacher's
    dictionary-enhanced ones). ``forward`` also returns the post-SFT maps (the distillation taps)."""

    def __init__(self, cond_channels=tuple(FEATURE_CHANNELS[s] for s in STRIDES), widths=WIDTHS):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(cond_channels[0], widths[0], 3, 1, 1), _act(), MSDilate(widths[0]))
        self.convs = nn.ModuleList(nn.Sequential(nn.Conv2d(widths[i], widths[i], 3, 1, 1), _act())
                                   for i in range(len(STRIDES)))
        self.sfts = nn.ModuleList(SFT(cond_channels[i], widths[i]) for i in range(len(STRIDES)))
        self.ups = nn.ModuleList(nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1), _act())
                                 for i in range(len(STRIDES)))
        self.tail = nn.Sequential(nn.Conv2d(widths[-1] + 3, widths[-1], 3, 1, 1), _act())
        self.conv_out = nn.Conv2d(widths[-1], 3, 3, 1, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, conds: list[torch.Tensor], base: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.head(conds[0])
        taps = []
        for conv, sft, up, cond in zip(self.convs, self.sfts, self.ups, conds):
            h = sft(conv(h), cond)
            taps.append(h)
            h = up(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False))
        h = self.tail(torch.cat([h, base], 1))
        return self.conv_out(h), taps


class FaceStudent(nn.Module):
    """I = B + decoder(EfficientNet-Lite0 features of B); the feature network is frozen and not part of the
    state_dict (it is the registered ``efficientnet_lite0``)."""

    def __init__(self):
        super().__init__()
        self.decoder = SFTDecoder()
        self._features = None

    def attach_features(self, effnet: nn.Module) -> "FaceStudent":
        effnet.eval()
        for p in effnet.parameters():
            p.requires_grad_(False)
        self._features = [effnet]  # a list keeps it out of the state_dict and of .parameters()
        return self

    def features(self, base: torch.Tensor) -> list[torch.Tensor]:
        if self._features is None:
            from models import registry

            self.attach_features(registry.get("efficientnet_lite0"))
        with torch.no_grad():
            f = self._features[0].features(base)
        return [f[s] for s in STRIDES]

    def forward(self, base: torch.Tensor, with_taps: bool = False):
        """base (B, 3, H, W) in [0, 1], H and W multiples of 32 -> restored (B, 3, H, W), not clamped."""
        residual, taps = self.decoder(self.features(base), base)
        out = base + residual.to(base.dtype)
        return (out, taps) if with_taps else out


class FaceNetRestorer:
    """:class:`~models.interfaces.FaceRestorer`: the pretrained upscaler's base at ``out_size``, then the network."""

    def __init__(self, net: FaceStudent, base=None):
        self.net = net.eval()
        self.base = base

    def eval(self):
        self.net.eval()
        return self

    def load_state_dict(self, state: dict, strict: bool = True):
        return self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=strict)

    @torch.no_grad()
    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        from models.device import autocast, inference_device
        from models.imageio import check_frame

        from .baselines import BasicVSRFaceRestorer

        check_frame(face, "face crop")
        if self.base is None:
            self.base = BasicVSRFaceRestorer()
        base = self.base.restore(face, out_size)
        device = inference_device()
        self.net.to(device)
        if self.net._features:
            self.net._features[0].to(device)
        x = torch.from_numpy(base).permute(2, 0, 1)[None].float().div(255).to(device)
        pad = (-out_size) % 32
        x = F.pad(x, (0, pad, 0, pad), mode="replicate")
        with autocast(device):
            y = self.net(x)[..., :out_size, :out_size]
        return y.float().clamp(0, 1).mul(255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
