"""Video jobs in segments: a job too long for one ZeroGPU call, or spread over many workers (Ray), runs as segments
of the source whose outputs, put end to end, are the one-piece job's outputs.

Plan (:func:`plan_job`): one pass over the source (:func:`scan`: decode, the pipelines' own scene-cut rule, the key
frames) and the cost model (:mod:`.estimate`) give each segment a run of source frames whose estimated compute fits
``max_seconds``. A segment ends at a scene cut when one lies in the second half of its allowance, else at a key frame
(pair models), else at the model's chunk grid (recurrent models) or anywhere.

What a segment decodes around the frames it owns (the overlap each model needs):

* **pair models** (``lanczos+rife``, ``lanczos+dis``, every interpolator): a pair's frames depend on that pair only.
  A segment owning source frames [first, stop) makes the output instants in [time(first), time(stop)), so it
  decodes frame ``stop`` too (RIFE needs the next frame). Exact at any boundary.
* **recurrent video upscalers** (BasicVSR in ``basicvsr+rife`` and the heads built on it): BasicVSR's forward branch
  carries the whole past since the last scene cut, its backward branch sees ``lookahead`` frames after each chunk of
  ``chunk`` frames (:class:`~models.backbones.video_sr.BasicVSRUpscaler`); both restart at a scene cut. So a segment
  decodes ``chunk + lookahead`` frames after ``stop`` (the anchor at ``stop`` is made by the chunk that starts there,
  exactly as in one piece), starts on the chunk grid, and when it does not start at a cut it first runs a warm-up of
  up to ``warmup`` frames (whole chunks, never across a cut) whose outputs are dropped. A segment that starts at a
  scene cut or within ``warmup`` frames of one is **exact**; otherwise the forward state has ``warmup`` frames of
  history instead of all of them and its frames differ slightly (:attr:`Segment.exact` is False; measured with
  ``python -m bench.ray_scale --warmup``: mean 0.19, at most 25 grey levels, PSNR >= 48.9 dB; README).

Output timing is the whole video's grid (:func:`.stream.frame_pairs` with ``origin``), and audio is added once, by the
one :class:`~models.video_io.VideoWriter` that receives every segment's frames in order (:func:`run_plan`), so there is
no gap or drift at a boundary. A segment's frames travel losslessly: raw RGB in a part file (a ZeroGPU call runs in
another process) or in memory (a Ray task). A failed segment is run again (once by default); a second failure stops
the job with :class:`SegmentFailed` naming the segment, and no result file or part file is left.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import video_io
from .stream import PairStep, frame_pairs

Progress = Callable[[float, str], None]

#: Estimated compute seconds per segment when none is given (a ZeroGPU call asks for about 10 + 1.5x this).
SEGMENT_SECONDS = 60.0
#: Warm-up frames of a recurrent model before a segment that does not start at a scene cut (rounded up to chunks).
WARMUP_FRAMES = 30


class SegmentFailed(RuntimeError):
    """A segment failed on every try: the job stopped and left no result."""


# ----------------------------------------------------------------------------------------------------- model --
@dataclass(frozen=True)
class Recurrence:
    """How a video upscaler's output for one frame depends on other frames (None for pair models)."""

    chunk: int | None  # the chunk grid (restarting at every scene cut); None: unknown, segments only at cuts
    lookahead: int = 0
    warmup: int = WARMUP_FRAMES


def recurrence(model) -> Recurrence | None:
    """The recurrence of a space-time ``model``: None when a pair's outputs depend on the pair only (interpolators,
    two-stage models with a frame-by-frame upscaler), else the chunk and look-ahead of its video upscaler."""
    if not hasattr(model, "upscale_stream"):
        return None
    upscaler = getattr(model, "upscaler", None)
    if upscaler is not None and not hasattr(upscaler, "upscale_stream"):
        return None  # a TwoStage with a frame-by-frame upscaler: pairs are independent
    chunk = getattr(upscaler, "chunk", None)
    lookahead = getattr(upscaler, "lookahead", None)
    if isinstance(chunk, int) and isinstance(lookahead, int):
        return Recurrence(chunk, lookahead, max(chunk, math.ceil(WARMUP_FRAMES / chunk) * chunk))
    return Recurrence(None)


# ------------------------------------------------------------------------------------------------------ scan --
@dataclass(frozen=True)
class Scan:
    """One pass over a source: every frame's time, the frames that start a new shot (the pair before them is a held
    scene cut, where BasicVSR restarts) and the key frames (where a decoder can start)."""

    times: tuple[float, ...]
    cuts: tuple[int, ...]
    keys: tuple[int, ...] = ()

    @property
    def origin(self) -> float:
        return self.times[0]


def scan(src, out_fps: float, cut_threshold: float = 0.5) -> Scan:
    """Decode ``src`` once (no model): frame times, the pipelines' scene cuts at ``out_fps``, the key frames.
    ``src``: a path or a :class:`~models.video_io.VideoSource` (whose probe's container the decode reuses)."""
    frames = src.frames() if isinstance(src, video_io.VideoSource) else None
    src = getattr(src, "path", src)
    times: list[float] = []
    cuts: list[int] = []
    for step in frame_pairs(src, out_fps, cut_threshold, frames=frames, tail=False):
        if not times:
            times.append(step.frame0.time)
        times.append(step.frame1.time)
        if step.cut:
            cuts.append(len(times) - 1)
    if not times:
        times = [f.time for f in video_io.iter_frames(src, max_frames=1)]
    keys = _key_frames(src, times)
    return Scan(tuple(times), tuple(cuts), keys)


def _key_frames(src: str, times: list[float]) -> tuple[int, ...]:
    """Indices of the key frames (demuxed, not decoded); () when the container does not say."""
    finder = getattr(video_io, "key_frame_times", None)
    if finder is None:
        return ()
    try:
        key_times = finder(src)
    except (video_io.VideoError, OSError):
        return ()
    index = {round(t, 6): i for i, t in enumerate(times)}
    return tuple(sorted(i for i in (index.get(round(t, 6)) for t in key_times) if i is not None))


# ------------------------------------------------------------------------------------------------------ plan --
@dataclass(frozen=True)
class Segment:
    """Source frames [first, stop) owned (the output instants in [time(first), time(stop))), decoded from
    ``feed_first`` (warm-up) to ``feed_stop`` (exclusive: look-ahead)."""

    index: int
    count: int  # segments in the plan
    first: int
    stop: int
    feed_first: int
    feed_stop: int
    start_time: float  # time of frame first
    stop_time: float  # time of frame stop (inf for the last segment)
    feed_time: float  # time of frame feed_first
    starts_at: str  # "start", "cut", "key" or "split"
    exact: bool  # its frames equal the one-piece job's exactly
    seconds: float  # estimated compute seconds (of the device the plan was made for)
    gpu_duration: int = 0  # the ZeroGPU duration asked for (when planned for ZeroGPU)

    @property
    def last(self) -> bool:
        return self.index == self.count - 1

    def describe(self) -> str:
        end = "the end" if self.last else f"{self.stop_time:.2f} s"
        return (f"segment {self.index + 1}/{self.count} (source frames {self.first}-{self.stop - 1}, "
                f"{self.start_time:.2f} s to {end})")


@dataclass
class Plan:
    segments: list[Segment]
    frames: int
    origin: float
    seconds: float  # estimated compute seconds of all segments (warm-up and overlap included)

    def summary(self) -> dict:
        return {"calls": len(self.segments), "frames": self.frames, "estimated_seconds": round(self.seconds, 2),
                "segments": [{"first": s.first, "stop": s.stop, "decoded": s.feed_stop - s.feed_first,
                              "starts_at": s.starts_at, "exact": s.exact, "seconds": round(s.seconds, 2),
                              "gpu_duration": s.gpu_duration} for s in self.segments]}


def _last_at_or_before(sorted_values, x: int, default: int = 0) -> int:
    best = default
    for v in sorted_values:
        if v > x:
            break
        best = v
    return best


def plan_segments(times, cuts=(), keys=(), frame_seconds: float = 1.0, max_seconds: float = SEGMENT_SECONDS,
                  rec: Recurrence | None = None, gpu_duration: Callable[[float], int] | None = None,
                  cap_seconds: float | None = None) -> Plan:
    """Cut ``len(times)`` source frames into segments of at most ``max_seconds`` estimated compute each
    (``frame_seconds`` per decoded source frame, its outputs included). See the module docstring for where
    segments end and what they decode around their frames. ``gpu_duration(seconds)`` fills each segment's ZeroGPU
    duration.

    A recurrent model decodes up to ``warmup + chunk + lookahead`` frames more than it owns; when ``max_seconds``
    leaves room for less than three times that, its segments get that room, up to ``cap_seconds`` (the most one
    call may take; default: ``max_seconds``), so that most of a segment's work is its own frames."""
    n = len(times)
    if n < 2:
        raise ValueError("a video job needs at least two frames")
    if not frame_seconds > 0 or not max_seconds > 0:
        raise ValueError(f"segment costs must be positive, got {frame_seconds} s per frame and {max_seconds} s")
    cuts = sorted(set(int(c) for c in cuts if 0 < c < n))
    keys = sorted(set(int(k) for k in keys if 0 < k < n))
    cut_set = set(cuts)
    per_call = max(1, int(max_seconds // frame_seconds))  # decoded frames one segment may take
    if rec is not None and rec.chunk:
        overhead = rec.warmup + rec.chunk + rec.lookahead
        per_call = max(per_call, min(3 * overhead, int((cap_seconds or max_seconds) // frame_seconds)))
    increasing, top = [True], times[0]  # a segment may start only at a frame later than every frame before it
    for t in times[1:]:
        increasing.append(t > top)
        top = max(top, t)

    def reset_before(i: int) -> int:  # the frame where the model's recurrence last restarted at or before i
        return _last_at_or_before(cuts, i, 0)

    def warmup(first: int) -> int:
        if rec is None or first == 0 or first in cut_set:
            return 0
        return min(rec.warmup, first - reset_before(first))

    def post(stop: int) -> int:
        if stop >= n:
            return 0
        if rec is None:
            return 1
        nxt = next((c for c in cuts if c > stop), n)
        return min(nxt - stop, (rec.chunk or 0) + rec.lookahead) if rec.chunk else nxt - stop

    def on_grid(i: int) -> bool:
        if rec is None:
            return True
        if i in cut_set:
            return True
        if rec.chunk is None:
            return False
        return (i - reset_before(i)) % rec.chunk == 0

    def cuttable(i: int) -> bool:
        return increasing[i]

    bounds: list[tuple[int, str]] = [(0, "start")]
    first = 0
    while True:
        feed_first = first - warmup(first)
        if n - feed_first <= per_call:
            break
        hi = first + 1  # the furthest stop whose decoded frames (warm-up, own, look-ahead) fit one call
        if hi + post(hi) - feed_first > per_call and rec is not None and rec.chunk:
            hi = min(n - 1, first + rec.chunk)  # not even one frame fits: one chunk, over the budget
        while hi + 1 < n and hi + 1 + post(hi + 1) - feed_first <= per_call:
            hi += 1
        lo = first + max(1, (hi - first) // 2)
        stop, why = None, ""
        in_window = [c for c in cuts if lo <= c <= hi and cuttable(c)]
        if in_window:
            stop, why = in_window[-1], "cut"
        elif rec is None:
            k = [k for k in keys if lo <= k <= hi and cuttable(k)]
            stop, why = (k[-1], "key") if k else (hi, "split")
        elif rec.chunk is not None:
            grid = [i for i in range(hi, first, -1) if on_grid(i) and cuttable(i)]
            keyed = [i for i in grid if i in set(keys) and i >= lo]
            stop = keyed[0] if keyed else (grid[0] if grid else None)
            why = "key" if keyed else "split"
        if stop is None and rec is not None and rec.chunk:  # no grid point fits the budget: the next one
            stop = next((i for i in range(hi + 1, n) if on_grid(i) and cuttable(i)), None)
            why = "cut" if stop in cut_set else "split"
        if stop is None:  # a recurrent model without a known chunk: only a scene cut can end a segment
            later = [c for c in cuts if c > first and cuttable(c)]
            if not later:
                break
            stop, why = later[0], "cut"
        while not cuttable(stop) and stop < n - 1:
            stop += 1
        bounds.append((stop, why))
        first = stop
    segments = []
    count = len(bounds)
    for k, (first, why) in enumerate(bounds):
        stop = bounds[k + 1][0] if k + 1 < count else n
        pre, after = warmup(first), post(stop)
        feed_first, feed_stop = first - pre, min(n, stop + after)
        exact = rec is None or first == 0 or first in cut_set or feed_first == reset_before(first)
        seconds = (feed_stop - feed_first) * frame_seconds
        segments.append(Segment(index=k, count=count, first=first, stop=stop, feed_first=feed_first,
                                feed_stop=feed_stop, start_time=float(times[first]),
                                stop_time=float(times[stop]) if stop < n else math.inf,
                                feed_time=float(times[feed_first]), starts_at=why, exact=exact, seconds=seconds,
                                gpu_duration=gpu_duration(seconds) if gpu_duration else 0))
    return Plan(segments, n, float(times[0]), sum(s.seconds for s in segments))


# ------------------------------------------------------------------------------------------------------- job --
@dataclass(frozen=True)
class VideoJob:
    """What every segment of a job shares (picklable: it travels to a ZeroGPU call or a Ray worker)."""

    task: str  # "video_sr" or "interpolate"
    src: str
    out_fps: float
    size: tuple[int, int] | None = None  # (height, width) of a video_sr job's output
    cut_threshold: float = 0.5
    audio: bool = True  # the source has audio to copy (False: the writer does not open it for that)

    def __post_init__(self):
        if self.task not in ("video_sr", "interpolate"):
            raise ValueError(f"unknown video task {self.task!r}")
        if self.task == "video_sr" and not self.size:
            raise ValueError("a video_sr job needs its output size")


def plan_job(job: VideoJob, model, frame_seconds: float, max_seconds: float = SEGMENT_SECONDS,
             source: Scan | None = None, gpu_duration: Callable[[float], int] | None = None,
             cap_seconds: float | None = None, video: video_io.VideoSource | None = None) -> Plan:
    """The segments of ``job`` for ``model`` (its recurrence decides the overlap), from a :func:`scan` of the source
    (of ``video`` when given: the job's probed source)."""
    source = source or scan(video or job.src, job.out_fps, job.cut_threshold)
    rec = recurrence(model) if job.task == "video_sr" else None
    return plan_segments(source.times, source.cuts, source.keys, frame_seconds, max_seconds, rec, gpu_duration,
                         cap_seconds)


@dataclass
class SegmentResult:
    """What a segment made: ``frames`` output frames of ``shape`` (H, W, 3), in the part file ``part`` (or in
    ``images``), the scene cuts it held, its largest time snap, and for the first segment the before/after pair of
    its first output instant at t = 0 (the video SR report's comparison)."""

    index: int
    frames: int = 0
    shape: tuple[int, int, int] | None = None
    part: str | None = None
    images: list[np.ndarray] | None = None
    scene_cuts: list[float] = field(default_factory=list)
    max_time_error: float = 0.0
    in_frames: int = 0  # source frames up to this segment's last owned pair (+2, as the pipelines count)
    before: np.ndarray | None = None
    after: np.ndarray | None = None
    seconds: float = 0.0  # wall time of the segment


def segment_frames(src: str, seg: Segment) -> Iterator[video_io.Frame]:
    """The decoded frames ``seg`` needs: source frames feed_first .. feed_stop - 1 (seeking to the key frame before)."""
    want = seg.feed_stop - seg.feed_first
    got = 0
    frames = video_io.iter_frames(src, start_time=seg.feed_time if seg.feed_first > 0 else 0.0)
    try:
        for frame in frames:
            if frame.time < seg.feed_time - 1e-6:
                continue
            if got == 0 and abs(frame.time - seg.feed_time) > 1e-6:
                raise video_io.VideoError(f"{Path(src).name}: {seg.describe()} should start at "
                                          f"{seg.feed_time:.4f} s, but decoding resumed at {frame.time:.4f} s.")
            yield frame
            got += 1
            if got >= want:
                return
    finally:
        frames.close()


def _walk(job: VideoJob, seg: Segment, origin: float) -> Iterator[PairStep]:
    """The segment's pairs on the whole video's grid; pairs outside its own frames (warm-up, look-ahead) keep their
    cut flag but ask for no output instant (the model only reads their frames)."""
    for step in frame_pairs(job.src, job.out_fps, job.cut_threshold, frames=segment_frames(job.src, seg),
                            origin=origin, tail=seg.last):
        if not _owned(step, seg):
            step.ts = []
        yield step


def _owned(step: PairStep, seg: Segment) -> bool:
    return seg.start_time - 1e-9 <= step.frame0.time < seg.stop_time - 1e-9


def run_segment(model, job: VideoJob, seg: Segment, origin: float,
                sink: Callable[[np.ndarray], None]) -> SegmentResult:
    """Make the output frames of ``seg`` with ``model`` and hand them to ``sink`` in order."""
    from .interpolate import interpolation_steps
    from .video_sr import sr_steps

    started = time.perf_counter()
    result = SegmentResult(seg.index)
    pairs = _walk(job, seg, origin)
    if job.task == "video_sr":
        made = ((step, outputs, None) for step, outputs in sr_steps(model, job.src, job.out_fps, job.size,
                                                                     job.cut_threshold, pairs=pairs))
    else:
        made = interpolation_steps(model, pairs)
    for step, outputs, times in made:
        if not _owned(step, seg):
            continue
        for image in outputs:
            sink(image)
            if result.shape is None:
                result.shape = tuple(image.shape)
        result.frames += len(outputs)
        if step.cut and step.ts:
            result.scene_cuts.append(step.frame1.time)
        elif times is not None:
            result.max_time_error = max([result.max_time_error] + [abs(x - y) for x, y in zip(step.ts, times)])
        if job.task == "video_sr" and result.after is None and seg.index == 0 and outputs and step.ts[0] == 0.0:
            result.before, result.after = step.frame0.image, outputs[0]
    result.in_frames = seg.stop + (1 if seg.last else 0)
    result.seconds = time.perf_counter() - started
    return result


def run_segment_to_part(model, job: VideoJob, seg: Segment, origin: float, part: str) -> SegmentResult:
    """:func:`run_segment` with the frames appended, raw, to the file ``part`` (lossless; read by :func:`read_part`).
    The file is removed again if the segment fails."""
    try:
        with open(part, "wb") as fh:
            result = run_segment(model, job, seg, origin, lambda image: fh.write(np.ascontiguousarray(image).data))
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    result.part = part
    return result


def run_segment_in_memory(model, job: VideoJob, seg: Segment, origin: float) -> SegmentResult:
    """:func:`run_segment` with the frames kept in ``images`` (for a Ray task: they return through its object
    store)."""
    images: list[np.ndarray] = []
    result = run_segment(model, job, seg, origin, lambda image: images.append(np.ascontiguousarray(image)))
    result.images = images
    return result


def read_part(result: SegmentResult) -> Iterator[np.ndarray]:
    """The frames of a segment's result, in order (from its part file or its images)."""
    if result.images is not None:
        yield from result.images
        return
    if not result.frames:
        return
    h, w, c = result.shape
    size = h * w * c
    with open(result.part, "rb") as fh:
        for _ in range(result.frames):
            buf = fh.read(size)
            if len(buf) != size:
                raise video_io.VideoError(f"segment {result.index + 1}'s frames are incomplete")
            yield np.frombuffer(buf, np.uint8).reshape(h, w, c)


# ------------------------------------------------------------------------------------------------------- run --
@dataclass
class JobResult:
    out_path: str
    frames: int
    audio: str
    segments: list[SegmentResult]
    retries: int = 0

    @property
    def scene_cuts(self) -> list[float]:
        return [t for r in self.segments for t in r.scene_cuts]

    @property
    def max_time_error(self) -> float:
        return max([0.0] + [r.max_time_error for r in self.segments])


def run_plan(job: VideoJob, plan: Plan, call: Callable[[Segment, str], SegmentResult], dst: str,
             progress: Progress | None = None, check: Callable[[], None] | None = None, retries: int = 1,
             no_retry: tuple[type[BaseException], ...] = (ValueError,)) -> JobResult:
    """Run every segment of ``plan`` through ``call(segment, part_path)`` in order and write their frames, in order,
    into one :class:`~models.video_io.VideoWriter` at ``dst`` with the source's audio (stitched once: no gap, no
    drift). ``check()`` runs before each segment (a cancel point: Stop, the job's budget) and ``progress`` after.
    A segment that raises is run once more (``retries``), except for ``no_retry`` errors (bad input fails again);
    after that :class:`SegmentFailed` says which segment failed and why. On any failure the partial result and the
    part files are removed."""
    parts = Path(tempfile.mkdtemp(prefix="frameforge_parts_"))
    done_seconds, total_seconds = 0.0, max(plan.seconds, 1e-9)
    out: list[SegmentResult] = []
    retried = 0
    try:
        with video_io.VideoWriter(dst, job.out_fps, audio_from=job.src if job.audio else None) as writer:
            for seg in plan.segments:
                if check is not None:
                    check()
                part = str(parts / f"segment_{seg.index:05d}.raw")
                for attempt in range(retries + 1):
                    try:
                        result = call(seg, part)
                        break
                    except no_retry:
                        raise
                    except Exception as exc:  # noqa: BLE001 - any failure of the segment's call is retried
                        Path(part).unlink(missing_ok=True)
                        if attempt >= retries:
                            raise SegmentFailed(
                                f"{seg.describe()} failed {attempt + 1} time(s): {type(exc).__name__}: {exc}. "
                                "The job was stopped and no result was written.") from exc
                        retried += 1
                for image in read_part(result):
                    writer.write(image)
                if result.part:
                    Path(result.part).unlink(missing_ok=True)
                result.images = None
                out.append(result)
                done_seconds += seg.seconds
                if progress is not None:
                    progress(min(1.0, done_seconds / total_seconds), f"segment {seg.index + 1}/{len(plan.segments)}")
        return JobResult(dst, writer.frames_written, writer.audio_mode, out, retried)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def local_call(model, job: VideoJob, origin: float) -> Callable[[Segment, str], SegmentResult]:
    """A ``call`` for :func:`run_plan` that runs each segment in this process (through a part file, as on ZeroGPU)."""
    return lambda seg, part: run_segment_to_part(model, job, seg, origin, part)


def _bind(call, model, job: VideoJob, origin: float) -> Callable[[Segment, str], SegmentResult]:
    if call is None:
        return local_call(model, job, origin)
    return lambda seg, part: call(job, seg, origin, part)


# ------------------------------------------------------------------------------------------------ pipelines --
def upscale_video_in_segments(model, src: str, dst: str, scale: float, fps: float | None = None,
                              time_factor: float | None = None, frame_seconds: float = 1.0,
                              max_seconds: float = SEGMENT_SECONDS, call=None, gpu_duration=None,
                              limits: video_io.VideoLimits | None = None, progress: Progress | None = None,
                              check: Callable[[], None] | None = None, retries: int = 1,
                              no_retry: tuple = (ValueError,), cut_threshold: float = 0.5,
                              cap_seconds: float | None = None):
    """:func:`~.video_sr.upscale_video` in segments (same frames, same audio): ``call(job, segment, origin, part)``
    runs one segment (default: :func:`run_segment_to_part` here; a ZeroGPU call or a Ray task otherwise),
    ``frame_seconds`` is the cost model's estimate per source frame on the device the segments run on, and the rest
    goes to :func:`plan_segments` and :func:`run_plan`. Returns (report, plan, job result)."""
    from .interpolate import output_fps
    from .output import checked
    from .video_sr import VideoSRReport, output_size

    source, info, out_fps, (out_w, out_h) = checked(src, "it needs at least two", lambda info: output_fps(
        info, time_factor, fps), lambda info: output_size(info.width, info.height, scale), limits)
    job = VideoJob("video_sr", source.path, out_fps, (out_h, out_w), cut_threshold, info.has_audio)
    if progress is not None:
        progress(0.0, "finding scene cuts and planning segments")
    plan = plan_job(job, model, frame_seconds, max_seconds, gpu_duration=gpu_duration, cap_seconds=cap_seconds,
                    video=source)
    result = run_plan(job, plan, _bind(call, model, job, plan.origin), dst, progress, check, retries, no_retry)
    first = result.segments[0]
    report = VideoSRReport(out_path=dst, in_size=(info.width, info.height), out_size=(out_w, out_h),
                           in_fps=info.fps, out_fps=out_fps, in_frames=plan.frames, out_frames=result.frames,
                           scene_cuts=result.scene_cuts, audio=result.audio, before=first.before, after=first.after)
    return report, plan, result


def interpolate_video_in_segments(model, src: str, dst: str, factor: float | None = None, fps: float | None = None,
                                  frame_seconds: float = 1.0, max_seconds: float = SEGMENT_SECONDS, call=None,
                                  gpu_duration=None, limits: video_io.VideoLimits | None = None,
                                  progress: Progress | None = None, check: Callable[[], None] | None = None,
                                  retries: int = 1, no_retry: tuple = (ValueError,), cut_threshold: float = 0.5,
                                  cap_seconds: float | None = None):
    """:func:`~.interpolate.interpolate_video` in segments (as :func:`upscale_video_in_segments`)."""
    from .interpolate import VideoReport, output_fps
    from .output import checked

    source, info, out_fps, _ = checked(src, "it needs at least two", lambda info: output_fps(info, factor, fps),
                                       None, limits)
    job = VideoJob("interpolate", source.path, out_fps, None, cut_threshold, info.has_audio)
    if progress is not None:
        progress(0.0, "finding scene cuts and planning segments")
    plan = plan_job(job, model, frame_seconds, max_seconds, gpu_duration=gpu_duration, cap_seconds=cap_seconds,
                    video=source)
    result = run_plan(job, plan, _bind(call, model, job, plan.origin), dst, progress, check, retries, no_retry)
    report = VideoReport(out_path=dst, in_fps=info.fps, out_fps=out_fps, in_frames=plan.frames,
                         out_frames=result.frames, scene_cuts=result.scene_cuts,
                         max_time_error=result.max_time_error, audio=result.audio)
    return report, plan, result
