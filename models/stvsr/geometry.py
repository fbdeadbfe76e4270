"""Where each HR query sits relative to the LR grid (LIIF-style nearest-cell sampling, no local ensemble).

HR pixel centres in [-1, 1] are c_i = -1 + (2i+1)/HH. Each picks the LR cell that contains c_i + 1e-6 (as a
nearest ``grid_sample`` with align_corners=False does); q_i is that cell's centre and the relative coordinate is
rel = (c - q) · (H, W) (row first), about ±1. A geometry may describe a window of the HR grid (a tile) whose
LR cells live in an LR crop starting at ``lr_origin``: indices are then local to the crop, coordinates global.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class QueryGeometry:
    iy: torch.Tensor  # (HH,) long: LR row of each HR row, local to the LR crop
    ix: torch.Tensor  # (WW,) long
    rel: torch.Tensor  # (HH, WW, 2) (dy, dx)
    scale: float  # HR/LR ratio (rows) that converts LR-normalised flow to HR pixels
    size: tuple[int, int]  # (HH, WW) of this window

    def to(self, device) -> "QueryGeometry":
        return QueryGeometry(self.iy.to(device), self.ix.to(device), self.rel.to(device), self.scale, self.size)

    def nearest(self, f: torch.Tensor) -> torch.Tensor:
        """LR maps (N, C, h, w) at each query's LR cell -> (N, C, HH, WW)."""
        return f.index_select(3, self.ix).index_select(2, self.iy)

    def nearest_rows(self, f: torch.Tensor) -> torch.Tensor:
        """LR maps (N, C, h, w) at each query's LR cell as per-query rows -> (N, HH·WW, C) (gathers whole C-vectors,
        ~2.5x faster on the CPU than gathering planes and transposing)."""
        rows = f.permute(0, 2, 3, 1).contiguous().index_select(2, self.ix).index_select(1, self.iy)
        return rows.reshape(f.shape[0], -1, f.shape[1])


def _axis(n_lr: int, n_hr: int, start: int, stop: int, lr_origin: int):
    i = torch.arange(start, stop, dtype=torch.float64)
    c = -1 + (2 * i + 1) / n_hr
    shifted = (c + 1e-6).clamp(-1 + 1e-6, 1 - 1e-6)
    idx = torch.round(((shifted + 1) * n_lr - 1) / 2).clamp(0, n_lr - 1)
    q = -1 + (2 * idx + 1) / n_lr
    return (idx.long() - lr_origin), ((c - q) * n_lr).float()


def lr_index(n_lr: int, n_hr: int, start: int, stop: int) -> torch.Tensor:
    """Global LR index of HR rows/cols ``start:stop`` (for choosing tiles)."""
    return _axis(n_lr, n_hr, start, stop, 0)[0]


def query_geometry(lr_size: tuple[int, int], hr_size: tuple[int, int],
                   hr_window: tuple[int, int, int, int] | None = None,
                   lr_origin: tuple[int, int] = (0, 0)) -> QueryGeometry:
    """Geometry of HR rows/cols ``hr_window`` = (y0, y1, x0, x1) (default all) of an (H, W) -> (HH, WW) upscale."""
    (h, w), (hh, ww) = lr_size, hr_size
    y0, y1, x0, x1 = hr_window or (0, hh, 0, ww)
    iy, dy = _axis(h, hh, y0, y1, lr_origin[0])
    ix, dx = _axis(w, ww, x0, x1, lr_origin[1])
    rel = torch.stack(torch.broadcast_tensors(dy[:, None], dx[None, :]), -1)
    return QueryGeometry(iy, ix, rel, hh / h, (y1 - y0, x1 - x0))
