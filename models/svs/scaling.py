"""Singular Value Scaling (SVS; "Singular Value Scaling: Efficient Generative Model Compression via Pruned Weights
Refinement", AAAI 2025), applied once to (pruned) generator weights before fine-tuning.

For every weight W (a conv kernel flattened to C_out x C_in*k*k) with thin SVD W = U diag(s) V^T:

    W' = U diag(sqrt(s)) V^T          (no renormalisation afterwards)

and for every bias b:

    b' = b / sqrt(||b||_2 + 1e-8)     (so ||b'|| ~ sqrt(||b||), direction kept)

Which parameters (as the official code does it):

* ``"ddpm"``: every parameter whose name has no ``norm``; GroupNorm / LayerNorm affine parameters are first reset
  to weight 1, bias 0. On a diffusers ``UNet2DModel`` this is every Conv2d and Linear (conv_in/out, ResBlock convs
  and shortcuts, ``time_emb_proj``, ``time_embedding.linear_*``, attention ``to_q/to_k/to_v/to_out.0``,
  up/down-sample convs) with their biases; the attention ``group_norm`` counts as a norm.
* ``"stylegan2"``: only parameters under ``synthesis`` whose name holds ``weight`` or ``bias`` (the modulated conv
  weights, their style ``affine`` FC weight and bias, conv biases), excluding ``torgb`` unless ``include_torgb``.
  The mapping network, ``const``, noise strengths and buffers are untouched. A model without ``synthesis`` in its
  names is read in rosinality's layout (``models.svs.stylegan2``): the synthesis is everything but ``style.*``
  (mapping), ``input.input`` (const) and ``*.noise.weight``; ``to_rgb*`` are the to-RGB layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

#: Added to ||b|| before the square root, as in the official code.
BIAS_EPS = 1e-8
RULES = ("ddpm", "stylegan2")


def _as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """(C_out, ...) -> (C_out, prod(rest)) in float64 ((1, C_out, ...) for a 5-D modulated weight); a 1-D tensor is
    refused."""
    if weight.ndim < 2:
        raise ValueError(f"singular value scaling needs a weight with >= 2 dims, got shape {tuple(weight.shape)}")
    if weight.ndim == 5 and weight.shape[0] == 1:  # rosinality's modulated conv weight (1, C_out, C_in, k, k)
        return weight.detach().reshape(weight.shape[1], -1).to(torch.float64)
    return weight.detach().reshape(weight.shape[0], -1).to(torch.float64)


def singular_value_scale(weight: torch.Tensor) -> torch.Tensor:
    """SVS of one weight: W' = U diag(sqrt(s)) V^T with W = U diag(s) V^T.

    ``weight``: a 2-D linear weight (C_out, C_in) or a conv kernel (C_out, C_in, k, k) (any >= 2-D tensor is
    flattened to (C_out, rest)). The SVD is computed in float64 on the CPU; the result has the input's shape,
    dtype and device. Singular vectors are unchanged, singular values become their square roots, and nothing is
    renormalised.
    """
    mat = _as_matrix(weight).cpu()                                # (C_out, C_in*k*k)
    u, s, vh = torch.linalg.svd(mat, full_matrices=False)         # u (m, r), s (r,), vh (r, n)
    scaled = (u * s.sqrt()) @ vh                                  # U diag(sqrt s) V^T
    return scaled.reshape(weight.shape).to(dtype=weight.dtype, device=weight.device)


def scale_bias(bias: torch.Tensor) -> torch.Tensor:
    """SVS bias rule b' = b / sqrt(||b||_2 + 1e-8) (computed in float64, cast back)."""
    b = bias.detach().to(torch.float64)
    out = b / torch.sqrt(torch.linalg.vector_norm(b) + BIAS_EPS)
    return out.to(dtype=bias.dtype, device=bias.device)


def spectrum(weight: torch.Tensor) -> np.ndarray:
    """Singular values (descending, float64) of ``weight`` flattened to (C_out, C_in*k*k)."""
    return torch.linalg.svdvals(_as_matrix(weight).cpu()).numpy()


@dataclass
class SVSReport:
    """What :func:`apply_svs` did, by parameter name."""

    rule: str
    scaled_weights: list[str] = field(default_factory=list)
    scaled_biases: list[str] = field(default_factory=list)
    reset_norms: list[str] = field(default_factory=list)   # norm modules reset to weight 1 / bias 0
    skipped: list[str] = field(default_factory=list)       # parameters left as they were
    scaled_params: int = 0                                  # elements of the scaled tensors
    total_params: int = 0

    @property
    def scaled(self) -> list[str]:
        return self.scaled_weights + self.scaled_biases

    def summary(self) -> str:
        return (f"SVS ({self.rule}): {len(self.scaled_weights)} weights and {len(self.scaled_biases)} biases scaled "
                f"({self.scaled_params:,} of {self.total_params:,} parameters); {len(self.reset_norms)} norm layers "
                f"reset; {len(self.skipped)} parameters untouched")


_NORM_TYPES = (nn.GroupNorm, nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)


def _is_norm_name(name: str) -> bool:
    return "norm" in name.lower()


def _selected(name: str, rule: str, include_torgb: bool, rosinality: bool = False) -> bool:
    """Does the rule scale parameter ``name``? (``name`` is a full dotted parameter name.)"""
    leaf = name.rsplit(".", 1)[-1]
    if rule == "ddpm":
        return not _is_norm_name(name)
    parts = name.split(".")
    if rosinality:  # rosinality layout: synthesis = everything but the mapping ``style.*``, ``input.input``, noise
        if parts[0] in ("style", "input", "noises") or "noise" in parts[:-1]:
            return False
        torgb = any(p.startswith("to_rgb") for p in parts)
    else:  # stylegan2-ada layout: synthesis only
        if "synthesis" not in parts:
            return False
        torgb = any("torgb" in p for p in parts)
    if torgb and not include_torgb:
        return False
    return "weight" in leaf or "bias" in leaf


@torch.no_grad()
def apply_svs(module: nn.Module, rule: str = "ddpm", reset_norms: bool = True,
              include_torgb: bool = True) -> SVSReport:
    """Apply SVS in place to ``module`` following ``rule`` ("ddpm" or "stylegan2"); return an :class:`SVSReport`.

    * ``ddpm``: with ``reset_norms``, every normalisation layer (GroupNorm, LayerNorm, BatchNorm, or any module
      whose name holds ``norm``) gets weight 1 / bias 0 first; then every parameter whose name has no ``norm`` is
      scaled: >= 2-D tensors by :func:`singular_value_scale`, 1-D ones by :func:`scale_bias`.
    * ``stylegan2``: parameters under ``synthesis`` named ``*weight*`` / ``*bias*`` (``torgb`` included only when
      ``include_torgb``, i.e. the official ``--initialize-torgb scaling``); no norm reset (StyleGAN2 has none).

    A 1-D parameter whose name does not say ``bias`` (e.g. a StyleGAN2 ``noise_strength``) is never scaled, nor is
    any 0-D or 1-D *weight* (e.g. a scalar gain).
    """
    if rule not in RULES:
        raise ValueError(f"unknown SVS rule {rule!r}; use one of {RULES}")
    report = SVSReport(rule=rule)
    if rule == "ddpm" and reset_norms:
        for name, mod in module.named_modules():
            if isinstance(mod, _NORM_TYPES) or (name and _is_norm_name(name.rsplit(".", 1)[-1])):
                touched = False
                if getattr(mod, "weight", None) is not None and isinstance(mod.weight, nn.Parameter):
                    mod.weight.fill_(1.0)
                    touched = True
                if getattr(mod, "bias", None) is not None and isinstance(mod.bias, nn.Parameter):
                    mod.bias.zero_()
                    touched = True
                if touched:
                    report.reset_norms.append(name)
    names = [n for n, _ in module.named_parameters()]
    rosinality = rule == "stylegan2" and not any("synthesis" in n.split(".") for n in names)
    for name, p in module.named_parameters():
        report.total_params += p.numel()
        leaf = name.rsplit(".", 1)[-1]
        if not _selected(name, rule, include_torgb, rosinality):
            report.skipped.append(name)
        elif p.ndim >= 2:
            p.copy_(singular_value_scale(p))
            report.scaled_weights.append(name)
            report.scaled_params += p.numel()
        elif p.ndim == 1 and "bias" in leaf:
            p.copy_(scale_bias(p))
            report.scaled_biases.append(name)
            report.scaled_params += p.numel()
        else:
            report.skipped.append(name)
    return report
