"""Space-time video super-resolution over a whole video: any float spatial scale, any output fps, audio kept.

Streaming: each source pair is handed to a :class:`~models.interfaces.SpaceTimeUpscaler` once, as a
:class:`~models.interfaces.PairRequest` with every output instant that falls between the two frames (a continuous
model such as BF-STVSR encodes the pair once and decodes each t cheaply). Pair models hold two LR frames at a time;
a video model (BasicVSR in ``basicvsr+rife``) reads a bounded number of frames ahead (its chunk and look-ahead).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .. import video_io
from . import output
from .dedup import DUP_THRESHOLD
from .interpolate import output_fps
from ..interfaces import PairRequest
from .stream import PairStep, frame_pairs, run_video, upscale_requests
from .timing import VIDEO_DEPTH, snap_dyadic

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
    before: np.ndarray | None = None  # a source frame as given (LR), for comparison
    after: np.ndarray | None = None  # the model's output for the same instant
    warnings: list[str] = field(default_factory=list)  # e.g. a truncated input
    output: str = ""  # what was written (codec, quality, bit depth, container, HDR tags, audio)
    duplicates: int = 0  # source frames dropped as duplicates of the previous picture
    dedup: str = ""  # what duplicate detection did, in words
    hdr: str = ""  # what happened to an HDR (or wide-gamut) input, in words; "" for SDR
    before_time: float = 0.0  # source time (s) of ``before`` / ``after``


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) of the output: round(size * scale), made even for H.264 yuv420p."""
    if not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"spatial scale must be a number, got {scale!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"spatial scale must be between {MIN_SCALE:g} and {MAX_SCALE:g}, got {scale:g}")
    return (max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2)))


def upscale_video(model, src: str, dst: str, scale: float, fps: float | None = None,
                  time_factor: float | None = None, limits: video_io.VideoLimits | None = None,
                  progress: Progress | None = None, cut_threshold: float = 0.5, codec: str = "h264",
                  crf: int = 18, preset: str = "fast", bit_depth: int = 8, hdr: str = "keep", dedup: str = "auto",
                  dedup_threshold: float = DUP_THRESHOLD, input_fps: float | None = None) -> VideoSRReport:
    """Upscale ``src`` by ``scale`` in space and to ``fps`` (or ``time_factor`` x the source fps) in time.

    Output ``codec``/``crf``/``preset``/``bit_depth``, ``hdr`` ("keep" or "tonemap"), ``dedup`` ("auto": on when
    the frame rate goes up) and a PNG-sequence ``src`` at ``input_fps``: as in
    :func:`~models.pipelines.interpolate.interpolate_video`."""
    limits = limits or video_io.VideoLimits.from_env()
    job = output.start(src, "video SR needs at least two frames", lambda info: output_fps(info, time_factor, fps),
                       lambda info: output_size(info.width, info.height, scale), limits, input_fps, codec=codec,
                       crf=crf, preset=preset, bit_depth=bit_depth, hdr=hdr, dedup=dedup,
                       dedup_threshold=dedup_threshold)
    job.side_data = bool(getattr(model, "side_data", False))
    info, (out_w, out_h) = job.info, job.out_size
    report = VideoSRReport(out_path=dst, in_size=(info.width, info.height), out_size=(out_w, out_h),
                           in_fps=info.fps, out_fps=job.out_fps, hdr=job.hdr_note)

    def on_step(step, outputs, _):
        if step.cut and step.ts and step.part == 0:
            report.scene_cuts.append(step.frame1.time)
        if report.after is None and outputs and step.ts[0] == 0.0:
            report.before, report.after = step.frame0.image, outputs[0]
            report.before_time = step.frame0.time

    def make(pairs):
        return ((step, outputs, None) for step, outputs in sr_steps(model, job.src, job.out_fps, (out_h, out_w),
                                                                     cut_threshold, pairs=pairs))

    return run_video(job, dst, make, report, progress, lambda done, total: f"frame pair {min(done, total)}/{total}",
                     on_step, cut_threshold, limits.max_output_frames)


def sr_steps(model, src: str, out_fps: float, size: tuple[int, int], cut_threshold: float = 0.5,
             pairs: Iterable[PairStep] | None = None,
             max_outputs: int | None = None) -> Iterator[tuple[PairStep, list[np.ndarray]]]:
    """(step, output frames at ``size`` = (height, width)) for every source pair of ``src`` in order: the walk of
    :func:`upscale_video`, or of ``pairs`` (a segment's walk, :mod:`.segments`)."""
    arbitrary = getattr(model, "arbitrary_t", True)
    steps: deque[PairStep] = deque()

    def requests():
        for step in (frame_pairs(src, out_fps, cut_threshold, max_outputs=max_outputs) if pairs is None else pairs):
            if step.cut or step.hold:
                ts = [float(round(t)) for t in step.ts]  # hold the nearest shot's frame (a still: its picture)
            else:
                ts = step.ts if arbitrary else [float(snap_dyadic(t, VIDEO_DEPTH)) for t in step.ts]
            steps.append(step)
            yield PairRequest(step.index, step.index + 1, step.frame0.image, step.frame1.image, ts, step.cut)

    for outputs in upscale_requests(model, requests(), size):
        yield steps.popleft(), outputs


def first_seconds(src, dst: str, seconds: float) -> str:
    """The first ``seconds`` of ``src`` (a path or a :class:`~models.video_io.VideoSource`: frames and audio) as a
    new mp4 at the source frame rate."""
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= 60:
        raise ValueError(f"the comparison clip must last between 0 and 60 seconds, got {seconds!r}")
    source = video_io.VideoSource.of(src)
    info = source.info
    n = max(2, math.ceil(seconds * info.fps))
    with video_io.VideoWriter(dst, info.fps, audio_from=source.audio_from()) as writer:
        for frame in source.frames(max_frames=n):
            writer.write(frame.image)
    return dst


@dataclass
class ModelRun:
    model_id: str
    out_path: str
    seconds: float  # wall time of the upscaling
    report: VideoSRReport
    frame: np.ndarray  # the output's second frame (an in-between frame when the frame rate goes up)


def compare_models(models: list[tuple[str, object]], src, dsts: list[str], scale: float,
                   fps: float | None = None, time_factor: float | None = None, seconds: float = 2.0,
                   progress: Progress | None = None) -> list[ModelRun]:
    """Each model on the first ``seconds`` of ``src`` (a path or a :class:`~models.video_io.VideoSource`) with the
    same settings, timed, written to ``dsts`` (one path per model): a side-by-side comparison. The cut clip is a
    temporary file, probed once for all runs and removed at the end; each run opens it at most twice."""
    import os
    import tempfile
    import time

    if len(models) < 2:
        raise ValueError("a comparison needs at least two models")
    if len(dsts) != len(models):
        raise ValueError(f"{len(models)} models need {len(models)} output paths, got {len(dsts)}")
    fd, clip = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        first_seconds(src, clip, seconds)
        info = None
        runs = []
        for k, ((model_id, model), dst) in enumerate(zip(models, dsts)):
            sub = (lambda f, d, k=k, m=model_id: progress((k + f) / len(models), f"{m}: {d}")) if progress else None
            t0 = time.perf_counter()
            with video_io.VideoSource(clip, info=info) as source:
                report = upscale_video(model, source, dst, scale, fps=fps, time_factor=time_factor, progress=sub)
                info = source.info
            took = time.perf_counter() - t0
            frames = video_io.read_frames(dst, max_frames=2)
            runs.append(ModelRun(model_id, dst, took, report, frames[-1]))
        return runs
    finally:
        os.unlink(clip)
