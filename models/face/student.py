"""The face student (FrameForge configuration of the JBE 2021 student): an encoder–SFT-decoder without landmarks,
dictionaries, AdaIN or selection, predicting a residual over the pretrained upscaler's output.

    B = BasicVSR(LR) resized to the output size                          (the base; models.face.baselines)
    F_2, F_4, F_8 = EfficientNet-Lite0(B)                                 (frozen ImageNet features: the "VGG" slot)
    e_2 = conv(unshuffle_2(B)),  e_4 = down(e_2),  e_8 = MSDilate(down(e_4))       (the student's own encoder)
    d_s = SFT_s( conv([up(d_2s), e_s]); F_s )  for s = 4, 2,   d_8 = SFT_8(e_8; F_8),
    SFT(x; c) = x * Scale(c) + Shift(c)
    I = B + shuffle_2(conv_out(d_2))                                      (conv_out zero-initialised: I = B at start)

Departures from the paper (named in the model card): EfficientNet-Lite0 features replace VGG19 (no VGG weights exist
here); the output is a residual over the pretrained BasicVSR instead of a full synthesis from a bicubic input;
thin channels (32 / 64 / 96 at strides 2 / 4 / 8) for the CPU.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.backbones.efficientnet_lite import FEATURE_CHANNELS

#: Widths at strides 2, 4, 8.
WIDTHS = (32, 64, 96)
STRIDES = (2, 4, 8)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), _act())


class SFT(nn.Module):
    """Spatial feature transform: x * Scale(c) + Shift(c), both conv-LReLU-conv of the condition, Shift ending in a
    sigmoid as in DFDNet; Scale starts near 1 (its last bias is 1)."""

    def __init__(self, cond: int, ch: int):
        super().__init__()
        self.scale = nn.Sequential(nn.Conv2d(cond, ch, 3, 1, 1), _act(), nn.Conv2d(ch, ch, 3, 1, 1))
        self.shift = nn.Sequential(nn.Conv2d(cond, ch, 3, 1, 1), _act(), nn.Conv2d(ch, ch, 3, 1, 1), nn.Sigmoid())
        nn.init.ones_(self.scale[-1].bias)

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


class SFTUNet(nn.Module):
    """Base image + conditions (strides 2, 4, 8) -> residual image. ``forward`` also returns the post-SFT maps
    (the distillation taps, coarse to fine)."""

    def __init__(self, cond_channels=tuple(FEATURE_CHANNELS[s] for s in STRIDES), widths=WIDTHS):
        super().__init__()
        self.widths = tuple(widths)
        w2, w4, w8 = widths
        self.enc2 = nn.Sequential(_conv(12, w2), _conv(w2, w2))
        self.enc4 = nn.Sequential(_conv(w2, w4, 2), _conv(w4, w4))
        self.enc8 = nn.Sequential(_conv(w4, w8, 2), MSDilate(w8))
        self.sft8 = SFT(cond_channels[2], w8)
        self.dec4 = _conv(w8 + w4, w4)
        self.sft4 = SFT(cond_channels[1], w4)
        self.dec2 = _conv(w4 + w2, w2)
        self.sft2 = SFT(cond_channels[0], w2)
        self.conv_out = nn.Conv2d(w2, 12, 3, 1, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, base: torch.Tensor, conds: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f2, f4, f8 = conds
        e2 = self.enc2(F.pixel_unshuffle(base, 2))  # (B, w2, H/2, W/2)
        e4 = self.enc4(e2)
        d8 = self.sft8(self.enc8(e4), f8)
        up = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        d4 = self.sft4(self.dec4(torch.cat([up(d8), e4], 1)), f4)
        d2 = self.sft2(self.dec2(torch.cat([up(d4), e2], 1)), f2)
        return F.pixel_shuffle(self.conv_out(d2), 2), [d8, d4, d2]


class FaceStudent(nn.Module):
    """I = B + decoder(EfficientNet-Lite0 features of B); the feature network is frozen and not part of the
    state_dict (it is the registered ``efficientnet_lite0``, attached with :meth:`attach_features` or loaded on
    first use by ``load_features``, a zero-argument loader the registry's builder passes)."""

    def __init__(self, widths: tuple[int, int, int] = WIDTHS, load_features=None):
        super().__init__()
        self.decoder = SFTUNet(widths=tuple(widths))
        self._features = None
        self.load_features = load_features

    def attach_features(self, effnet: nn.Module) -> "FaceStudent":
        effnet.eval()
        for p in effnet.parameters():
            p.requires_grad_(False)
        self._features = [effnet]  # a list keeps it out of the state_dict and of .parameters()
        return self

    def feature_net(self) -> nn.Module:
        """The frozen EfficientNet-Lite0: the one attached, else the one ``load_features`` gives (attached now)."""
        if self._features is None:
            if self.load_features is None:
                raise ValueError(f"{type(self).__name__} has no feature network: attach_features(effnet) or pass "
                                 "load_features= (registry.create builds it with the registered efficientnet_lite0)")
            self.attach_features(self.load_features())
        return self._features[0]

    def features(self, base: torch.Tensor) -> list[torch.Tensor]:
        effnet = self.feature_net()
        if next(effnet.parameters()).device != base.device:  # not a submodule: moving this network does not move it
            effnet.to(base.device)
        with torch.no_grad():
            f = effnet.features(base)
        return [f[s] for s in STRIDES]

    def conditions(self, base: torch.Tensor, boxes: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The SFT conditions at strides 2, 4, 8: the student uses the features as they are (no parts)."""
        return self.features(base)

    def forward(self, base: torch.Tensor, with_taps: bool = False, boxes: torch.Tensor | None = None):
        """base (B, 3, H, W) in [0, 1], H and W multiples of 32 -> restored (B, 3, H, W), not clamped. ``boxes``
        (B, 4, 4) are the part boxes in pixels, read by the teacher only."""
        residual, taps = self.decoder(base, self.conditions(base, boxes))
        out = base + residual.to(base.dtype)
        return (out, taps) if with_taps else out


class FaceNetRestorer:
    """:class:`~models.interfaces.FaceRestorer`: the pretrained upscaler's base at ``out_size``, then the network."""

    def __init__(self, net: FaceStudent, base=None, load_base=None):
        self.net = net.eval()
        self.base, self.load_base = base, load_base  # the base restorer, or a zero-argument loader of it

    def eval(self):
        self.net.eval()
        return self

    def load_state_dict(self, state: dict, strict: bool = True):
        return self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=strict)

    @torch.no_grad()
    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        from models.device import autocast, inference_device
        from models.imageio import check_frame, to_tensor, to_uint8

        from .dfdnet import template_boxes

        check_frame(face, "face crop")
        if self.base is None:
            if self.load_base is None:
                raise ValueError("FaceNetRestorer needs its base restorer: pass base= or load_base= "
                                 "(registry.create builds it with the registered face_basicvsr)")
            self.base = self.load_base()
        base = self.base.restore(face, out_size)
        device = inference_device()
        self.net.to(device)  # its feature network follows the input (FaceStudent.features)
        x = to_tensor(base, device)
        pad = (-out_size) % 32
        x = F.pad(x, (0, pad, 0, pad), mode="replicate")
        boxes = template_boxes(out_size)[None]  # the aligned crop's part boxes (read by the teacher)
        with autocast(device):
            y = self.net(x, boxes=boxes)[..., :out_size, :out_size]
        return to_uint8(y[0])
