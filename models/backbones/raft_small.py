"""RAFT-small (Teed & Deng, ECCV 2020, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow"), the
small variant used as ``flow_predictor`` inside MoTIF and BF-STVSR. Plain PyTorch (no ``alt_cuda_corr``).

Pipeline, for two images I1, I2 (B, 3, H, W) with **values in [0, 255]** (as the official RAFT expects; it maps
them to [-1, 1] itself) and H, W multiples of 8:

* feature encoder ``fnet`` (instance norm) and context encoder ``cnet`` (no norm), both :class:`SmallEncoder`
  (conv7x7/2 -> 3 stages of 2 bottleneck blocks, strides 1, 2, 2 -> 1x1 conv): 1/8 resolution;
  g1 = fnet(I1), g2 = fnet(I2) (128 ch); cnet(I1) = [h0 (96, tanh), ctx (64, ReLU)];
* all-pairs correlation  C(p, q) = <g1(p), g2(q)> / sqrt(128), pooled 3 times over q (2x2 average) -> 4 levels;
* lookup around x = p + f(p) at level l: the (2r+1)^2 bilinear samples C_l(p, x/2^l + (d_i, d_j)), r = 3,
  d in {-3..3}; the **first** window axis moves x (the official meshgrid order), 4·49 = 196 channels;
* ``update_block`` (:class:`SmallUpdateBlock`): motion features m = enc(corr, f) (80 + f = 82 ch),
  ConvGRU  z = σ(Wz*[h, x]), r = σ(Wr*[h, x]), q = tanh(Wq*[r·h, x]), h' = (1 - z)·h + z·q  with x = [ctx, m];
  Δf = flow_head(h'); f <- f + Δf;
* ``upflow8``: f_full = 8 · bilinear_x8(f) (align_corners=True), no convex upsampling in the small model.

The result is the forward flow I1 -> I2 in pixels, channel 0 = x: I1(p) ~ I2(p + f(p)).

State-dict keys equal the official ``RAFT(args.small=True)`` ones (990,162 parameters). Beyond the official code:
inputs whose 1/8 grid is too small for 4 pyramid levels (H or W < 64) still run — a level of size 1 is zero-padded
before pooling (outside pixels count 0 in the lookup anyway) — and the bilinear lookup is written for any level
size (the official one divides by size - 1). At H, W >= 64 the numbers are the official ones.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

CORR_LEVELS = 4
CORR_RADIUS = 3
HIDDEN_DIM = 96
CONTEXT_DIM = 64


class BottleneckBlock(nn.Module):
    """y = ReLU(x' + ReLU(N(conv1x1(ReLU(N(conv3x3/s(ReLU(N(conv1x1(x))))))))), x' = N(conv1x1/s(x)) if s > 1."""

    def __init__(self, in_planes: int, planes: int, instance_norm: bool, stride: int = 1):
        super().__init__()
        self.instance_norm = instance_norm
        self.conv1 = nn.Conv2d(in_planes, planes // 4, 1)
        self.conv2 = nn.Conv2d(planes // 4, planes // 4, 3, stride, 1)
        self.conv3 = nn.Conv2d(planes // 4, planes, 1)
        self.downsample = None
        if stride != 1:  # Sequential(conv, norm): the norm holds no state, so the key is downsample.0
            norm = nn.InstanceNorm2d(planes) if instance_norm else nn.Identity()
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride), norm)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x) if self.instance_norm else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self._norm(self.conv1(x)))
        y = F.relu(self._norm(self.conv2(y)))
        y = F.relu(self._norm(self.conv3(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


class SmallEncoder(nn.Module):
    """(N, 3, H, W) -> (N, out, H/8, W/8): conv7x7/2 (32) -> [32, 64/2, 96/2] x 2 bottlenecks -> conv1x1."""

    def __init__(self, output_dim: int, instance_norm: bool):
        super().__init__()
        self.instance_norm = instance_norm
        self.conv1 = nn.Conv2d(3, 32, 7, 2, 3)
        layers, cin = [], 32
        for dim, stride in ((32, 1), (64, 2), (96, 2)):
            layers.append(nn.Sequential(BottleneckBlock(cin, dim, instance_norm, stride),
                                        BottleneckBlock(dim, dim, instance_norm, 1)))
            cin = dim
        self.layer1, self.layer2, self.layer3 = layers
        self.conv2 = nn.Conv2d(96, output_dim, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = F.relu(F.instance_norm(x) if self.instance_norm else x)
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class SmallMotionEncoder(nn.Module):
    """m = [ReLU(conv3x3(128->80)([ReLU(convc1(corr)), ReLU(convf2(ReLU(convf1(f))))])), f]  (82 ch)."""

    def __init__(self):
        super().__init__()
        self.convc1 = nn.Conv2d(CORR_LEVELS * (2 * CORR_RADIUS + 1) ** 2, 96, 1)
        self.convf1 = nn.Conv2d(2, 64, 7, padding=3)
        self.convf2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv = nn.Conv2d(128, 80, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        cor = F.relu(self.convc1(corr))
        flo = F.relu(self.convf2(F.relu(self.convf1(flow))))
        return torch.cat([F.relu(self.conv(torch.cat([cor, flo], 1))), flow], 1)


class ConvGRU(nn.Module):
    """h' = (1 - z)·h + z·tanh(Wq*[r·h, x]),  z = σ(Wz*[h, x]),  r = σ(Wr*[h, x])  (3x3 convs)."""

    def __init__(self, hidden_dim: int, input_dim: int):
        super().__init__()
        self.convz = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convr = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convq = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        hx = torch.cat([h, x], 1)
        z = torch.sigmoid(self.convz(hx))
        r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat([r * h, x], 1)))
        return (1 - z) * h + z * q


class FlowHead(nn.Module):
    def __init__(self, input_dim: int = HIDDEN_DIM, hidden_dim: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class SmallUpdateBlock(nn.Module):
    """(h, ctx, corr, f) -> (h', Δf)."""

    def __init__(self, hidden_dim: int = HIDDEN_DIM):
        super().__init__()
        self.encoder = SmallMotionEncoder()
        self.gru = ConvGRU(hidden_dim, 82 + CONTEXT_DIM)
        self.flow_head = FlowHead(hidden_dim, 128)

    def forward(self, net, inp, corr, flow):
        net = self.gru(net, torch.cat([inp, self.encoder(flow, corr)], 1))
        return net, self.flow_head(net)


def bilinear_lookup(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of img (N, C, h, w) at pixel coordinates (x, y) (N, a, b); pixels outside count 0.

    The official ``bilinear_sampler`` normalises by (size - 1) with align_corners=True; the align_corners=False form
    used here, (2p + 1) / size - 1, lands on the same pixel positions and is also defined for size 1."""
    h, w = img.shape[-2:]
    grid = torch.stack(((2 * x + 1) / w - 1, (2 * y + 1) / h - 1), -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class CorrPyramid:
    """All-pairs correlation of fmap1, fmap2 (B, D, h, w), 2x2-average-pooled over the second image's grid."""

    def __init__(self, fmap1: torch.Tensor, fmap2: torch.Tensor, levels: int = CORR_LEVELS,
                 radius: int = CORR_RADIUS):
        b, d, h, w = fmap1.shape
        self.radius = radius
        corr = torch.matmul(fmap1.reshape(b, d, h * w).transpose(1, 2), fmap2.reshape(b, d, h * w))
        corr = corr.reshape(b * h * w, 1, h, w) / torch.sqrt(torch.tensor(float(d)))  # (B·h·w, 1, h, w)
        self.pyramid = [corr]
        for _ in range(levels - 1):
            if corr.shape[-2] < 2 or corr.shape[-1] < 2:  # only for inputs under 64 px (see the module doc)
                corr = F.pad(corr, (0, int(corr.shape[-1] < 2), 0, int(corr.shape[-2] < 2)))
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.pyramid.append(corr)

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """coords (B, 2, h, w) (x, y) at 1/8 resolution -> (B, levels·(2r+1)^2, h, w)."""
        b, _, h, w = coords.shape
        r = self.radius
        d = torch.linspace(-r, r, 2 * r + 1, device=coords.device, dtype=coords.dtype)
        cx = coords[:, 0].reshape(b * h * w, 1, 1)
        cy = coords[:, 1].reshape(b * h * w, 1, 1)
        out = []
        for lvl, corr in enumerate(self.pyramid):
            x = cx / 2 ** lvl + d.view(1, -1, 1)  # window axis 0 moves x (official order), axis 1 moves y
            y = cy / 2 ** lvl + d.view(1, 1, -1)
            x, y = torch.broadcast_tensors(x, y)
            out.append(bilinear_lookup(corr, x, y).view(b, h, w, -1))
        return torch.cat(out, -1).permute(0, 3, 1, 2).contiguous()


def coords_grid(b: int, h: int, w: int, device, dtype=torch.float32) -> torch.Tensor:
    """(B, 2, h, w) pixel coordinates, channel 0 = x."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None].expand(b, 2, h, w)


def upflow8(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) at 1/8 -> (B, 2, 8h, 8w): 8 · bilinear resize with align_corners=True."""
    return 8 * F.interpolate(flow, size=(8 * flow.shape[2], 8 * flow.shape[3]), mode="bilinear", align_corners=True)


class RAFTSmall(nn.Module):
    """RAFT-small: ``forward(image1, image2, iters)`` -> flow image1 -> image2 (B, 2, H, W), channel 0 = x.

    Images are (B, 3, H, W) with values in **[0, 255]**, H and W multiples of 8. ``iters``: GRU refinements
    (RAFT default 12; MoTIF uses 4 at test, 12 in training). ``return_all`` gives the list of every iteration's
    upsampled flow (the official return value); ``flow_init`` (B, 2, H/8, W/8) starts from a coarse flow.
    """

    def __init__(self):
        super().__init__()
        self.hidden_dim, self.context_dim = HIDDEN_DIM, CONTEXT_DIM
        self.fnet = SmallEncoder(128, instance_norm=True)
        self.cnet = SmallEncoder(HIDDEN_DIM + CONTEXT_DIM, instance_norm=False)
        self.update_block = SmallUpdateBlock(HIDDEN_DIM)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iters: int = 12,
                flow_init: torch.Tensor | None = None, return_all: bool = False):
        if image1.shape != image2.shape or image1.dim() != 4 or image1.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) images, got {tuple(image1.shape)}, {tuple(image2.shape)}")
        b, _, h, w = image1.shape
        if h % 8 or w % 8:
            raise ValueError(f"RAFT needs H and W multiples of 8, got {h}x{w}")
        image1 = 2 * (image1 / 255.0) - 1.0
        image2 = 2 * (image2 / 255.0) - 1.0
        fmap1, fmap2 = torch.split(self.fnet(torch.cat([image1, image2], 0)), b, 0)
        corr_fn = CorrPyramid(fmap1.float(), fmap2.float())
        net, inp = torch.split(self.cnet(image1), [self.hidden_dim, self.context_dim], 1)
        net, inp = torch.tanh(net), torch.relu(inp)
        coords0 = coords_grid(b, h // 8, w // 8, image1.device, fmap1.dtype)
        coords1 = coords0.clone() if flow_init is None else coords0 + flow_init
        flows = []
        for _ in range(iters):
            coords1 = coords1.detach()
            corr = corr_fn(coords1)
            net, delta = self.update_block(net, inp, corr, coords1 - coords0)
            coords1 = coords1 + delta
            flows.append(upflow8(coords1 - coords0))
        if return_all:
            return flows
        return flows[-1] if flows else upflow8(coords1 - coords0)


__all__ = ["RAFTSmall", "SmallEncoder", "SmallUpdateBlock", "CorrPyramid", "upflow8", "coords_grid"]
