"""Forward (splatting) warps of softmax splatting (Niklaus & Liu 2020).

A source pixel (x, y) with flow (u, v) (channel 0 = x) lands at (tx, ty) = (x+u, y+v); with x0 = floor(tx),
y0 = floor(ty) its four neighbours get the bilinear weights NW=(x0+1-tx)(y0+1-ty), NE=(tx-x0)(y0+1-ty),
SW=(x0+1-tx)(ty-y0), SE=(tx-x0)(ty-y0). Neighbours outside the image are dropped.

* :func:`splat_sum`   Σ w·value (differentiable in value and flow)
* :func:`splat_max`   max of w·value (zero-initialised; detached)
* :func:`splat_count` Σ value over in-bounds neighbours, *unweighted* (detached); with value = 1 it counts the
  samples that landed on a pixel. (The official count kernel adds the input value, and BF-STVSR passes z.)
* :func:`softmax_splat` (Σ w·value·e^z, Σ w·e^z)

The weighted sums are sparse matrix products: per image, out = S x with S (HW targets x HW sources) holding each
source's four bilinear weights (times e^z in :func:`softmax_splat`, so x is never copied) and x laid out (HW, C), a
view when x is channels-last. Its transpose gives the gradient in x, and the output gradient gathered at the four
targets gives the gradient in the weights (hence in the flow and z). On the CPU this replaced one scatter-add over
the materialised 4·HW·C products with the same results to float64 rounding (``tests/test_stvsr_ops.py``):
``python -m bench.splat_speed`` measures both in one run (``bench/results/splat_speed.json``).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


class Corners(NamedTuple):
    """The four bilinear neighbours of every source pixel, corner-major: entry k·HW + p is corner k of pixel p."""

    index: torch.Tensor  # (N, 4·HW) long: flat target pixel (0 where out of bounds)
    weight: torch.Tensor  # (N, 4·HW) bilinear weight, 0 where out of bounds (differentiable in the flow)
    inside: torch.Tensor  # (N, 4·HW) bool


def corners(flow: torch.Tensor) -> Corners:
    """flow (N, 2, H, W), x then y, in pixels -> its :class:`Corners`."""
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
        idx.append(torch.where(inside, cy * w + cx, torch.zeros_like(cx)).long().view(n, -1))
        wts.append(torch.where(inside, wgt, torch.zeros_like(wgt)).reshape(n, -1))
        ok.append(inside.view(n, -1))
    return Corners(torch.cat(idx, 1), torch.cat(wts, 1), torch.cat(ok, 1))


def _splat_matrix(index: torch.Tensor, weight: torch.Tensor, hw: int) -> torch.Tensor:
    """S (HW, HW) in CSR: row = target pixel, column = source pixel, value = bilinear weight (one image)."""
    order = torch.argsort(index)
    crow = torch.zeros(hw + 1, dtype=torch.long, device=index.device)
    crow[1:] = torch.bincount(index, minlength=hw).cumsum(0)
    # entry j (corner-major) belongs to source pixel j mod HW
    return torch.sparse_csr_tensor(crow, order % hw, weight[order], (hw, hw), check_invariants=False)


def _gather_matrix(index: torch.Tensor, weight: torch.Tensor, hw: int) -> torch.Tensor:
    """S transposed (HW sources, HW targets) in CSR: four entries per source pixel."""
    inter = lambda a: a.view(4, hw).t().reshape(-1)  # noqa: E731  corner-major -> pixel-major
    crow = torch.arange(0, 4 * hw + 1, 4, device=index.device)
    return torch.sparse_csr_tensor(crow, inter(index), inter(weight), (hw, hw), check_invariants=False)


class _SplatRows(torch.autograd.Function):
    """rows (N, HW, C) -> (N, HW, C): out[n, index[n, j]] += weight[n, j] · rows[n, j mod HW]. Half and bf16 rows
    are summed in float32 (the sparse product has no bf16 kernel), autocast off, and returned in their own dtype."""

    @staticmethod
    def forward(ctx, rows, index, weight):
        n, hw, c = rows.shape
        dtype = rows.dtype if rows.dtype in (torch.float32, torch.float64) else torch.float32
        xf, wf = rows.to(dtype).contiguous(), weight.to(dtype)
        out = torch.empty(n, hw, c, dtype=dtype, device=rows.device)
        with torch.autocast(rows.device.type, enabled=False):  # autocast would cast the product to half on CUDA
            for i in range(n):
                torch.mm(_splat_matrix(index[i], wf[i], hw), xf[i], out=out[i])
        ctx.save_for_backward(xf, index, wf)
        ctx.in_dtype = rows.dtype
        return out.to(rows.dtype)

    @staticmethod
    def backward(ctx, grad):
        xf, index, wf = ctx.saved_tensors
        n, hw, c = xf.shape
        gf = grad.to(xf.dtype).contiguous()
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(xf)
            with torch.autocast(xf.device.type, enabled=False):
                for i in range(n):
                    torch.mm(_gather_matrix(index[i], wf[i], hw), gf[i], out=grad_x[i])
            grad_x = grad_x.to(ctx.in_dtype)
        if ctx.needs_input_grad[2]:
            # d out / d weight[j] = rows[j mod HW] at target index[j]: <grad at the target, the source's row>
            grad_w = torch.stack([(gf[i][index[i]].view(4, hw, c) * xf[i].unsqueeze(0)).sum(-1).view(-1)
                                  for i in range(n)])
        return grad_x, None, grad_w


def pixel_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, HW, C) (a view when x is channels-last)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])


def _image(rows: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, HW, C) -> (N, C, H, W), a channels-last view."""
    return rows.view(rows.shape[0], h, w, -1).permute(0, 3, 1, 2)


def _sum(x: torch.Tensor, cor: Corners) -> torch.Tensor:
    return _image(_SplatRows.apply(pixel_rows(x), cor.index, cor.weight), *x.shape[-2:])


def _scatter_corners(x: torch.Tensor, factor: torch.Tensor, cor: Corners, reduce: str) -> torch.Tensor:
    """x (N, C, H, W) times a per-corner ``factor`` (N, 4·HW), reduced (``"sum"`` or ``"amax"``) at each corner's
    target into a zero-initialised buffer -> (N, C, H, W)."""
    n, c, h, w = x.shape
    vals = x.reshape(n, c, 1, h * w).expand(n, c, 4, h * w).reshape(n, c, -1) * factor.unsqueeze(1)
    out = x.new_zeros(n, c, h * w)
    out.scatter_reduce_(2, cor.index.unsqueeze(1).expand(n, c, -1), vals, reduce=reduce, include_self=True)
    return out.view(n, c, h, w)


def _max(x: torch.Tensor, cor: Corners) -> torch.Tensor:
    return _scatter_corners(x, cor.weight, cor, "amax")


def _count(x: torch.Tensor, cor: Corners) -> torch.Tensor:
    return _scatter_corners(x, cor.inside, cor, "sum")


def splat_sum(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Summation splatting: x (N, C, H, W), flow (N, 2, H, W) -> (N, C, H, W)."""
    return _sum(x, corners(flow))


@torch.no_grad()
def splat_max(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Max splatting of w·x into a zero-initialised buffer (detached)."""
    return _max(x, corners(flow))


@torch.no_grad()
def splat_count(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Unweighted splat: every in-bounds neighbour of a sample's target gets the full value (detached).

    x (N, C, H, W) -> (N, C, H, W); x = 1 gives how many in-bounds neighbours landed on each pixel.
    """
    return _count(x, corners(flow))


def softmax_splat(x: torch.Tensor, flow: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ w·x·e^z, Σ w·e^z) for x (N, C, H, W) and importance z (N, 1, H, W); the caller normalises."""
    out, norm = _softmax_rows(x, z, corners(flow))
    h, w = x.shape[-2:]
    return _image(out, h, w), _image(norm, h, w)


def _softmax_rows(x: torch.Tensor, z: torch.Tensor, cor: Corners) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ w·x·e^z (N, HW, C), Σ w·e^z (N, HW, 1)): e^z goes into the splat weights, so x is never copied."""
    n, hw = z.shape[0], z.shape[-2] * z.shape[-1]
    wz = cor.weight * z.exp().reshape(n, 1, hw).expand(n, 4, hw).reshape(n, 4 * hw)
    norm = wz.new_zeros(n, hw).scatter_add(1, cor.index, wz)
    return _SplatRows.apply(pixel_rows(x), cor.index, wz), norm.unsqueeze(-1)


def splat_two_frames(x: torch.Tensor, flow: torch.Tensor, z: torch.Tensor, count_of: torch.Tensor):
    """Both anchors splatted to one time and merged (the space-time models' fusion).

    x (2N, C, H, W), flow (2N, 2, H, W), z (2N, 1, H, W): rows 0..N-1 from frame 0, N..2N-1 from frame 1.
    Returns, each (N, ·, H, W): the normalised splat Σ w·x·e^z / Σ w·e^z (Σ w·e^z set to 1 where nothing landed),
    that normaliser, max w·e^z, and the unweighted splat of ``count_of`` (ones: how many samples landed). The
    first two are channels-last views."""
    n, h, w = x.shape[0] // 2, x.shape[-2], x.shape[-1]
    cor = corners(flow)
    out, zsum = (a.view(2, n, h * w, -1).sum(0) for a in _softmax_rows(x, z, cor))  # (N, HW, C), (N, HW, 1)
    zsum = torch.where(zsum == 0, torch.ones_like(zsum), zsum)
    out = out / zsum
    with torch.no_grad():  # the max and the count are detached, as splat_max and splat_count are
        z_max = _max(z.exp(), cor).view(2, n, 1, h, w).amax(0)
        count = _count(count_of, cor).view(2, n, -1, h, w).sum(0)
    return _image(out, h, w), _image(zsum, h, w), z_max, count
