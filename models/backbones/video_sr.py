"""BasicVSR over whole videos with bounded memory: :class:`BasicVSRUpscaler`.

* **Temporal chunks**: frames are read as a stream; ``chunk`` frames are made at a time. The forward branch carries
  its state (feature and last frame) from one chunk to the next, so it sees the whole past exactly as the
  whole-clip network does. The backward branch of a chunk starts ``lookahead`` frames after its end (a zero state
  there, as at a clip's end), so it sees that much of the future. Scene cuts (``reset`` frames) end both branches.
  In memory at once: ``chunk + lookahead`` LR frames and their backward features, and ``chunk`` x4 frames (uint8).
* **Spatial tiles**: LR frames larger than ``tile`` pixels a side are cut into core tiles plus a ``halo`` of LR
  pixels; every tile runs over the whole chunk (with its own forward state) and only its core is kept.
* **Any output size**: x4 by the network, then a PIL Lanczos resize to the requested size (antialiased when
  shrinking, for scales below 4; interpolating above). Single frames (:meth:`upscale`) run as a one-frame clip.
* **Precision**: fp16 autocast on CUDA (models.device); fp32 on the CPU, or bf16 autocast there with
  ``cpu_bf16=True`` on a CPU with native bf16 (default :data:`CPU_BF16`: off, see its measurement).
* **CPU form** (``cpu_mode``, :mod:`models.backbones.cpu_fast`): on the CPU BasicVSR runs as an inference copy in
  channels-last order or compiled, the same weights; None = :data:`CPU_MODE`, measured with
  ``python -m bench.vsr_peers``.

Memory (CPU fp32, measured with ``bench.stvsr_speed``): see ``bench/results/stvsr_speed.md``.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from models.device import inference_device
from models.imageio import check_frame, check_size, lanczos, to_tensor, to_uint8
from models.ops.tiles import core_tiles

from .basicvsr import BasicVSR
from .runner import NetRunner


#: SpyNet needs frames larger than 32 px a side (it rounds up to a multiple of 32 and halves its coarsest 32 px
#: level): windows are at least this.
MIN_WINDOW = 33
#: BasicVSR's form on the CPU (:mod:`models.backbones.cpu_fast`) when ``cpu_mode`` is None: channels-last, 1.4-1.9x
#: plain fp32 in two loaded runs (``python -m bench.vsr_peers``: 1.81x in CPU time, 1.93x wall; ``bench.vsr_precision``:
#: 1.44x), outputs within 1e-4 of plain (98-100 dB PSNR between them).
CPU_MODE = "channels_last"
#: bf16 autocast on the CPU when ``cpu_bf16`` is None: OFF. ``cpu_bf16=True`` asks for it (it takes effect only on a CPU
#: with native bf16, :func:`models.device.cpu_bf16_enabled`). Measured on an AMD EPYC with AVX512-BF16: 1.5-1.9x
#: faster (``bench.vsr_peers`` 720p: 2.73x the reference network, channels-last fp32 1.44x), but under the protocol's
#: bicubic degradation it costs 0.05 dB (anchors 0.07) on DAVIS-2016 *training* sequences (``python -m bench.stvsr
#: --data <5 training sequences> --space 4 --time 2 --degrade bi --max-frames 25``,
#: bench/results/stvsr_bf16_check_train_{fp32,bf16}.json): outside the 0.05 dB bound, so not a default. (On
#: area-downscaled training clips, ``bench.vsr_precision``, it measured +0.085 dB: the sign depends on the input.)
CPU_BF16 = False
#: The sub-networks ``cpu_mode="compile"`` compiles.
COMPILE_PARTS = ("spynet", "backward_trunk", "forward_trunk")


def pair_flows(net: BasicVSR, lr0: torch.Tensor, lr1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SpyNet flows V_{0->1}, V_{1->0} (B, 2, h, w), (x, y) in LR pixels, between LR frames (B, 3, h, w) of any
    size (frames under ``MIN_WINDOW`` px a side are replicate-padded for SpyNet and the flows cropped)."""
    h, w = lr0.shape[-2:]
    pad = (0, max(0, MIN_WINDOW - w), 0, max(0, MIN_WINDOW - h))
    a, b = (F.pad(x, pad, mode="replicate") if any(pad) else x for x in (lr0, lr1))
    flows = net.flow(torch.cat([a, b]), torch.cat([b, a]))[..., :h, :w]
    return flows[:lr0.shape[0]], flows[lr0.shape[0]:]


def _item(item) -> tuple[np.ndarray, bool]:
    """A stream item: a frame, or (frame, reset) where reset marks the first frame of a new shot."""
    if isinstance(item, tuple):
        return item[0], bool(item[1])
    return item, False


class BasicVSRUpscaler(NetRunner):
    """:class:`~models.interfaces.SpatialUpscaler` (one frame) and a streaming video upscaler (many frames)."""

    def __init__(self, net: BasicVSR | None = None, chunk: int = 15, lookahead: int = 6, tile: int = 360,
                 halo: int = 16, cpu_bf16: bool | None = None, cpu_mode: str | None = None):
        from .cpu_fast import check_mode

        if chunk < 1 or lookahead < 0 or tile < 16 or halo < 0:
            raise ValueError("chunk >= 1, lookahead >= 0, tile >= 16 and halo >= 0 are required")
        self.net = (net or BasicVSR()).eval()
        self.chunk, self.lookahead, self.tile, self.halo = chunk, lookahead, tile, halo
        self.cpu_bf16 = CPU_BF16 if cpu_bf16 is None else bool(cpu_bf16)
        self.cpu_mode = check_mode(cpu_mode)

    # ------------------------------------------------------------------------------------------------ public --
    def upscale(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """One frame, alone (no temporal context), resized to ``size`` = (height, width)."""
        return next(self.upscale_stream([frame], size))

    def upscale_stream(self, frames: Iterable, size: tuple[int, int] | None = None,
                       features: bool = False) -> Iterator:
        """Each LR frame of ``frames`` (uint8 (h, w, 3), or (frame, reset)) at ``size`` (x4 when None), in order.

        ``features``: yield (frame, feature) instead, the feature being BasicVSR's fused propagated feature of that
        LR frame (:meth:`BasicVSR.fuse`), float16 (num_feat, h, w) on the CPU (assembled from the tiles' cores)."""
        size = check_size(size) if size is not None else None
        device = inference_device()
        self._net_on(device, self.cpu_mode or CPU_MODE, COMPILE_PARTS, "BasicVSR")
        state: dict = {}
        buf: list[tuple[np.ndarray, bool]] = []
        shape = None
        for item in frames:
            frame, reset = _item(item)
            check_frame(frame)
            if shape is not None and frame.shape != shape:
                raise ValueError(f"all frames must have the same size: {frame.shape} after {shape}")
            shape = frame.shape
            buf.append((frame, reset))
            while len(buf) >= self.chunk + self.lookahead:
                made, feats = self._chunk(buf, self.chunk, state, device, features)
                buf = buf[len(made):]
                yield from self._with(self._resized(made, size), feats)
        while buf:
            made, feats = self._chunk(buf, self.chunk, state, device, features)
            buf = buf[len(made):]
            yield from self._with(self._resized(made, size), feats)

    # ----------------------------------------------------------------------------------------------- private --
    @staticmethod
    def _with(frames: Iterator[np.ndarray], feats: list | None) -> Iterator:
        return frames if feats is None else zip(frames, feats)

    @staticmethod
    def _resized(frames: list[np.ndarray], size) -> Iterator[np.ndarray]:
        for f in frames:
            if size is None or f.shape[:2] == tuple(size):
                yield f
            else:
                yield lanczos(f, size)

    @torch.no_grad()
    def _chunk(self, buf: list[tuple[np.ndarray, bool]], n_core: int, state: dict, device,
               features: bool = False) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """x4 frames of buf[:n_core] (fewer when a new shot starts inside it: the rest comes with the next call),
        and their fused features when ``features``; the frames after them, up to the next shot, are look-ahead for
        the backward branch."""
        seq_end = next((i for i in range(1, len(buf)) if buf[i][1]), len(buf))  # the next shot's first frame
        n_core = min(n_core, seq_end)
        frames = [f for f, _ in buf[:seq_end]]
        h, w = frames[0].shape[:2]
        lr = to_tensor(frames, device)  # (n, 3, h, w)
        if h < MIN_WINDOW or w < MIN_WINDOW:  # tiny frames: replicate-pad for SpyNet, crop the output
            lr = F.pad(lr, (0, max(0, MIN_WINDOW - w), 0, max(0, MIN_WINDOW - h)), mode="replicate")
        hp, wp = lr.shape[-2:]
        out = [np.zeros((4 * hp, 4 * wp, 3), np.uint8) for _ in range(n_core)]
        fused = [np.zeros((self.net.num_feat, hp, wp), np.float16) for _ in range(n_core)] if features else None
        net = self._net_on(device, self.cpu_mode or CPU_MODE, COMPILE_PARTS, "BasicVSR")
        with self._precision(device):
            for wy0, wy1, cy0, cy1 in core_tiles(hp, self.tile, self.halo, min_window=MIN_WINDOW):
                for wx0, wx1, cx0, cx1 in core_tiles(wp, self.tile, self.halo, min_window=MIN_WINDOW):
                    x = lr[None, :, :, wy0:wy1, wx0:wx1]  # (1, n, 3, th, tw)
                    back = net.backward_features(x)
                    key = (wy0, wx0)
                    feat, prev = state.get(key, (None, None))
                    for i in range(n_core):
                        xi = x[:, i]
                        if buf[i][1] or prev is None:  # a new shot (or the video's start): no past
                            feat = None
                        flow = net.flow(xi, prev) if feat is not None else None
                        feat = net.forward_feature(xi, feat, flow)
                        prev = xi
                        f = net.fuse(back[i], feat)
                        y = net.upsample(xi, f)[0]  # (3, 4 th, 4 tw)
                        if features:
                            fused[i][:, cy0:cy1, cx0:cx1] = f[0, :, cy0 - wy0:cy1 - wy0, cx0 - wx0:cx1 - wx0] \
                                .float().cpu().numpy()
                        oy, ox = 4 * (cy0 - wy0), 4 * (cx0 - wx0)
                        out[i][4 * cy0:4 * cy1, 4 * cx0:4 * cx1] = to_uint8(
                            y[:, oy:oy + 4 * (cy1 - cy0), ox:ox + 4 * (cx1 - cx0)])
                    state[key] = (feat, prev)
        return [o[:4 * h, :4 * w] for o in out], (None if fused is None else [f[:, :h, :w] for f in fused])

    def __repr__(self) -> str:
        return f"BasicVSRUpscaler(chunk={self.chunk}, lookahead={self.lookahead}, tile={self.tile})"
