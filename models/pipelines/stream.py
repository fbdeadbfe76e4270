"""The one streaming loop of the video pipelines: consecutive source frames with the output instants between them.

Both interpolation and space-time SR walk a video the same way: decode frame by frame (two frames in memory),
place constant-rate output instants over the real source timestamps (:class:`~.timing.Resampler`), and flag scene
cuts so a pipeline holds a frame instead of morphing two shots into each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from .. import video_io
from ..interfaces import PairRequest
from .timing import Resampler, is_scene_cut


@dataclass
class PairStep:
    frame0: video_io.Frame
    frame1: video_io.Frame
    ts: list[float]  # output instants in [0, 1) between the two frames (t = 1.0 only for the video's last frame)
    cut: bool  # the two frames are different shots
    index: int  # 0-based pair number


def frame_pairs(src: str, out_fps: float, cut_threshold: float = 0.5) -> Iterator[PairStep]:
    """Yield every consecutive source pair with its output instants, then, if the last source frame is itself an
    output instant, one more step for the last pair with ``ts == [1.0]``."""
    prev, resampler, index = None, None, 0
    for frame in video_io.iter_frames(src):
        if prev is None:
            prev, resampler = frame, Resampler(out_fps, start=frame.time)
            continue
        ts = resampler.fractions(prev.time, frame.time)
        cut = bool(ts) and is_scene_cut(prev.image, frame.image, cut_threshold)
        yield PairStep(prev, frame, ts, cut, index)
        last_pair, prev, index = (prev, frame), frame, index + 1
    if index and resampler.last(prev.time):
        yield PairStep(*last_pair, [1.0], False, index - 1)  # the last pair again, for its end frame


def upscale_requests(model, requests: Iterable[PairRequest], size: tuple[int, int]) -> Iterator[list]:
    """One list of frames per request, in order: the model's own stream when it has one (models that read more than
    two frames), else one ``upscale_pair`` call per request."""
    if hasattr(model, "upscale_stream"):
        yield from model.upscale_stream(requests, size)
        return
    for req in requests:
        yield model.upscale_pair(req.frame0, req.frame1, req.ts, size)


def truncation_warning(info: video_io.VideoInfo, decoded: int) -> list[str]:
    """A warning when fewer frames could be decoded than the container announces (a truncated upload)."""
    expected = info.frame_count
    if decoded and expected and decoded < expected - max(1, expected // 100):
        return [f"The video seems truncated or damaged: {decoded} of {expected} frames could be decoded, so the "
                f"result covers only the first {decoded / max(info.fps, 1e-6):.1f} s."]
    return []
