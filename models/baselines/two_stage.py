"""Two-stage space-time upscaling: upscale each LR anchor in space, then interpolate in time at HR.

    I_t^HR = VFI( S(I_0^LR), S(I_1^LR), t ),     I_0^HR = S(I_0^LR),  I_1^HR = S(I_1^LR)

with S a :class:`~models.interfaces.SpatialUpscaler` and VFI a :class:`~models.interfaces.FrameInterpolator`.
The reference cascade of every one-stage space-time model (e.g. ``lanczos+dis``).

A midpoint-only VFI (``arbitrary_t`` False) reaches other times by midpoint recursion at HR
(:func:`models.ops.midpoint.interpolate_at`): I_{1/2} = VFI(I_0, I_1), I_{1/4} = VFI(I_0, I_{1/2}), ...
Dyadic times k / 2^depth are made exactly; any other t is snapped to the nearest k / 2^depth (default depth 3:
eighths, as the video pipeline does before it calls). The frame returned for such a t is the snapped one.

Over a stream of consecutive pairs (:meth:`TwoStage.upscale_stream`) every anchor is upscaled once, and a video
upscaler (one with ``upscale_stream`` over frames, e.g. BasicVSR) sees the whole anchor sequence in order, scene cuts
marked. (The reverse order, VFI on the LR frames and then BasicVSR over the denser sequence, measured 1.5 dB worse
and 2.8x slower at x4 / x2 on video_eval/davis2016: bench/results/stvsr_backbones_x4_t2.json.)
"""
from __future__ import annotations

from collections import deque
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..interfaces import PairRequest
from ..ops.midpoint import VIDEO_DEPTH, interpolate_at
from ..imageio import check_pair, check_ts


def spatial_stream(upscaler, items: Iterable[tuple[np.ndarray, bool]], size) -> Iterator[np.ndarray]:
    """(frame, starts a new shot) items -> upscaled frames, in order: through the upscaler's own stream when it
    has one (temporal context), frame by frame otherwise."""
    if hasattr(upscaler, "upscale_stream"):
        return upscaler.upscale_stream(items, size)
    return (upscaler.upscale(frame, size) for frame, _ in items)


def _copies(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Anchors and repeated times share one array: hand out independent copies."""
    seen: set[int] = set()
    out = []
    for f in frames:
        out.append(f.copy() if id(f) in seen else f)
        seen.add(id(f))
    return out


class TwoStage:
    """:class:`~models.interfaces.SpaceTimeUpscaler` from an upscaler and an interpolator.

    ``arbitrary_t`` is the interpolator's. With a midpoint-only interpolator, every t in [0, 1] is accepted and made
    at the nearest k / 2**depth by recursion (only the tree nodes on the way are computed, once per call).
    """

    def __init__(self, upscaler, interpolator, depth: int = VIDEO_DEPTH):
        if not isinstance(depth, int) or not 1 <= depth <= 8:
            raise ValueError(f"recursion depth must be an integer from 1 to 8, got {depth!r}")
        self.upscaler = upscaler
        self.interpolator = interpolator
        self.depth = depth

    @property
    def arbitrary_t(self) -> bool:
        return bool(getattr(self.interpolator, "arbitrary_t", False))

    @property
    def side_data(self) -> bool:
        """Whether the upscaler reads the decoder's QP maps (a pre-cleaner): the pipelines then decode them."""
        return bool(getattr(self.upscaler, "side_data", False))

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        up0, up1 = self._spatial([(frame0, False), (frame1, False)], size)
        return self._between(up0, up1, ts)

    # -- the two stages (a subclass may carry more than the HR frame from the first to the second) --------------
    def _spatial(self, items: Iterable[tuple[np.ndarray, bool]], size) -> Iterator:
        """(LR frame, new shot) items -> one upscaled anchor per item, in order."""
        return spatial_stream(self.upscaler, items, size)

    def _between(self, a, b, ts: list[float]) -> list[np.ndarray]:
        """Frames at ``ts`` between two upscaled anchors."""
        frames, _ = interpolate_at(self.interpolator, a, b, ts, depth=self.depth)
        return _copies(frames)

    def upscale_stream(self, requests: Iterable[PairRequest], size: tuple[int, int]) -> Iterator[list[np.ndarray]]:
        """One list of HR frames per request; each anchor is upscaled once, in order."""
        pending: deque[PairRequest] = deque()
        order: deque[int] = deque()  # source indices of the anchors handed to the spatial stage

        def anchors():
            last = None
            for req in requests:
                check_pair(req.frame0, req.frame1)
                req.ts = check_ts(req.ts)
                pending.append(req)
                for index, frame, reset in ((req.index0, req.frame0, False), (req.index1, req.frame1, req.cut)):
                    if last is None or index > last:
                        last = index
                        order.append(index)
                        yield frame, reset

        upscaled = self._spatial(anchors(), size)
        hr: dict[int, np.ndarray] = {}

        def pull() -> None:
            frame = next(upscaled)  # reads requests ahead as far as the upscaler needs
            hr[order.popleft()] = frame

        while True:
            if not pending:
                try:
                    pull()
                except StopIteration:  # the last requests may repeat pairs already upscaled
                    if not pending:
                        return
                continue
            req = pending[0]
            while req.index1 not in hr:
                pull()
            pending.popleft()
            yield self._between(hr[req.index0], hr[req.index1], req.ts)
            for k in [k for k in hr if k < req.index0]:
                del hr[k]

    def __repr__(self) -> str:
        return f"TwoStage({self.upscaler!r}, {type(self.interpolator).__name__})"


