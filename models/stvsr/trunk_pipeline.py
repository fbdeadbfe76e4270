"""``bfstvsr`` over whole videos: BasicVSR (features and x4 frames) -> RIFE base frames -> the residual head.

    I_t = clamp( B_t + head(F_0, F_1, V_01, V_10, B_t, t) ),   B_t = RIFE( S(I_0), S(I_1), t ),  S = BasicVSR x4 + Lanczos

:class:`TrunkSpaceTime` is a :class:`~models.baselines.two_stage.TwoStage` (the ``basicvsr+rife`` pipeline) whose
first stage also hands on BasicVSR's fused feature and the LR frame of each anchor, and whose second stage adds the
head's residual to every base frame. Per pair: SpyNet flows once, the head's ``encode`` once per tile; per t: the
RIFE frame and the head's ``decode_t``. Large outputs run in tiles of at most ``max_tile_pixels`` HR pixels (an LR
``halo`` around each core, as :class:`~models.stvsr.upscaler.BFSTVSRUpscaler`).
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator

import numpy as np
import torch

from models.backbones.video_sr import pair_flows
from models.baselines.two_stage import TwoStage
from models.device import autocast, inference_device
from models.imageio import to_tensor, to_uint8
from models.stvsr.geometry import query_geometry
from models.stvsr.trunk import TrunkSTVSR
from models.stvsr.upscaler import tile_windows


class TrunkSpaceTime(TwoStage):
    """:class:`~models.interfaces.SpaceTimeUpscaler`: ``basicvsr+rife`` plus the trained residual head."""

    def __init__(self, head: TrunkSTVSR, upscaler, interpolator, max_tile_pixels: int = 131072, halo: int = 8,
                 chunk: int = 65536):
        super().__init__(upscaler, interpolator)
        self.head = head.eval()
        self.max_tile_pixels, self.halo, self.chunk = int(max_tile_pixels), int(halo), int(chunk)

    def eval(self):
        self.head.eval()
        return self

    # -- stage 1: HR anchor, its trunk feature and its LR frame ---------------------------------------------------
    def _spatial(self, items: Iterable[tuple[np.ndarray, bool]], size) -> Iterator:
        lrs: deque[np.ndarray] = deque()

        def keep():
            for frame, reset in items:
                lrs.append(frame)
                yield frame, reset

        for hr, feat in self.upscaler.upscale_stream(keep(), size, features=True):
            yield hr, feat, lrs.popleft()

    # -- stage 2: base frames + residual ------------------------------------------------------------------------
    def _between(self, a, b, ts: list[float]) -> list[np.ndarray]:
        (hr0, feat0, lr0), (hr1, feat1, lr1) = a, b
        bases = super()._between(hr0, hr1, ts)
        return self.refine(bases, feat0, feat1, lr0, lr1, ts)

    @torch.no_grad()
    def refine(self, bases: list[np.ndarray], feat0: np.ndarray, feat1: np.ndarray, lr0: np.ndarray,
               lr1: np.ndarray, ts: list[float]) -> list[np.ndarray]:
        """The head's output for each base frame (uint8 (HH, WW, 3)) at its t, tile by tile."""
        device = inference_device()
        head = self.head.to(device)
        head.chunk = self.chunk
        hh, ww = bases[0].shape[:2]
        h, w = lr0.shape[:2]
        f0, f1 = (torch.from_numpy(f).float()[None].to(device) for f in (feat0, feat1))
        v01, v10 = pair_flows(self.upscaler.net.to(device), to_tensor(lr0, device), to_tensor(lr1, device))
        base_t = [to_tensor(bf, device) for bf in bases]
        outs = [np.empty_like(bf) for bf in bases]
        scale = max(hh / h, ww / w)
        core = max(4, int(np.sqrt(self.max_tile_pixels) / max(scale, 1e-6)) - 2 * self.halo)
        with autocast(device):
            for wy0, wy1, hy0, hy1, ky0, ky1 in tile_windows(h, hh, core, self.halo):
                for wx0, wx1, hx0, hx1, kx0, kx1 in tile_windows(w, ww, core, self.halo):
                    geo = query_geometry((h, w), (hh, ww), (hy0, hy1, hx0, hx1), (wy0, wx0)).to(device)
                    win = (slice(None), slice(None), slice(wy0, wy1), slice(wx0, wx1))
                    cache = head.encode(f0[win], f1[win], v01[win], v10[win], geo=geo)
                    for i, t in enumerate(ts):
                        rgb = head.decode_t(cache, base_t[i][:, :, hy0:hy1, hx0:hx1], t)[0].float()
                        rgb = rgb[:, ky0 - hy0:ky1 - hy0, kx0 - hx0:kx1 - hx0]
                        outs[i][ky0:ky1, kx0:kx1] = to_uint8(rgb)
        return outs

    def __repr__(self) -> str:
        return f"TrunkSpaceTime({type(self.head).__name__}, {self.upscaler!r}, {type(self.interpolator).__name__})"
