"""Forward (splatting) warps of softmax splatting (Niklaus & Liu 2020), as scatters.

A source pixel (x, y) with flow (u, v) (channel 0 = x) lands at (tx, ty) = (x+u, y+v); with x0 = floor(tx),
y0 = floor(ty) its four neighbours get the bilinear weights NW=(x0+1-tx)(y0+1-ty), NE=(tx-x0)(y0+1-ty),
SW=(x0+1-tx)(ty-y0), SE=(tx-x0)(ty-y0). Neighbours outside the image are dropped.

* :func:`splat_sum`   Σ w·value (differentiable in value and flow)
* :func:`splat_max`   max of w·value (zero-initialised; detached)
* :func:`splat_count` Σ value over in-bounds neighbours, *unweighted* (detached); with value = 1 it counts the
  samples that landed on a pixel. (The official count kernel adds the input value, and BF-STVSR passes z.)
* :func:`softmax_splat` (Σ w·value·e^z, Σ w·e^z)
"""
from __future__ import annotations

import torch


def _corners(flow: torch.Tensor):
    """Flat target indices (N, 4·H·W), bilinear weights (N, 4·H·W) and in-bounds mask for the four neighbours."""
    n, _, h, w = flow.shape
    gy, gx = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    tx = gx + flow[:, 0]
    ty = gy + flow[:, 1]
    x0 = torch.floor(tx).detach()
    y0 = torch.floor(ty).detach()
    fx, fy = tx - x0, ty - y0
    idx, wts, ok = [], [], []
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        cx, cy = x0 + dx, y0 + dy
        inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h) & torch.isfinite(tx) & torch.isfinite(ty)
        flat = torch.where(inside, cy * w + cx, torch.zeros_like(cx)).long()
        idx.append(flat.view(n, -1))
        wts.append(wgt.reshape(n, -1))
        ok.append(inside.view(n, -1))
    return torch.cat(idx, 1), torch.cat(wts, 1), torch.cat(ok, 1)


def splat_sum(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Summation splatting: x (N, C, H, W), flow (N, 2, H, W) -> (N, C, H, W)."""
    n, c, h, w = x.shape
    idx, wts, ok = _corners(flow)
    vals = x.reshape(n, c, 1, h * w).expand(n, c, 4, h * w).reshape(n, c, 4 * h * w)
    vals = vals * (wts * ok).unsqueeze(1)
    out = x.new_zeros(n, c, h * w)
    out = out.scatter_add(2, idx.unsqueeze(1).expand(n, c, -1), vals)
    return out.view(n, c, h, w)


@torch.no_grad()
def splat_max(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Max splatting of w·x into a zero-initialised buffer (detached)."""
    n, c, h, w = x.shape
    idx, wts, ok = _corners(flow)
    vals = x.reshape(n, c, 1, h * w).expand(n, c, 4, h * w).reshape(n, c, 4 * h * w) * (wts * ok).unsqueeze(1)
    out = x.new_zeros(n, c, h * w)
    out.scatter_reduce_(2, idx.unsqueeze(1).expand(n, c, -1), vals, reduce="amax", include_self=True)
    return out.view(n, c, h, w)


@torch.no_grad()
def splat_count(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Unweighted splat: every in-bounds neighbour of a sample's target gets the full value (detached).

    x (N, C, H, W) -> (N, C, H, W); x = 1 gives how many in-bounds neighbours landed on each pixel.
    """
    n, c, h, w = x.shape
    idx, _, ok = _corners(flow)
    vals = x.reshape(n, c, 1, h * w).expand(n, c, 4, h * w).reshape(n, c, 4 * h * w) * ok.unsqueeze(1)
    out = x.new_zeros(n, c, h * w)
    out.scatter_add_(2, idx.unsqueeze(1).expand(n, c, -1), vals)
    return out.view(n, c, h, w)


def softmax_splat(x: torch.Tensor, flow: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ w·x·e^z, Σ w·e^z) for x (N, C, H, W) and importance z (N, 1, H, W); the caller normalises."""
    ez = z.exp()
    out = splat_sum(torch.cat([x * ez, ez], 1), flow)
    return out[:, :-1], out[:, -1:]


def splat_two_frames(x: torch.Tensor, flow: torch.Tensor, z: torch.Tensor, count_of: torch.Tensor):
    """Both anchors splatted to one time and merged (the space-time models' fusion).

    x (2N, C, H, W), flow (2N, 2, H, W), z (2N, 1, H, W): rows 0..N-1 from frame 0, N..2N-1 from frame 1.
    Returns, each (N, ·, H, W): the normalised splat Σ w·x·e^z / Σ w·e^z (Σ w·e^z set to 1 where nothing landed),
    that normaliser, max w·e^z, and the unweighted splat of ``count_of`` (ones: how many samples landed)."""
    n, h, w = x.shape[0] // 2, x.shape[-2], x.shape[-1]
    both = lambda a: a.view(2, n, -1, h, w)  # noqa: E731
    out, zsum = softmax_splat(x, flow, z)
    zsum = both(zsum).sum(0)
    zsum = torch.where(zsum == 0, torch.ones_like(zsum), zsum)
    out = both(out).sum(0) / zsum
    z_max = both(splat_max(z.exp(), flow)).amax(0)
    count = both(splat_count(count_of, flow)).sum(0)
    return out, zsum, z_max, count
