"""Space-time video super-resolution over a whole video: any float spatial scale, any output fps, audio kept.

Streaming: two LR source frames are in memory at a time; each source pair is handed to a
:class:`~models.interfaces.SpaceTimeUpscaler` once, with every output instant that falls between the two frames
(a continuous model such as BF-STVSR encodes the pair once and decodes each t cheaply).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from .. import video_io
from .interpolate import output_fps
from .timing import VIDEO_DEPTH, Resampler, is_scene_cut, snap_dyadic

Progress = Callable[[float, str], None]

MIN_SCALE, MAX_SCALE = 1.0, 8.0


@dataclass
class VideoSRReport:
    out_path: str
    in_size: tuple[int, int]  # (width, height)
    out_size: tuple[int, int]
    in_fps: float
    out_fps: float
    in_frames: int = 0
    out_frames: int = 0
    scene_cuts: list[float] = field(default_factory=list)
    audio: str = "none"
    before: np.ndarray | None = None  # a source frame, resized (bicubic) to the output size, for comparison
    after: np.ndarray | None = None  # the model's output for the same instant


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) of the output: round(size * scale), made even for H.264 yuv420p."""
    if not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"spatial scale must be a number, got {scale!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"spatial scale must be between {MIN_SCALE:g} and {MAX_SCALE:g}, got {scale:g}")
    return (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))


def upscale_video(model, src: str, dst: str, scale: float, fps: float | None = None,
                  time_factor: float | None = None, limits: video_io.VideoLimits | None = None,
                  progress: Progress | None = None, cut_threshold: float = 0.5) -> VideoSRReport:
    """Upscale ``src`` by ``scale`` in space and to ``fps`` (or ``time_factor`` x the source fps) in time."""
    limits = limits or video_io.VideoLimits.from_env()
    info = video_io.probe(src)
    limits.check_input(info)
    if info.frame_count < 2:
        raise ValueError("the video has a single frame: video SR needs at least two frames")
    out_w, out_h = output_size(info.width, info.height, scale)
    out_fps = output_fps(info, time_factor, fps)
    limits.check_output(math.ceil(info.duration * out_fps) + 1, out_w, out_h)
    report = VideoSRReport(out_path=dst, in_size=(info.width, info.height), out_size=(out_w, out_h),
                           in_fps=info.fps, out_fps=out_fps)
    size = (out_h, out_w)
    arbitrary = getattr(model, "arbitrary_t", True)
    prev = None
    total = max(1, info.frame_count - 1)
    with video_io.VideoWriter(dst, out_fps, audio_from=src) as writer:
        for frame in video_io.iter_frames(src):
            report.in_frames += 1
            if prev is None:
                prev, resampler = frame, Resampler(out_fps, start=frame.time)
                continue
            ts = resampler.fractions(prev.time, frame.time)
            if ts:
                if is_scene_cut(prev.image, frame.image, cut_threshold):
                    report.scene_cuts.append(frame.time)
                    ts = [float(round(t)) for t in ts]  # hold the nearest shot's frame
                elif not arbitrary:
                    ts = [float(snap_dyadic(t, VIDEO_DEPTH)) for t in ts]
                outputs = model.upscale_pair(prev.image, frame.image, ts, size)
                for image in outputs:
                    writer.write(image)
                if report.after is None:
                    report.before = np.asarray(Image.fromarray(prev.image).resize((out_w, out_h), Image.BICUBIC))
                    report.after = outputs[0] if ts[0] == 0.0 else model.upscale_pair(
                        prev.image, frame.image, [0.0], size)[0]
                report.out_frames += len(outputs)
            last_pair = (prev.image, frame.image)
            prev = frame
            if progress:
                progress(min(1.0, (report.in_frames - 1) / total), f"frame pair {report.in_frames - 1}/{total}")
        if prev is not None and report.in_frames >= 2 and resampler.last(prev.time):
            writer.write(model.upscale_pair(*last_pair, [1.0], size)[0])
            report.out_frames += 1
    report.audio = writer.audio_mode
    return report
