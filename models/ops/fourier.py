"""The Fourier basis of BF-STVSR's spatial mapper.

For K frequency pairs f = (f_{2k}, f_{2k+1}) and the query's offset δ = (dy, dx) from its LR cell centre:

    s_k = f_{2k} · dy + f_{2k+1} · dx,      basis = [cos(π s_0..K-1), sin(π s_0..K-1)]   (2K features)

The mapper then multiplies the basis by the amplitudes A (coefficients) elementwise: A ⊙ [cos(π F δ); sin(π F δ)].
"""
from __future__ import annotations

import math

import torch


def fourier_basis(freq: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """freq (..., 2K) interleaved pairs, rel (..., 2) = (dy, dx)  ->  (..., 2K) = [cos(π s), sin(π s)]."""
    if freq.shape[-1] % 2:
        raise ValueError(f"freq needs an even number of channels, got {freq.shape[-1]}")
    pairs = freq.unflatten(-1, (-1, 2))  # (..., K, 2)
    s = (pairs * rel.unsqueeze(-2)).sum(-1)  # (..., K)
    return torch.cat((torch.cos(math.pi * s), torch.sin(math.pi * s)), dim=-1)
