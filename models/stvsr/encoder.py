"""The Zooming-SlowMo encoder of BF-STVSR (``ZSM_encoder``): two LR frames -> three LR feature maps.

1. per frame: conv3x3 -> LReLU -> ``n_extract`` residual blocks = L1; L2, L3 = (stride-2 conv, conv) twice;
2. ``pcd_align`` (PCD with deformable convs, both directions) + 1x1 ``fusion`` synthesise the middle feature;
3. [F0, F_mid, F1] -> bidirectional deformable ConvLSTM (h and c aligned to the input by ``Easy_PCD``) -> 1x1;
4. ``n_trunk`` residual blocks -> (B, 3, nf, H, W) = F0, F01, F1.

Module names follow the official checkpoint; the time-modulation blocks ``TMB_*`` are built (``tmb=True``) only so
the official state_dict loads strictly: the official forward never calls them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.ops.deform_conv import DCNSep


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


class ResidualBlockNoBN(nn.Module):
    """x + conv(ReLU(conv(x))), convs scaled by 0.1 at init (EDVR)."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class TMB(nn.Module):
    """Time-modulation block (kept for the checkpoint layout only; 64 channels as in the official code)."""

    def __init__(self, nf: int = 64):
        super().__init__()
        self.t_process = nn.Sequential(nn.Conv2d(1, nf, 1, bias=False), nn.LeakyReLU(0.1),
                                       nn.Conv2d(nf, nf, 1, bias=False), nn.LeakyReLU(0.1),
                                       nn.Conv2d(nf, nf, 1, bias=False), nn.LeakyReLU(0.1))
        self.f_process = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.1),
                                       nn.Conv2d(nf, nf, 3, 1, 1), nn.LeakyReLU(0.1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.f_process(x) * self.t_process(t)


class PCDAlign(nn.Module):
    """Pyramid, cascading, deformable alignment (3 levels) of fea1 to fea2 (suffix _1) and fea2 to fea1 (_2).

    Returns cat(aligned fea1, aligned fea2) (B, 2·nf, H, W).
    """

    def __init__(self, nf: int = 64, groups: int = 8, tmb: bool = True):
        super().__init__()
        for s in ("1", "2"):
            setattr(self, f"L3_offset_conv1_{s}", nn.Conv2d(2 * nf, nf, 3, 1, 1))
            setattr(self, f"L3_offset_conv2_{s}", nn.Conv2d(nf, nf, 3, 1, 1))
            setattr(self, f"L3_dcnpack_{s}", DCNSep(nf, nf, 3, padding=1, deformable_groups=groups))
            for lv in ("L2", "L1"):
                setattr(self, f"{lv}_offset_conv1_{s}", nn.Conv2d(2 * nf, nf, 3, 1, 1))
                setattr(self, f"{lv}_offset_conv2_{s}", nn.Conv2d(2 * nf, nf, 3, 1, 1))
                setattr(self, f"{lv}_offset_conv3_{s}", nn.Conv2d(nf, nf, 3, 1, 1))
                setattr(self, f"{lv}_dcnpack_{s}", DCNSep(nf, nf, 3, padding=1, deformable_groups=groups))
                setattr(self, f"{lv}_fea_conv_{s}", nn.Conv2d(2 * nf, nf, 3, 1, 1))
        if tmb:
            for name in ("TMB_A_l1", "TMB_B_l1", "TMB_A_l2", "TMB_B_l2", "TMB_A_l3", "TMB_B_l3"):
                setattr(self, name, TMB())

    def _align(self, a: list[torch.Tensor], b: list[torch.Tensor], s: str) -> torch.Tensor:
        m = lambda name: getattr(self, f"{name}_{s}")  # noqa: E731
        up = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        # L3 (1/4 size)
        off3 = _lrelu(m("L3_offset_conv1")(torch.cat([a[2], b[2]], 1)))
        off3 = _lrelu(m("L3_offset_conv2")(off3))
        fea3 = _lrelu(m("L3_dcnpack")(a[2], off3))
        # L2 (1/2 size)
        off2 = _lrelu(m("L2_offset_conv1")(torch.cat([a[1], b[1]], 1)))
        off2 = _lrelu(m("L2_offset_conv2")(torch.cat([off2, up(off3) * 2], 1)))
        off2 = _lrelu(m("L2_offset_conv3")(off2))
        fea2 = m("L2_dcnpack")(a[1], off2)
        fea2 = _lrelu(m("L2_fea_conv")(torch.cat([fea2, up(fea3)], 1)))
        # L1 (full size)
        off1 = _lrelu(m("L1_offset_conv1")(torch.cat([a[0], b[0]], 1)))
        off1 = _lrelu(m("L1_offset_conv2")(torch.cat([off1, up(off2) * 2], 1)))
        off1 = _lrelu(m("L1_offset_conv3")(off1))
        fea1 = m("L1_dcnpack")(a[0], off1)
        return m("L1_fea_conv")(torch.cat([fea1, up(fea2)], 1))

    def forward(self, fea1: list[torch.Tensor], fea2: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([self._align(fea1, fea2, "1"), self._align(fea2, fea1, "2")], 1)


class Pyramid(nn.Module):
    """L1 -> [L1, L2, L3] with two (stride-2 conv, conv) stages, LReLU after each conv."""

    def __init__(self, nf: int):
        super().__init__()
        self.fea_L2_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L2_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.fea_L3_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L3_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def pyramid(self, l1: torch.Tensor) -> list[torch.Tensor]:
        l2 = _lrelu(self.fea_L2_conv2(_lrelu(self.fea_L2_conv1(l1))))
        l3 = _lrelu(self.fea_L3_conv2(_lrelu(self.fea_L3_conv1(l2))))
        return [l1, l2, l3]


class EasyPCD(Pyramid):
    """Align two same-level features with their own pyramid, a PCD and a 1x1 fusion: (B, nf, H, W) x2 -> same."""

    def __init__(self, nf: int = 64, groups: int = 8, tmb: bool = True):
        super().__init__(nf)
        self.pcd_align = PCDAlign(nf, groups, tmb)
        self.fusion = nn.Conv2d(2 * nf, nf, 1)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        b = f1.shape[0]
        levels = self.pyramid(torch.cat([f1, f2], 0))
        return self.fusion(self.pcd_align([x[:b] for x in levels], [x[b:] for x in levels]))


class ConvLSTMCell(nn.Module):
    """i, f, o, g = split(conv([x, h])); c' = σ(f)·c + σ(i)·tanh(g); h' = σ(o)·tanh(c')."""

    def __init__(self, nf: int):
        super().__init__()
        self.nf = nf
        self.conv = nn.Conv2d(2 * nf, 4 * nf, 3, 1, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = torch.split(self.conv(torch.cat([x, h], 1)), self.nf, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class DeformableConvLSTM(nn.Module):
    """One-layer ConvLSTM whose state (h, c) is aligned to each input by ``pcd_h`` / ``pcd_c`` before the cell."""

    def __init__(self, nf: int, groups: int, tmb: bool):
        super().__init__()
        self.pcd_h = EasyPCD(nf, groups, tmb)
        self.pcd_c = EasyPCD(nf, groups, tmb)
        self.cell_list = nn.ModuleList([ConvLSTMCell(nf)])

    def forward(self, seq: torch.Tensor) -> torch.Tensor:  # (B, T, nf, H, W) -> (B, T, nf, H, W)
        h = c = torch.zeros_like(seq[:, 0])
        outs = []
        for t in range(seq.shape[1]):
            x = seq[:, t]
            h, c = self.cell_list[0](x, self.pcd_h(x, h), self.pcd_c(x, c))
            outs.append(h)
        return torch.stack(outs, 1)


class BiDeformableConvLSTM(nn.Module):
    """The forward and the time-reversed pass share ``forward_net``; a 1x1 conv fuses the two (2·nf -> nf)."""

    def __init__(self, nf: int, groups: int, tmb: bool):
        super().__init__()
        self.forward_net = DeformableConvLSTM(nf, groups, tmb)
        self.conv_1x1 = nn.Conv2d(2 * nf, nf, 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = seq.shape
        fwd = self.forward_net(seq)
        rev = self.forward_net(seq.flip(1)).flip(1)
        return self.conv_1x1(torch.cat([fwd, rev], 2).view(b * t, 2 * c, h, w)).view(b, t, c, h, w)


class ZSMEncoder(Pyramid):
    """(B, 2, 3, H, W) in [0, 1], H and W multiples of 4  ->  (B, 3, nf, H, W) = [F0, F01, F1]."""

    def __init__(self, nf: int = 64, n_extract: int = 5, n_trunk: int = 40, groups: int = 8, tmb: bool = True):
        super().__init__(nf)
        self.nf = nf
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(n_extract)])
        self.pcd_align = PCDAlign(nf, groups, tmb)
        self.fusion = nn.Conv2d(2 * nf, nf, 1)
        self.ConvBLSTM = BiDeformableConvLSTM(nf, groups, tmb)
        self.recon_trunk = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(n_trunk)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _, h, w = x.shape
        if n != 2:
            raise ValueError(f"the encoder takes 2 frames, got {n}")
        if h % 4 or w % 4:
            raise ValueError(f"LR size {h}x{w} must be a multiple of 4 (pad first)")
        l1 = self.feature_extraction(_lrelu(self.conv_first(x.reshape(b * n, 3, h, w))))
        levels = self.pyramid(l1)  # frames interleaved (b, n)
        f0 = [lv.view(b, n, *lv.shape[1:])[:, 0] for lv in levels]
        f1 = [lv.view(b, n, *lv.shape[1:])[:, 1] for lv in levels]
        mid = self.fusion(self.pcd_align(f0, f1))
        feats = self.ConvBLSTM(torch.stack([f0[0], mid, f1[0]], 1))
        return self.recon_trunk(feats.reshape(b * 3, self.nf, h, w)).view(b, 3, self.nf, h, w)
