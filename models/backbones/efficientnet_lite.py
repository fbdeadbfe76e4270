"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for mobile: ReLU6, no squeeze-and-excitation, fixed stem
and head), ImageNet-trained, in plain PyTorch with the ``efficientnet_pytorch`` key layout (``_conv_stem``, ``_bn0``,
``_blocks.{i}._expand_conv / _depthwise_conv / _project_conv / _bn0..2``, ``_conv_head``, ``_bn1``, ``_fc``).

FrameForge uses it where a paper uses VGG or Inception and no such weights exist here: as the feature network of
perceptual losses and dictionaries (:meth:`EfficientNetLite0.features`, four scales) and of an FID-like metric,
which is always labelled "FD-EffNetLite0", never "FID".

Each MBConv block (expansion e, kernel k, stride s):  y = BN(Wp * ReLU6(BN(DW_k,s * ReLU6(BN(We * x))))),  plus x
when s = 1 and the channels match. Convolutions use TensorFlow "same" padding (the weights come from TF).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: (repeats, kernel, stride, expansion, in, out) of the seven stages (EfficientNet-B0 without SE).
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
#: Input normalisation of the TF-Lite weights: (x - 0.5) / 0.5 for RGB in [0, 1] (see tests/test_backbones.py).
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
#: Feature scales of :meth:`EfficientNetLite0.features`: output stride -> channels.
FEATURE_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112}
BN_EPS = 1e-3


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (more on the bottom/right when the total is odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout
        self.expand = expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """ImageNet classifier (1000 classes) and multi-scale feature extractor; RGB input in [0, 1]."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, self.stride_after = [], []
        stride = 2
        for repeats, k, s, e, cin, cout in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
                stride *= s if r == 0 else 1
                self.stride_after.append(stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor, strides=tuple(FEATURE_CHANNELS)) -> dict[int, torch.Tensor]:
        """{stride: (B, C, H / stride, W / stride)}: the output of the last block at each requested stride."""
        last = {s: i for i, s in enumerate(self.stride_after)}  # the last block at each stride
        stop = max(last[s] for s in strides)
        y = F.relu6(self._bn0(self._conv_stem((x - self.mean) / self.std)))
        out = {}
        for i, block in enumerate(self._blocks[:stop + 1]):
            y = block(y)
            if self.stride_after[i] in strides and last[self.stride_after[i]] == i:
                out[self.stride_after[i]] = y
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1280) pooled penultimate features (the FD-EffNetLite0 embedding)."""
        y = F.relu6(self._bn0(self._conv_stem((x - self.mean) / self.std)))
        for block in self._blocks:
            y = block(y)
        y = F.relu6(self._bn1(self._conv_head(y)))
        return y.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (B, 1000); input RGB in [0, 1], 224 x 224 as trained."""
        return self._fc(self.embed(x))
