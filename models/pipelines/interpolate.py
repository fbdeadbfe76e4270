"""Frame interpolation over a pair of images or a whole video (streaming, scene-cut aware, audio kept)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from .. import video_io
from ..imageio import as_rgb
from . import output
from .dedup import DUP_THRESHOLD
from .stream import PairStep, run_video
from .timing import PAIR_DEPTH, VIDEO_DEPTH, interpolate_at

Progress = Callable[[float, str], None]

MAX_PAIR_FRAMES = 31
MAX_PAIR_PIXELS = 4096 * 2160


@dataclass
class PairResult:
    frames: list[np.ndarray]  # the in-between frames only
    times: list[float]  # the time t in (0, 1) each frame was made at
    frame0: np.ndarray  # the two inputs as used (RGB, the second resized to the first's size)
    frame1: np.ndarray

    def sequence(self) -> list[np.ndarray]:
        return [self.frame0, *self.frames, self.frame1]


def interpolate_pair(model, frame0: np.ndarray, frame1: np.ndarray, n: int) -> PairResult:
    """``n`` frames evenly spaced between two images (t = i / (n + 1)).

    Midpoint-only models reach the nearest dyadic time k / 2^d (d <= 5) by recursion; the times made are returned.
    A second image of another size is resized to the first one's size.
    """
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_PAIR_FRAMES:
        raise ValueError(f"number of in-between frames must be an integer from 1 to {MAX_PAIR_FRAMES}, got {n!r}")
    frame0, frame1 = as_rgb(frame0, "first image"), as_rgb(frame1, "second image")
    h, w = frame0.shape[:2]
    if min(h, w) < 8:
        raise ValueError(f"images must be at least 8x8 pixels, got {w}x{h}")
    if h * w > MAX_PAIR_PIXELS:
        raise ValueError(f"images must be at most {MAX_PAIR_PIXELS / 1e6:.1f} megapixels, got {w}x{h}")
    if frame1.shape[:2] != (h, w):
        frame1 = np.asarray(Image.fromarray(frame1).resize((w, h), Image.LANCZOS))
    ts = [i / (n + 1) for i in range(1, n + 1)]
    depth = min(PAIR_DEPTH, max(1, math.ceil(math.log2(n + 1))))
    frames, made = interpolate_at(model, frame0, frame1, ts, depth=depth)
    return PairResult(frames=frames, times=made, frame0=frame0, frame1=frame1)


@dataclass
class VideoReport:
    out_path: str
    in_fps: float
    out_fps: float
    in_frames: int = 0
    out_frames: int = 0
    scene_cuts: list[float] = field(default_factory=list)  # source times where a cut was held, not morphed
    max_time_error: float = 0.0  # largest |t_made - t_wanted| (midpoint-only models snap to 1/8); cuts excluded
    audio: str = "none"
    warnings: list[str] = field(default_factory=list)  # e.g. a truncated input
    output: str = ""  # what was written (codec, quality, bit depth, container, HDR tags, audio)
    duplicates: int = 0  # source frames dropped as duplicates of the previous picture
    dedup: str = ""  # what duplicate detection did, in words
    hdr: str = ""  # what happened to an HDR (or wide-gamut) input, in words; "" for SDR
    loop: bool = False  # the last -> first transition was interpolated (the clip loops seamlessly)


def output_fps(info: video_io.VideoInfo, factor: float | None, fps: float | None) -> float:
    if fps:
        if not 1 <= fps <= 240:
            raise ValueError(f"target fps must be between 1 and 240, got {fps}")
        return float(fps)
    factor = factor or 1
    if not 1 <= factor <= 16:
        raise ValueError(f"time factor must be between 1 and 16, got {factor}")
    return info.fps * factor


def interpolate_video(model, src: str, dst: str, factor: float | None = None, fps: float | None = None,
                      limits: video_io.VideoLimits | None = None, progress: Progress | None = None,
                      cut_threshold: float = 0.5, codec: str = "h264", crf: int = 18, preset: str = "fast",
                      bit_depth: int = 8, hdr: str = "keep", dedup: str = "auto",
                      dedup_threshold: float = DUP_THRESHOLD, loop: bool = False,
                      input_fps: float | None = None) -> VideoReport:
    """Raise a video's frame rate by ``factor`` (x2/x4/x8) or to ``fps`` (e.g. 24 -> 60, or down: 30 -> 25, each
    output instant made at its exact time rather than by dropping frames).

    Output: ``codec`` (h264, h265, vp9, ffv1, png-zip; :data:`~models.video_io.CODECS`), ``crf``, ``preset`` and
    ``bit_depth`` (8 or 10). An HDR input (PQ/HLG) is kept (``hdr="keep"``: 10-bit with its tags) or tone-mapped to
    SDR (``"tonemap"``); the report says which. ``dedup`` ("auto": on when the frame rate goes up) drops duplicate
    frames and re-times the rest (:mod:`.dedup`). ``loop`` closes the clip: the last frame is interpolated into the
    first. ``src`` may be a zip or folder of PNG frames shown at ``input_fps``.

    Output instants are evenly spaced from the first source frame; each falls between two source frames at some
    t, made by the model (midpoint-only models at the nearest eighth). Across a scene cut the nearest source frame
    is repeated instead of morphing two shots. Frames stream through: memory holds two source frames.
    """
    limits = limits or video_io.VideoLimits.from_env()
    job = output.start(src, "frame interpolation needs at least two", lambda info: output_fps(info, factor, fps),
                       None, limits, input_fps, codec=codec, crf=crf, preset=preset, bit_depth=bit_depth, hdr=hdr,
                       dedup=dedup, dedup_threshold=dedup_threshold)
    info = job.info
    report = VideoReport(out_path=dst, in_fps=info.fps, out_fps=job.out_fps, hdr=job.hdr_note, loop=bool(loop))

    def on_step(step, frames, made):
        if step.cut:  # hold the nearest shot's frame (listed in scene_cuts, not counted as a time snap)
            if step.part == 0:
                report.scene_cuts.append(step.frame1.time)
        else:
            report.max_time_error = max([report.max_time_error] + [abs(x - y) for x, y in zip(step.ts, made)])

    n = info.frame_count
    return run_video(job, dst, lambda pairs: interpolation_steps(model, pairs), report, progress,
                     lambda done, total: f"frame {min(done + 1, n)}/{n}", on_step, cut_threshold,
                     limits.max_output_frames, loop=bool(loop))


def interpolation_steps(model, pairs: Iterable[PairStep]) -> Iterator[tuple[PairStep, list[np.ndarray], list[float]]]:
    """(step, frames at the step's instants, the times made) for every pair of a walk (:func:`.stream.frame_pairs`);
    across a scene cut the nearest source frame is held (its times are the wanted ones)."""
    for step in pairs:
        a, b = step.frame0.image, step.frame1.image
        if step.hold:  # a still kept by dedup: the same picture at both ends
            yield step, [a for _ in step.ts], list(step.ts)
        elif step.cut:
            yield step, [a if t < 0.5 else b for t in step.ts], list(step.ts)
        else:
            frames, made = interpolate_at(model, a, b, step.ts, depth=VIDEO_DEPTH)
            yield step, frames, made


def save_gif(frames: list[np.ndarray], path: str, fps: float) -> str:
    """A looping GIF of ``frames`` (for previews of a few frames)."""
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, int(1000 / fps)), loop=0)
    return path
