"""Centred cubic B-spline basis (order 3), the temporal basis of BF-STVSR's B-spline mapper.

    β³(x) = (4 - 6x² + 3|x|³) / 6   for |x| < 1
          = (2 - |x|)³ / 6          for 1 <= |x| < 2
          = 0                       otherwise

β³(0) = 4/6, β³(±1) = 1/6, β³(±2) = 0, and Σ_k β³(x - k) = 1 for integer knots k. The input is clamped to
±(2 - 1e-6) first, as in the official code (the gradient is then 0 outside the support).
"""
from __future__ import annotations

import torch


def cubic_bspline(x: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    if clamp:
        x = x.clamp(-2.0 + 1e-6, 2.0 - 1e-6)
    a = x.abs()
    inner = 2.0 / 3.0 - a * a * (1.0 - 0.5 * a)  # (4 - 6a² + 3a³) / 6
    u = (2.0 - a).clamp(min=0.0)  # zero from |x| = 2 on
    return torch.where(a < 1.0, inner, u * u * u / 6.0)
