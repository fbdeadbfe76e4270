"""StyleGAN2 generator (Karras et al., 2020) in plain PyTorch, with the parameter names of rosinality's
``stylegan2-pytorch`` ``Generator`` so its ``g_ema`` checkpoints load strictly, and per-layer channel widths so a
pruned generator is described by its config.

* Mapping: z -> PixelNorm -> n_mlp x EqualLinear(lr_mul 0.01) + fused leaky ReLU -> w.
* Synthesis: a learned constant (4x4), then per resolution 8 .. size: an upsampling modulated 3x3 conv and a
  modulated 3x3 conv, each followed by noise injection and a fused leaky ReLU, and a to-RGB 1x1 modulated conv
  (no demodulation) added to the upsampled RGB skip.
* Modulated conv: s = A(w) (affine, bias init 1); w'_{oik} = s_i w_{oik} / sqrt(fan_in);
  demodulation w''_{oik} = w'_{oik} / sqrt(sum_{i,k} w'^2_{oik} + 1e-8).
* Equalised learning rate: weights are stored N(0, 1) and scaled by 1/sqrt(fan_in) at run time (SVS acts on the
  stored tensors, as the paper's code does).
* Up-sampling: transposed conv (stride 2) then a [1, 3, 3, 1] blur (FIR, gain 4); to-RGB skips: zero insertion +
  the same FIR (``upfirdn2d`` written here with ``F.pad`` and ``F.conv2d``).

Pruning (``prune_generator``): each modulated conv's output channels are ranked by the L1 norm of their stored
filter (the documented importance score: |w|_1 over C_in x k x k), the kept ones are sliced out of that conv, its
activation bias and every consumer (the next conv's input and its affine rows, the level's to-RGB input and its
affine rows). The constant input, the mapping network and to-RGB outputs keep their widths.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

BLUR = (1, 3, 3, 1)


def fir_kernel(k=BLUR) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insertion upsampling by ``up``, padding (pad0, pad1) on every side, 2-D FIR filtering with ``kernel``
    (a true convolution: the kernel is flipped). (B, C, H, W) -> (B, C, H*up + pad0 + pad1 - kh + 1, ...)."""
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    x = x[:, :, max(-p0, 0):x.shape[2] - max(-p1, 0), max(-p0, 0):x.shape[3] - max(-p1, 0)]
    k = torch.flip(kernel, (0, 1)).to(x)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """y = x (W / sqrt(in) * lr_mul)^T + b * lr_mul, then optionally a fused leaky ReLU."""

    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale)
        if self.activation:
            return F.leaky_relu(out + self.bias * self.lr_mul, 0.2) * math.sqrt(2)
        return out + self.bias * self.lr_mul


class FusedLeakyReLU(nn.Module):
    """leaky_relu(x + b, 0.2) * sqrt(2), b per channel."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)


class Blur(nn.Module):
    def __init__(self, pad, gain=1.0):
        super().__init__()
        self.register_buffer("kernel", fir_kernel() * gain)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 zero insertion + FIR [1, 3, 3, 1] (gain 4): the to-RGB skip path."""

    def __init__(self, factor=2):
        super().__init__()
        self.register_buffer("kernel", fir_kernel() * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.factor, self.pad = factor, ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Modulated (and demodulated) conv; weight (1, C_out, C_in, k, k), style affine ``modulation`` (bias init 1)."""

    def __init__(self, in_ch, out_ch, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        if upsample:  # registered first, so the state_dict order is rosinality's
            p = (len(BLUR) - 2) - (k - 1)
            self.blur = Blur(((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, k, k))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.k, self.demodulate, self.upsample = k, demodulate, upsample

    @property
    def in_channels(self) -> int:
        return self.weight.shape[2]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1]

    def forward(self, x, w):
        # Computed as modulate input -> shared conv -> demodulate output, which equals the per-sample weights
        # w''_{oik} above (one dense conv instead of a grouped one: faster on CPUs).
        b, cin = x.shape[:2]
        s = self.modulation(w)                                             # (B, C_in)
        weight = self.weight[0] / math.sqrt(cin * self.k ** 2)             # (C_out, C_in, k, k)
        x = x * s.view(b, cin, 1, 1)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.k // 2)
        if self.demodulate:                                                # 1 / sqrt(sum_{i,k} (w_oik s_i)^2 + eps)
            d = torch.rsqrt((s.pow(2) @ weight.pow(2).sum((2, 3)).t()) + 1e-8)   # (B, C_out)
            out = out * d.view(b, -1, 1, 1)
        return out


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + self.weight * noise


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, w, noise=None):
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True, out_ch=3):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_ch, out_ch, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_ch, 1, 1))

    def forward(self, x, w, skip=None):
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + self.upsample(skip)


def default_widths(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """StyleGAN2 config-f channels per resolution (rosinality's table)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: c for r, c in table.items() if r <= size}


class Generator(nn.Module):
    """rosinality-layout StyleGAN2 generator. ``conv_widths`` (one per StyledConv, in order conv1, convs.0, ...)
    overrides the output widths of the convs (a pruned generator); ``const_width`` the constant's channels;
    ``img_channels`` 3 for rosinality checkpoints, 1 for grey digits."""

    def __init__(self, size=256, style_dim=512, n_mlp=8, channel_multiplier=2, lr_mlp=0.01,
                 channels: dict | None = None, conv_widths: list[int] | None = None, img_channels: int = 3):
        super().__init__()
        if size < 4 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 4, got {size}")
        self.size, self.style_dim, self.log_size = size, style_dim, int(math.log2(size))
        table = {int(k): int(v) for k, v in (channels or default_widths(size, channel_multiplier)).items()}
        self.num_layers = (self.log_size - 2) * 2 + 1
        widths = list(conv_widths) if conv_widths else (
            [table[4]] + [table[2 ** i] for i in range(3, self.log_size + 1) for _ in range(2)])
        if len(widths) != self.num_layers:
            raise ValueError(f"conv_widths needs {self.num_layers} entries, got {len(widths)}")
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True)
                                                  for _ in range(n_mlp)])
        self.input = nn.Module()
        self.input.input = nn.Parameter(torch.randn(1, table[4], 4, 4))
        self.conv1 = StyledConv(table[4], widths[0], style_dim)
        self.to_rgb1 = ToRGB(widths[0], style_dim, upsample=False, out_ch=img_channels)
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        prev = widths[0]
        for j in range(self.log_size - 2):
            a, b = widths[1 + 2 * j], widths[2 + 2 * j]
            self.convs.append(StyledConv(prev, a, style_dim, upsample=True))
            self.convs.append(StyledConv(a, b, style_dim))
            self.to_rgbs.append(ToRGB(b, style_dim, out_ch=img_channels))
            prev = b
        self.n_latent = self.log_size * 2 - 2
        self.config = {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, "lr_mlp": lr_mlp,
                       "channels": table, "conv_widths": widths, "img_channels": img_channels}

    def styled_convs(self) -> list[StyledConv]:
        return [self.conv1, *self.convs]

    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        z = torch.randn(n, self.style_dim, generator=torch.Generator().manual_seed(seed))
        return self.style(z.to(self.input.input)).mean(0, keepdim=True)

    def forward(self, z: torch.Tensor, truncation: float = 1.0, truncation_latent=None, noise=None,
                randomize_noise: bool = True) -> torch.Tensor:
        """z (B, style_dim) -> images (B, img_channels, size, size); one w for every layer (no mixing)."""
        w = self.style(z)
        if truncation < 1 and truncation_latent is not None:
            w = truncation_latent + truncation * (w - truncation_latent)
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else [
                getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        x = self.input.input.repeat(len(z), 1, 1, 1)
        x = self.conv1(x, w, noise[0])
        skip = self.to_rgb1(x, w)
        for j, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * j](x, w, noise[1 + 2 * j])
            x = self.convs[2 * j + 1](x, w, noise[2 + 2 * j])
            skip = to_rgb(x, w, skip)
        return skip


def _consumers(g: Generator, i: int) -> list[ModulatedConv2d]:
    """Modulated convs reading the output of styled conv ``i`` (the next conv, and the level's to-RGB)."""
    convs = g.styled_convs()
    out = [convs[i + 1].conv] if i + 1 < len(convs) else []
    if i == 0:
        out.append(g.to_rgb1.conv)
    elif i % 2 == 0:  # the second conv of level (i - 2) // 2
        out.append(g.to_rgbs[(i - 2) // 2].conv)
    return out


@torch.no_grad()
def prune_generator(g: Generator, ratio: float) -> tuple[Generator, list[list[int]]]:
    """A copy of ``g`` with ``ceil((1 - ratio) C)`` output channels kept in every styled conv (L1 of the stored
    filters), as DCP-GAN counts them; returns (pruned generator, kept indices per conv)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    p = copy.deepcopy(g)
    kept = []
    for i, sc in enumerate(p.styled_convs()):
        w = sc.conv.weight                                                   # (1, C_out, C_in, k, k)
        keep = max(1, math.ceil((1.0 - ratio) * w.shape[1]))
        score = w.abs().sum((0, 2, 3, 4))
        idx = torch.topk(score, keep).indices.sort().values
        sc.conv.weight = nn.Parameter(w[:, idx].clone())
        sc.activate.bias = nn.Parameter(sc.activate.bias[idx].clone())
        for mc in _consumers(p, i):
            mc.weight = nn.Parameter(mc.weight[:, :, idx].clone())
            mc.modulation.weight = nn.Parameter(mc.modulation.weight[idx].clone())
            mc.modulation.bias = nn.Parameter(mc.modulation.bias[idx].clone())
        kept.append(idx.tolist())
    p.config["conv_widths"] = [len(k) for k in kept]
    return p, kept


def generator_config(state: dict[str, torch.Tensor]) -> dict:
    """Build arguments of a Generator matching a rosinality-layout ``g_ema`` state_dict: size, mapping depth,
    style size, channel widths and image channels, read from the tensors."""
    try:
        n_mlp = len({k.split(".")[1] for k in state if k.startswith("style.") and k.endswith(".weight")})
        style_dim = state["style.1.weight"].shape[1]
        n_convs = 1 + len({k.split(".")[1] for k in state if k.startswith("convs.") and k.endswith(".conv.weight")})
        size = 2 ** ((n_convs - 1) // 2 + 2)
        widths = [state["conv1.conv.weight"].shape[1]] + [state[f"convs.{i}.conv.weight"].shape[1]
                                                          for i in range(n_convs - 1)]
        channels = {**default_widths(size), 4: state["input.input"].shape[1]}
        img_channels = state["to_rgb1.bias"].shape[1]
    except KeyError as exc:
        raise ValueError(f"not a rosinality StyleGAN2 generator state_dict (no {exc})") from None
    return {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, "channels": channels, "conv_widths": widths,
            "img_channels": img_channels}


def generator_from_state(state: dict[str, torch.Tensor]) -> Generator:
    """A Generator shaped by :func:`generator_config` with ``state`` loaded strictly."""
    g = Generator(**generator_config(state))
    g.load_state_dict(state, strict=True)
    return g
