"""Structured channel pruning of a diffusers ``UNet2DModel`` (the DDPM half of the SVS experiment).

What is pruned: the **inner channels of every ResNet block** — the output channels of ``conv1`` together with the
matching rows of ``time_emb_proj`` (both halves for ``scale_shift``), the ``norm2`` channels and the input channels of
``conv2``. These channels feed nothing else, so one block is one independent pruning group and the block's input and
output widths (the residual stream, skip connections, attention, up/down-sampling) are unchanged. Diff-Pruning
(torch-pruning's dependency graph) also prunes the residual stream; ours does not (a departure named in the model
cards): the ResNet convs hold most of a UNet's parameters and MACs, and a stream-preserving pruned model stays
loadable from its config alone.

Importance of channel c of a block (the group's parameters P_c: conv1 filter c and bias, time_emb_proj row(s) c,
norm2 weight/bias c, conv2 input slice c):

* ``"l1"``:     I_c = sum_{w in P_c} |w|                                       (magnitude)
* ``"taylor"``: I_c = sum_{w in P_c} | sum_b w * dL_b/dw |,  L_b = ||eps - eps_theta(x_t, t)||^2  (Diff-Pruning's
  first-order Taylor score: the loss change when the group is removed, accumulated over timesteps t and data
  batches; we spread t uniformly over [0, T) where Diff-Pruning stops at a loss threshold — also named in cards).

Each block keeps ``round((1 - ratio) * C)`` channels rounded to a multiple of its GroupNorm groups (at least one
group), the highest-scoring ones in their original order. A pruned model is stored as safetensors + ``config.json``
(the base diffusers config plus each block's kept width) and rebuilt by :func:`build_pruned`, never unpickled.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.svs.generators import count_params

METHODS = ("taylor", "l1")
#: ``_class_name`` written into a pruned model's config.json.
CLASS_NAME = "FrameForgePrunedUNet2DModel"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


def resnet_blocks(unet: nn.Module) -> dict[str, nn.Module]:
    """Every ResNet block of the UNet (a module with conv1 / norm2 / conv2), by module name, in forward order."""
    return {name: m for name, m in unet.named_modules()
            if all(hasattr(m, a) for a in ("conv1", "norm2", "conv2", "time_emb_proj"))}


def widths(unet: nn.Module) -> dict[str, int]:
    """Inner width (conv1 output channels) of each ResNet block."""
    return {name: b.conv1.out_channels for name, b in resnet_blocks(unet).items()}


def _temb_rows(block: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """Rows of ``time_emb_proj`` that belong to inner channels ``idx`` (both halves for scale_shift)."""
    if getattr(block, "time_embedding_norm", "default") == "scale_shift":
        c = block.conv1.out_channels
        return torch.cat([idx, idx + c])
    return idx


def _group_params(block: nn.Module) -> list[tuple[torch.Tensor, int, bool]]:
    """(parameter, channel dimension, is time_emb_proj) of the block's pruning group."""
    rows = [(block.conv1.weight, 0, False), (block.conv2.weight, 1, False)]
    if block.conv1.bias is not None:
        rows.append((block.conv1.bias, 0, False))
    if block.norm2.weight is not None:
        rows += [(block.norm2.weight, 0, False), (block.norm2.bias, 0, False)]
    if block.time_emb_proj is not None:
        rows.append((block.time_emb_proj.weight, 0, True))
        if block.time_emb_proj.bias is not None:
            rows.append((block.time_emb_proj.bias, 0, True))
    return rows


def _channel_scores(block: nn.Module, per_element) -> torch.Tensor:
    """Sum of ``per_element(param)`` (same shape as the param) over each inner channel's group: (C,)."""
    c = block.conv1.out_channels
    score = torch.zeros(c, dtype=torch.float64)
    for p, dim, is_temb in _group_params(block):
        v = per_element(p).detach().to(torch.float64)
        v = v.transpose(0, dim).reshape(v.shape[dim], -1).sum(1)  # (channels of this param,)
        if is_temb and v.numel() == 2 * c:  # scale_shift: scale and shift rows of channel c
            v = v[:c] + v[c:]
        score += v
    return score


def l1_importance(unet: nn.Module) -> dict[str, torch.Tensor]:
    """Magnitude importance: I_c = sum |w| over the channel's group, per block."""
    return {name: _channel_scores(b, torch.abs) for name, b in resnet_blocks(unet).items()}


def taylor_importance(unet: nn.Module, images: torch.Tensor, timesteps: int = 10, batch: int = 32,
                      num_train_timesteps: int = 1000, seed: int = 0) -> dict[str, torch.Tensor]:
    """Diff-Pruning's Taylor importance: I_c = sum over the group of |w * g|, g the eps-MSE gradient accumulated over
    ``timesteps`` values of t spread over [0, T) and the batches of ``images`` ((N, C, H, W) in [-1, 1])."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="linear",
                          beta_start=1e-4, beta_end=0.02)
    model = copy.deepcopy(unet).float().train()
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None
    gen = torch.Generator().manual_seed(seed)
    ts = torch.linspace(0, num_train_timesteps - 1, timesteps).round().long()
    for i in range(0, len(images), batch):
        x0 = images[i:i + batch].float()
        for t in ts:
            noise = torch.randn(x0.shape, generator=gen)
            tt = t.repeat(len(x0))
            loss = F.mse_loss(model(sched.add_noise(x0, noise, tt), tt).sample, noise)
            loss.backward()
    # |w * g| summed over the group's elements (the first-order loss change of removing them, as a magnitude)
    return {name: _channel_scores(b, lambda p: (p * p.grad).abs()) for name, b in resnet_blocks(model).items()}


def kept_width(channels: int, ratio: float, groups: int) -> int:
    """Channels a block keeps at pruning ``ratio``: round((1 - ratio) C) to a multiple of ``groups``, >= groups."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    keep = int(round((1.0 - ratio) * channels / groups)) * groups
    return max(groups, min(channels, keep))


def _slice(p: torch.Tensor, dim: int, idx: torch.Tensor) -> torch.Tensor:
    return p.detach().index_select(dim, idx).clone()


def _resize_block(block: nn.Module, keep: int, idx: torch.Tensor | None = None) -> None:
    """Replace the block's conv1 / time_emb_proj / norm2 / conv2 by ``keep``-channel versions; with ``idx`` (kept
    channel indices) the kept weights are copied, else the new layers are freshly initialised (to load into)."""
    c1, c2, n2, tp = block.conv1, block.conv2, block.norm2, block.time_emb_proj
    new_c1 = nn.Conv2d(c1.in_channels, keep, c1.kernel_size, c1.stride, c1.padding, bias=c1.bias is not None)
    new_c2 = nn.Conv2d(keep, c2.out_channels, c2.kernel_size, c2.stride, c2.padding, bias=c2.bias is not None)
    new_n2 = nn.GroupNorm(n2.num_groups, keep, eps=n2.eps, affine=n2.affine)
    new_tp = None
    if tp is not None:
        rows = 2 * keep if getattr(block, "time_embedding_norm", "default") == "scale_shift" else keep
        new_tp = nn.Linear(tp.in_features, rows, bias=tp.bias is not None)
    if idx is not None:
        with torch.no_grad():
            new_c1.weight.copy_(_slice(c1.weight, 0, idx))
            if c1.bias is not None:
                new_c1.bias.copy_(_slice(c1.bias, 0, idx))
            new_c2.weight.copy_(_slice(c2.weight, 1, idx))
            if c2.bias is not None:
                new_c2.bias.copy_(c2.bias.detach())
            if n2.affine:
                new_n2.weight.copy_(_slice(n2.weight, 0, idx))
                new_n2.bias.copy_(_slice(n2.bias, 0, idx))
            if tp is not None:
                rows_idx = _temb_rows(block, idx)
                new_tp.weight.copy_(_slice(tp.weight, 0, rows_idx))
                if tp.bias is not None:
                    new_tp.bias.copy_(_slice(tp.bias, 0, rows_idx))
    dtype, device = c1.weight.dtype, c1.weight.device
    block.conv1, block.conv2, block.norm2 = (m.to(dtype=dtype, device=device) for m in (new_c1, new_c2, new_n2))
    if new_tp is not None:
        block.time_emb_proj = new_tp.to(dtype=dtype, device=device)


@dataclass
class PruneReport:
    """What :func:`prune_unet` did."""

    method: str
    ratio: float
    widths_before: dict[str, int]
    widths_after: dict[str, int]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    kept: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{self.method} pruning at {self.ratio:.0%} of each ResNet block's inner channels: parameters "
                f"{self.params_before:,} -> {self.params_after:,} ({self.params_after / self.params_before:.1%}), "
                f"MACs {self.macs_before / 1e6:.1f}M -> {self.macs_after / 1e6:.1f}M "
                f"({self.macs_after / self.macs_before:.1%}) per sample")


@torch.no_grad()
def count_macs(unet: nn.Module) -> int:
    """Multiply-accumulates of the Conv2d and Linear layers (attention's two matmuls included) in one forward of
    one sample at the model's ``sample_size``."""
    cfg = unet.config
    total = [0]
    hooks = []

    def conv_hook(m, inp, out):
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    for m in unet.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif type(m).__name__ == "Attention":  # q k^T and attn v: 2 * tokens^2 * inner
            def attn_hook(mod, inp, out):
                x = inp[0]
                tokens = x.shape[2] * x.shape[3] if x.ndim == 4 else x.shape[1]
                total[0] += 2 * x.shape[0] * tokens * tokens * mod.to_q.out_features
            hooks.append(m.register_forward_hook(attn_hook))
    try:
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
        x = torch.zeros(1, cfg.in_channels, size, size, dtype=next(unet.parameters()).dtype)
        unet(x, torch.tensor([10])).sample
    finally:
        for h in hooks:
            h.remove()
    return int(total[0])


def prune_unet(unet: nn.Module, ratio: float, method: str = "taylor", images: torch.Tensor | None = None,
               **taylor_kwargs) -> tuple[nn.Module, PruneReport]:
    """A pruned copy of ``unet`` (the input is not changed) and its report. ``images`` are needed for Taylor."""
    if method not in METHODS:
        raise ValueError(f"unknown pruning method {method!r}; use one of {METHODS}")
    if method == "taylor":
        if images is None or len(images) == 0:
            raise ValueError("Taylor importance needs a batch of training images")
        scores = taylor_importance(unet, images, **taylor_kwargs)
    else:
        scores = l1_importance(unet)
    pruned = copy.deepcopy(unet)
    before = widths(unet)
    kept = {}
    for name, block in resnet_blocks(pruned).items():
        keep = kept_width(block.conv1.out_channels, ratio, block.norm2.num_groups)
        idx = torch.topk(scores[name], keep).indices.sort().values
        _resize_block(block, keep, idx)
        kept[name] = idx.tolist()
    report = PruneReport(method=method, ratio=ratio, widths_before=before, widths_after=widths(pruned),
                         params_before=count_params(unet), params_after=count_params(pruned),
                         macs_before=count_macs(unet), macs_after=count_macs(pruned), kept=kept)
    return pruned, report


def build_pruned(unet_config: dict, block_widths: dict[str, int]) -> nn.Module:
    """An (initialised, not loaded) UNet2DModel of ``unet_config`` whose ResNet blocks have ``block_widths``."""
    from diffusers import UNet2DModel

    cfg = {k: v for k, v in unet_config.items() if not k.startswith("_")}
    unet = UNet2DModel(**cfg)
    blocks = resnet_blocks(unet)
    unknown = sorted(set(block_widths) - set(blocks))
    if unknown:
        raise ValueError(f"pruned config names blocks this UNet does not have: {', '.join(unknown[:5])}")
    for name, keep in block_widths.items():
        groups = blocks[name].norm2.num_groups
        if not (0 < int(keep) <= blocks[name].conv1.out_channels) or int(keep) % groups:
            raise ValueError(f"bad pruned width {keep} for {name} (must be a positive multiple of {groups}, "
                             f"at most {blocks[name].conv1.out_channels})")
        _resize_block(blocks[name], int(keep))
    return unet


def widths_from_state(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Each ResNet block's inner width, read from its conv1 weight shape in a state_dict."""
    return {k[: -len(".conv1.weight")]: int(v.shape[0]) for k, v in state.items() if k.endswith(".conv1.weight")}


def save_pruned(unet: nn.Module, folder: str | Path, meta: dict | None = None, half: bool = True) -> Path:
    """Write ``config.json`` (base config, kept widths, ``meta``) and the weights as safetensors (fp16 by default)."""
    from models.weights import save_safetensors

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"_class_name": CLASS_NAME, "unet": dict(unet.config), "resnet_widths": widths(unet),
              "pruning": meta or {}}
    config["unet"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config["unet"].items()}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, default=str))
    save_safetensors(unet.state_dict(), folder / WEIGHTS_NAME, half=half)
    return folder


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {Path(folder).name!r}")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{CONFIG_NAME} of {Path(folder).name!r} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("_class_name") != CLASS_NAME or "unet" not in config:
        raise ValueError(f"{Path(folder).name!r} is not a FrameForge pruned UNet (config _class_name != {CLASS_NAME})")
    return config


def load_pruned(folder: str | Path) -> nn.Module:
    """Rebuild a pruned UNet from its folder (config + safetensors), weights loaded strictly, in float32 eval mode."""
    from models.weights import load_state_dict

    config = read_config(folder)
    unet = build_pruned(config["unet"], config.get("resnet_widths", {}))
    unet.load_state_dict(load_state_dict(Path(folder) / WEIGHTS_NAME), strict=True)
    return unet.float().eval()
