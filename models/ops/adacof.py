"""Adaptive Collaboration of Flows (AdaCoF) sampling, in plain PyTorch.

For an output pixel (i, j) and a source frame I that is already replication-padded by (F-1)*d/2 on every side:

    O(i, j) = sum_{k, l < F} W_{kF+l}(i, j) * I_bilinear(i + k*d + alpha_{kF+l}(i, j), j + l*d + beta_{kF+l}(i, j))

W, alpha (vertical offset) and beta (horizontal offset) are shared by the colour channels.

Two modes:

* ``exact`` reproduces the official CUDA kernel (HyeongminLEE/AdaCoF-pytorch ``cupy_module/adacof.py``):
  the integer part is C truncation toward zero, A = trunc(alpha), and the fraction fa = alpha - A is
  *negative* for negative alpha (linear extrapolation from rows i+kd+A and i+kd+A+1). The four indices are
  clamped separately to [0, H_pad-1] / [0, W_pad-1]. Autograd through fa gives the official gradients
  (trunc has zero derivative). Use it with official checkpoints.
* ``fast`` is ordinary bilinear sampling (floor, border clamp) through ``grid_sample``; it equals ``exact``
  wherever the fractions are non-negative.

Both process the F*F taps in chunks whose sampled buffer (B, C, T, H, W) stays under ``budget`` elements
(default 2^23, 32 MB in fp32): small training crops take all taps in one vectorised call (about 3x faster on the
CPU), large frames go tap by tap, so memory stays bounded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


DEFAULT_BUDGET = 1 << 23


class AdaCoFInputError(ValueError):
    """Shapes of the frame / weight / offsets do not fit together."""


def _check(frame: torch.Tensor, weight: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
           kernel_size: int, dilation: int) -> tuple[int, int, int, int]:
    if frame.dim() != 4 or weight.dim() != 4:
        raise AdaCoFInputError("adacof: frame and weight must be 4-D (B, C, H, W)")
    if weight.shape != alpha.shape or weight.shape != beta.shape:
        raise AdaCoFInputError(f"adacof: weight {tuple(weight.shape)}, alpha {tuple(alpha.shape)} and beta "
                               f"{tuple(beta.shape)} must have the same shape")
    b, taps, h, w = weight.shape
    if taps != kernel_size * kernel_size:
        raise AdaCoFInputError(f"adacof: weight has {taps} channels, expected kernel_size^2 = {kernel_size ** 2}")
    span = (kernel_size - 1) * dilation
    if frame.shape[0] != b or frame.shape[2] != h + span or frame.shape[3] != w + span:
        raise AdaCoFInputError(f"adacof: padded frame {tuple(frame.shape)} does not fit output {h}x{w} with "
                               f"kernel {kernel_size} and dilation {dilation} (expected {h + span}x{w + span})")
    return b, h, w, span


def _tap_chunks(n_taps: int, per_tap: int, budget: int) -> list[tuple[int, int]]:
    """Split the taps into consecutive chunks of at most ``budget`` sampled elements (at least one tap each)."""
    step = max(1, min(n_taps, budget // max(per_tap, 1)))
    return [(s, min(s + step, n_taps)) for s in range(0, n_taps, step)]


def _tap_grid(kernel_size, dilation, n0, n1, h, w, device, dtype):
    """Base sampling positions of taps n0..n1-1: rows i + k*d and columns j + l*d, each (1, T, H, W)."""
    n = torch.arange(n0, n1, device=device)
    k = (n // kernel_size).to(dtype).view(1, -1, 1, 1) * dilation
    l = (n % kernel_size).to(dtype).view(1, -1, 1, 1) * dilation
    ii = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1)
    jj = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w)
    return ii + k, jj + l


def _adacof_exact(frame, weight, alpha, beta, kernel_size, dilation, budget):
    b, h, w, _ = _check(frame, weight, alpha, beta, kernel_size, dilation)
    c, hp, wp = frame.shape[1], frame.shape[2], frame.shape[3]
    flat = frame.reshape(b, c, hp * wp)                                         # (B, C, Hp*Wp)
    out = None
    for n0, n1 in _tap_chunks(kernel_size ** 2, b * c * h * w, budget):
        t = n1 - n0
        rows, cols = _tap_grid(kernel_size, dilation, n0, n1, h, w, frame.device, torch.long)
        a, bt = alpha[:, n0:n1], beta[:, n0:n1]                                 # (B, T, H, W)
        ai, bi = torch.trunc(a).detach(), torch.trunc(bt).detach()             # C cast: toward zero
        fa, fb = (a - ai).unsqueeze(1), (bt - bi).unsqueeze(1)                 # (B, 1, T, H, W), may be < 0
        r0, c0 = rows + ai.long(), cols + bi.long()
        r1, c1 = (r0 + 1).clamp(0, hp - 1), (c0 + 1).clamp(0, wp - 1)          # each index clamped separately
        r0, c0 = r0.clamp(0, hp - 1), c0.clamp(0, wp - 1)

        def tap(r, cc):
            idx = (r * wp + cc).reshape(b, 1, t * h * w).expand(b, c, t * h * w)
            return flat.gather(2, idx).view(b, c, t, h, w)

        sample = (tap(r0, c0) * (1 - fa) * (1 - fb) + tap(r1, c0) * fa * (1 - fb)
                  + tap(r0, c1) * (1 - fa) * fb + tap(r1, c1) * fa * fb)     # (B, C, T, H, W)
        term = (sample * weight[:, n0:n1].unsqueeze(1)).sum(2)
        out = term if out is None else out + term
    return out


def _adacof_fast(frame, weight, alpha, beta, kernel_size, dilation, budget):
    """Each pixel's taps are sampled as neighbouring grid points, (B, H, W*T) in one ``grid_sample``, and summed
    along the innermost axis: the maps are read as (B, H, W, F^2) views, which is free for the networks'
    channels-last maps (no copy) and as fast as a tap-major layout for NCHW ones."""
    b, h, w, _ = _check(frame, weight, alpha, beta, kernel_size, dilation)
    c, hp, wp = frame.shape[1], frame.shape[2], frame.shape[3]
    wt, al, be = (m.permute(0, 2, 3, 1) for m in (weight, alpha, beta))  # (B, H, W, F^2) views
    out = None
    for n0, n1 in _tap_chunks(kernel_size ** 2, b * c * h * w, budget):
        t = n1 - n0
        rows, cols = (g.permute(0, 2, 3, 1) for g in _tap_grid(kernel_size, dilation, n0, n1, h, w, frame.device,
                                                               alpha.dtype))  # (1, H, 1, T), (1, 1, W, T)
        y = (rows + al[..., n0:n1]) * (2.0 / max(hp - 1, 1)) - 1               # align_corners=True coordinates
        x = (cols + be[..., n0:n1]) * (2.0 / max(wp - 1, 1)) - 1
        grid = torch.stack((x, y), dim=-1).view(b, h, w * t, 2)                # (x, y) order, taps innermost
        sample = F.grid_sample(frame, grid.to(frame.dtype), mode="bilinear", padding_mode="border",
                               align_corners=True).view(b, c, h, w, t)
        term = (sample * wt[..., n0:n1].unsqueeze(1)).sum(-1)                   # (B, C, H, W)
        out = term if out is None else out + term
    return out


def adacof(frame_padded: torch.Tensor, weight: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
           kernel_size: int, dilation: int = 1, mode: str = "exact", budget: int = DEFAULT_BUDGET) -> torch.Tensor:
    """AdaCoF-sample ``frame_padded`` (B, C, H+(F-1)d, W+(F-1)d) with per-pixel kernels -> (B, C, H, W).

    ``weight``, ``alpha`` (vertical) and ``beta`` (horizontal) are (B, F*F, H, W); tap n = k*F + l.
    ``mode`` is ``"exact"`` (official truncation semantics) or ``"fast"`` (bilinear grid_sample).
    ``budget`` bounds the sampled elements held at once (taps are processed in chunks; 1 = tap by tap).
    """
    if mode not in ("exact", "fast"):
        raise AdaCoFInputError(f"adacof: unknown mode {mode!r} (use 'exact' or 'fast')")
    fn = _adacof_exact if mode == "exact" else _adacof_fast
    # Sampling positions need fp32: in bf16 / fp16, i + k*d + alpha near 128 px is rounded to whole pixels.
    # So half inputs are lifted to fp32 and autocast is switched off inside (the caller gets fp32 back).
    lift = lambda x: x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # noqa: E731
    with torch.autocast(device_type=frame_padded.device.type, enabled=False):
        return fn(lift(frame_padded), lift(weight), lift(alpha), lift(beta), kernel_size, dilation, budget)
