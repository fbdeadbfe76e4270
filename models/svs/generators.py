"""Generators that the Compression tab can load: the bundled tiny MNIST DDPM, a folder under an allowed models
folder (``FRAMEFORGE_MODELS_DIRS``) or a Hub id.

The source is turned into a local folder by :func:`models.weights.resolve_folder` (the one weight loader: a path
outside the allowed folders is refused from its text alone, never opened; a Hub repo is fetched as config and
safetensors files only), then read with diffusers ``UNet2DModel.from_pretrained(use_safetensors=True)``, so a
folder is a diffusers model folder (``config.json`` + ``diffusion_pytorch_model.safetensors``), optionally in a
``unet/`` subfolder as in a whole DDPM pipeline repo (e.g. ``google/ddpm-cifar10-32``). Pickled weights are refused.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.weights import WEIGHTS_DIR, WeightsUnavailable

#: Name of the bundled generator in :func:`models.pipelines.compress.load_generator` (registry id ``ddpm_mnist``).
BUNDLED = "bundled"
#: Name of the bundled StyleGAN2 teacher (``weights/stylegan2_mnist/``, registry id ``stylegan2_mnist``).
BUNDLED_STYLEGAN2 = "bundled-stylegan2"
#: Folder of the bundled tiny DDPM (trained by ``python -m train.tiny_ddpm``).
BUNDLED_DIR = WEIGHTS_DIR / "tiny_ddpm_mnist"


def tiny_unet_config() -> dict:
    """Architecture of the bundled generator: a 1.1M-parameter eps-prediction UNet for 32x32 grey images.

    Resolutions 32 -> 16 -> 8 with widths (32, 64, 64), one ResBlock per level, self-attention at 16x16.
    """
    return dict(
        sample_size=32,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=32,
    )


def tiny_unet() -> nn.Module:
    """A freshly initialised bundled-architecture UNet (random weights)."""
    from diffusers import UNet2DModel

    return UNet2DModel(**tiny_unet_config())


def _from_pretrained(source: str) -> nn.Module:
    """``UNet2DModel.from_pretrained`` on the local folder ``source`` itself, then on its ``unet`` subfolder."""
    import importlib.util

    from diffusers import UNet2DModel

    # Without accelerate diffusers falls back to low_cpu_mem_usage=False after printing "pip install accelerate"
    # (misleading: nothing is missing); asking for that load directly gives the same model without the warning.
    quiet = {} if importlib.util.find_spec("accelerate") else {"low_cpu_mem_usage": False}
    errors = []
    for subfolder in (None, "unet"):
        try:
            model = UNet2DModel.from_pretrained(source, subfolder=subfolder, use_safetensors=True, **quiet)
        except Exception as exc:  # missing files, offline Hub, bad config ...
            where = f"{source}/{subfolder}" if subfolder else source
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            errors.append(f"{where}: {type(exc).__name__}: {first[:200]}")
            continue
        return model
    raise WeightsUnavailable(
        f"no diffusers UNet2DModel (config.json + safetensors) in {Path(source).name!r}; tried: " + "; ".join(errors)
    )


def from_folder(source: str, roots=None) -> nn.Module:
    """A generator UNet from a folder inside one of ``roots`` (default: the ``FRAMEFORGE_MODELS_DIRS`` setting; the
    model at its top or under ``unet/``) or a Hugging Face Hub id such as ``google/ddpm-cifar10-32``, on the CPU,
    float32, frozen, in eval mode. Raises :class:`ValueError` for a source that is neither (the same message
    whether such a path exists or not) and :class:`~models.weights.WeightsUnavailable` naming every place tried
    when nothing loads (e.g. offline). The bundled generators are registered models
    (:func:`models.pipelines.compress.load_generator` takes a source of either kind)."""
    from models import settings
    from models.weights import resolve_folder

    if roots is None:
        roots = settings.get().models_dirs
    folder = resolve_folder((source or "").strip(), roots, {BUNDLED: BUNDLED_DIR})
    return frozen(_from_pretrained(str(folder)))


def frozen(model: nn.Module) -> nn.Module:
    """``model`` in float32 and eval mode with every parameter's gradient off (how the lab keeps a teacher)."""
    model = model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def count_params(model: nn.Module) -> int:
    """Number of parameters (all of them, trainable or not)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def sample(model: nn.Module, n: int = 16, steps: int = 50, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` images with DDIM (``steps`` uniform steps, eta 0) from a DDPM with linear betas; (n, C, H, W) in [-1, 1]."""
    from diffusers import DDIMScheduler

    cfg = model.config
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                          clip_sample=True)
    sched.set_timesteps(steps)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cfg.in_channels, cfg.sample_size, cfg.sample_size, generator=gen)
    for t in sched.timesteps:
        eps = model(x, t).sample
        x = sched.step(eps, t, x, eta=0.0).prev_sample
    return x.clamp(-1, 1)
