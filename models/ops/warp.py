"""Backward warping: on numpy arrays with OpenCV (the weight-free baselines), and on tensors with ``grid_sample``.

Backward warp (bilinear sampling):

    out(x) = I(x + F(x)),      x = (u, v) pixel centres, F(x) = (F_u, F_v) in pixels

Samples that fall outside the image take the nearest border pixel (``BORDER_REPLICATE``).
"""
from __future__ import annotations

import cv2
import numpy as np


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)  # (H, W)
    v = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)  # (H, W)
    return u, v


def backward_warp_cv2(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` (H, W[, C]) any dtype cv2.remap takes, ``flow`` (H, W, 2) float (u, v) -> image(x + flow(x)).

    The output has ``image``'s dtype and shape (uint8 inputs are rounded by OpenCV).
    """
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} sizes differ")
    u, v = _grid(*flow.shape[:2])
    map_u = u + flow[..., 0].astype(np.float32)
    map_v = v + flow[..., 1].astype(np.float32)
    return cv2.remap(image, map_u, map_v, interpolation, borderMode=cv2.BORDER_REPLICATE)


def sample(x, u, v, padding_mode: str = "border"):
    """Bilinear samples of ``x`` (B, C, H, W) at pixel coordinates ``u``, ``v`` (B, h, w) -> (B, C, h, w); pixel
    centres at integers (``align_corners=True`` on 2 p / (size - 1) - 1), ``padding_mode`` as grid_sample's."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    grid = torch.stack((u * (2.0 / max(w - 1, 1)) - 1.0, v * (2.0 / max(h - 1, 1)) - 1.0), dim=3)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=True)


def backward_warp(x, flow, padding_mode: str = "border"):
    """PyTorch backward warp: ``x`` (B, C, H, W), ``flow`` (B, 2, H, W) in pixels (u, v) -> x(p + flow(p)).

    Bilinear, pixel centres at integer coordinates. ``padding_mode`` ``"border"`` repeats the edge (RIFE),
    ``"zeros"`` fills 0 (BasicVSR's feature warp).
    """
    import torch

    if x.shape[-2:] != flow.shape[-2:] or flow.shape[1] != 2:
        raise ValueError(f"flow must be (B, 2, H, W) at the size of x, got {tuple(flow.shape)} for {tuple(x.shape)}")
    h, w = flow.shape[-2:]
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    return sample(x, xs + flow[:, 0], ys + flow[:, 1], padding_mode)


def backward_warp_down(x, flow, s: int, padding_mode: str = "border"):
    """``F.interpolate(backward_warp(x, flow), scale_factor=1 / s, mode="bilinear")`` for an even integer ``s``
    (H, W multiples of s), computing the warp only where the resize reads it.

    Downsampling by an even s without antialiasing reads, for output pixel i, the two input pixels s i + s/2 - 1 and
    s i + s/2 with weights 1/2 (per axis): the output is the mean of each 2 x 2 block of the warp sampled on those
    rows and columns, 4 / s^2 of the full warp's work (at s = 2 the whole warp), in one call whose points keep the
    frame's order (neighbours in memory read neighbours in the image).
    """
    import torch

    h, w = flow.shape[-2:]
    a = s // 2 - 1
    rows = torch.arange(h, device=flow.device).view(-1, s)[:, a:a + 2].reshape(-1)  # (2 H/s): s i + a, s i + a + 1
    cols = torch.arange(w, device=flow.device).view(-1, s)[:, a:a + 2].reshape(-1)
    f = flow if s == 2 else flow.index_select(2, rows).index_select(3, cols)  # (B, 2, 2 H/s, 2 W/s)
    ys = rows.to(flow.dtype).view(1, -1, 1)
    xs = cols.to(flow.dtype).view(1, 1, -1)
    o = sample(x, xs + f[:, 0], ys + f[:, 1], padding_mode)  # (B, C, 2 H/s, 2 W/s)
    return (o[..., 0::2, 0::2] + o[..., 0::2, 1::2] + o[..., 1::2, 0::2] + o[..., 1::2, 1::2]) * 0.25


def even_stride(s: float, size) -> bool:
    """Whether s is an even integer dividing both sides of ``size`` (H, W): where the strided forms of the bilinear
    resize by 1 / s (:func:`downsample`, :func:`backward_warp_down`) apply."""
    return float(s).is_integer() and int(s) % 2 == 0 and size[-2] % int(s) == 0 and size[-1] % int(s) == 0


def downsample(x, s: float):
    """``F.interpolate(x, scale_factor=1 / s, mode="bilinear", align_corners=False)``; the mean of four strided
    sub-grids (the same numbers, cheaper) for an even integer s dividing the size."""
    import torch.nn.functional as F

    if s == 1:
        return x
    if even_stride(s, x.shape):
        s, a = int(s), int(s) // 2 - 1
        return (x[..., a::s, a::s] + x[..., a::s, a + 1::s] + x[..., a + 1::s, a::s] + x[..., a + 1::s, a + 1::s]) * 0.25
    return F.interpolate(x, scale_factor=1.0 / s, mode="bilinear", align_corners=False)
