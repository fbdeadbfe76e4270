"""What a loaded model of each task answers. Pipelines and benchmarks only use these calls.

Images are numpy ``uint8`` arrays of shape (H, W, 3), RGB. Times ``t`` are in [0, 1], 0 = the first frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class FrameInterpolator(Protocol):
    """Makes frames between two frames.

    ``arbitrary_t`` False means the model only makes the midpoint: callers pass ``ts=[0.5]`` and build other
    times by recursion (see ``models.ops.midpoint``).
    """

    arbitrary_t: bool

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        ...


@runtime_checkable
class SpatialUpscaler(Protocol):
    def upscale(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Resize ``frame`` to ``size`` = (height, width)."""
        ...


@runtime_checkable
class SpaceTimeUpscaler(Protocol):
    """Continuous space-time SR: two LR frames -> HR frames at times ``ts`` and size (height, width).

    ``arbitrary_t`` as for :class:`FrameInterpolator`; a midpoint-only space-time model accepts times k/8 (it
    recurses inside, since LR -> HR cannot be recursed from outside). t = 0 and t = 1 give the super-resolved anchors.

    A model that uses more than two frames (a recurrent video network) also has
    ``upscale_stream(requests: Iterable[PairRequest], size) -> Iterator[list[np.ndarray]]``: one list of frames per
    request, in order, reading ahead as far as it needs. Callers go through
    :func:`models.pipelines.stream.upscale_requests`, which falls back to ``upscale_pair`` for the others.
    """

    arbitrary_t: bool

    def upscale_pair(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float],
                     size: tuple[int, int]) -> list[np.ndarray]:
        ...


@runtime_checkable
class FaceRestorer(Protocol):
    """Restores one aligned face crop (square, any size) to ``out_size`` x ``out_size``."""

    def restore(self, face: np.ndarray, out_size: int) -> np.ndarray:
        ...


@dataclass
class PairRequest:
    """One step of a space-time stream: source frames ``index0`` < ``index1`` (consecutive anchors), the times
    wanted between them, and whether a scene cut separates them. A request may repeat the previous pair (the
    video's last frame is asked for with ``ts == [1.0]`` on the last pair again)."""

    index0: int
    index1: int
    frame0: np.ndarray
    frame1: np.ndarray
    ts: list[float] = field(default_factory=list)
    cut: bool = False
