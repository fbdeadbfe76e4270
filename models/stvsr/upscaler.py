"""BF-STVSR as a :class:`~models.interfaces.SpaceTimeUpscaler` (numpy uint8 RGB in and out, any t, any size).

* LR frames are edge-padded at the bottom/right to a multiple of 4 (the encoder's size rule); the query geometry
  is that of the unpadded frame, so the output needs no crop beyond the requested size.
* Large outputs are made in tiles: the LR frame is cut into core tiles plus a ``halo`` of LR pixels on each side;
  every tile is encoded once (cached path), decoded for every t, and only the HR pixels whose LR cell lies in the
  tile's core are kept. Tiles are sized so that one tile has at most ``max_tile_pixels`` HR pixels (halo included).
* Per-pixel MLPs run over at most ``chunk`` queries at a time.

Memory (fp32, measured shapes, not counting the weights): about 7-8 kB per HR pixel of a tile for the official
width (nf 64) and about 4 kB for the compact one, so the default ``max_tile_pixels`` = 131072 keeps a tile near
1 GB (official) / 0.5 GB (compact) whatever the output size, 1080p and 4K included.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.device import autocast, inference_device
from models.imageio import check_pair, check_ts, to_tensor, to_uint8
from models.ops.tiles import core_tiles
from models.stvsr.geometry import lr_index, query_geometry


def check_request(frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float], size) -> tuple[list[float], tuple]:
    """A pair call's arguments checked: two matching uint8 frames, times in [0, 1], a positive (HH, WW)."""
    check_pair(frame0, frame1)
    ts = check_ts(ts)
    hh, ww = int(size[0]), int(size[1])
    if hh < 1 or ww < 1:
        raise ValueError(f"output size must be positive, got {size}")
    return ts, (hh, ww)


def tile_windows(n_lr: int, n_hr: int, core: int, halo: int, multiple: int = 1) -> list[tuple[int, ...]]:
    """(lr window start, stop, hr window start, stop, hr core start, stop) along one axis: the LR core tiles of
    :func:`models.ops.tiles.core_tiles` (``core`` cells plus ``halo`` each side, windows a multiple of ``multiple``
    cells, reaching into the padding below/right of the frame when needed), and the HR rows/cols whose LR cell lies
    in each."""
    idx = lr_index(n_lr, n_hr, 0, n_hr).numpy()
    out = []
    for w0, w1, c0, c1 in core_tiles(n_lr, core, halo, multiple):
        h0, h1 = np.searchsorted(idx, w0), np.searchsorted(idx, min(w1, n_lr))
        k0, k1 = np.searchsorted(idx, c0), np.searchsorted(idx, c1)
        if k1 > k0:
            out.append((w0, w1, int(h0), int(h1), int(k0), int(k1)))
    return out


class BFSTVSRUpscaler:
    arbitrary_t = True

    def __init__(self, model: torch.nn.Module, max_tile_pixels: int = 131072, halo: int = 8, chunk: int = 65536):
        self.model = model.eval()
        self.max_tile_pixels, self.halo, self.chunk = int(max_tile_pixels), int(halo), int(chunk)

    def eval(self):
        self.model.eval()
        return self

    def _tiles(self, n_lr: int, n_hr: int, core: int):
        return tile_windows(n_lr, n_hr, core, self.halo, multiple=4)

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        ts, (hh, ww) = check_request(frame0, frame1, ts, size)
        h, w = frame0.shape[:2]
        device = inference_device()
        model = self.model.to(device)
        model.chunk = self.chunk
        x = to_tensor([frame0, frame1], device)
        x = F.pad(x, (0, (-w) % 4, 0, (-h) % 4), mode="replicate")  # (2, 3, Hp, Wp)
        scale = max(hh / h, ww / w)
        side = max(4, int(np.sqrt(self.max_tile_pixels) / max(scale, 1e-6)) - 2 * self.halo)
        core = max(4, side - side % 4)
        outs = [np.zeros((hh, ww, 3), np.uint8) for _ in ts]
        with torch.no_grad(), autocast(device):
            for wy0, wy1, hy0, hy1, ky0, ky1 in self._tiles(h, hh, core):
                for wx0, wx1, hx0, hx1, kx0, kx1 in self._tiles(w, ww, core):
                    geo = query_geometry((h, w), (hh, ww), (hy0, hy1, hx0, hx1), (wy0, wx0)).to(device)
                    cache = model.encode(x[0:1, :, wy0:wy1, wx0:wx1], x[1:2, :, wy0:wy1, wx0:wx1], (hh, ww), geo)
                    for i, t in enumerate(ts):
                        rgb = model.decode_t(cache, t)[0].float()
                        rgb = rgb[:, ky0 - hy0:ky1 - hy0, kx0 - hx0:kx1 - hx0]
                        outs[i][ky0:ky1, kx0:kx1] = to_uint8(rgb)
        return outs


class WholeFrameUpscaler:
    """A space-time network run on whole frames (no tiles): ``model(lr0, lr1, ts, size)`` -> (N, 1, 3, HH, WW).

    For networks whose decoding reads beyond a tile (VideoINR's warps of the whole HR feature). Memory grows with the
    output size: outputs above ``max_pixels`` are refused with the reason."""

    arbitrary_t = True

    def __init__(self, model: torch.nn.Module, max_pixels: int = 1920 * 1088):
        self.model = model.eval()
        self.max_pixels = int(max_pixels)

    def eval(self):
        self.model.eval()
        return self

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        ts, (hh, ww) = check_request(frame0, frame1, ts, size)
        if hh * ww > self.max_pixels:
            raise ValueError(f"{type(self.model).__name__} runs on whole frames: an output of {ww}x{hh} is above "
                             f"its limit of {self.max_pixels:,} pixels")
        device = inference_device()
        model = self.model.to(device)
        x = to_tensor([frame0, frame1], device)
        with torch.no_grad(), autocast(device):
            out = model(x[0:1], x[1:2], ts, (hh, ww))  # (N, 1, 3, HH, WW)
        return [to_uint8(o[0]) for o in out]
