"""The one streaming loop of the video pipelines: consecutive source frames with the output instants between them.

Both interpolation and space-time SR walk a video the same way: decode frame by frame (two frames in memory),
place constant-rate output instants over the real source timestamps (:class:`~.timing.Resampler`), and flag scene
cuts so a pipeline holds a frame instead of morphing two shots into each other.

Memory stays bounded whatever the frame times: a long gap between two source frames (a paused screen recording:
0, 40, 80, 50000 ms) is handed on in parts of at most ``chunk`` output instants, all for the same two frames, so
no step holds more than ``chunk`` output frames; and the output instants are counted as they are placed, so a
video whose frames span longer than its header says stops at ``max_outputs`` instead of running past the limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

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
    part: int = 0  # 0, or the number of this part of a long gap's instants (the same pair again)
    hold: bool = False  # the same picture at both ends (a still kept by dedup): nothing to make, hold frame0


#: Most output instants handed on in one step (a longer gap between two source frames comes in parts): x2-x8 and
#: target rates up to 16x the source's stay whole. Splitting changes no frame: the interpolators make each instant
#: on its own (tests/test_hardening.py), so 8 + 8 instants are the 16 frames one step would make.
GAP_CHUNK = 16


def _parts(step: PairStep, chunk: int) -> Iterator[PairStep]:
    """``step`` as steps of at most ``chunk`` output instants (``part`` 0, 1, ...; the step itself when it fits)."""
    if len(step.ts) <= chunk:
        yield step
        return
    for part, start in enumerate(range(0, len(step.ts), chunk)):
        yield PairStep(step.frame0, step.frame1, step.ts[start:start + chunk], step.cut, step.index, part,
                       hold=step.hold)


def _check_outputs(resampler: Resampler, frame: video_io.Frame, max_outputs: int | None) -> None:
    if max_outputs is not None and resampler.j > max_outputs:
        raise video_io.VideoError(
            f"The result would have more than {max_outputs} frames (the limit): the video's frames reach "
            f"{frame.time:.1f} s, later than its header says. Use a shorter clip or a lower frame rate.")


def frame_pairs(src: str, out_fps: float, cut_threshold: float = 0.5, frames: Iterable[video_io.Frame] | None = None,
                origin: float | None = None, tail: bool = True, max_outputs: int | None = None,
                chunk: int = GAP_CHUNK, loop: bool = False, loop_gap: float | None = None) -> Iterator[PairStep]:
    """Yield every consecutive source pair with its output instants, then, if the last source frame is itself an
    output instant, one more step for the last pair with ``ts == [1.0]``.

    A segment of the video (:mod:`.segments`) walks its own run of decoded ``frames`` on the whole video's output
    grid: ``origin`` is the time of the video's first frame, and ``tail`` False leaves out the end step of a run
    that does not end the video. Its steps are then those of the one-piece walk for the same frames.

    A pair with more than ``chunk`` instants (a long gap in the frame times) comes as several steps (``part`` 0,
    1, ...) of at most ``chunk`` instants each, so no step holds more output frames than that. With
    ``max_outputs``, a :class:`~models.video_io.VideoError` stops the walk as soon as more output instants than
    that are placed (the limit holds for the real frame times, not the header's).

    ``loop``: close the clip seamlessly instead of ending it: one more pair from the last frame back to the first,
    ``loop_gap`` seconds after the last frame (one source frame period), whose instants are interpolated (the first
    frame is not repeated at the end). Two frames with the *same* image object (a still kept by
    :mod:`.dedup`) make a ``hold`` step: nothing to interpolate."""
    prev, resampler, index = None, None, 0
    first = None
    for frame in (video_io.iter_frames(src) if frames is None else frames):
        if prev is None:
            first = frame
            prev, resampler = frame, Resampler(out_fps, start=frame.time if origin is None else origin)
            if origin is not None:
                resampler.seek(frame.time)
            continue
        ts = resampler.fractions(prev.time, frame.time, limit=max_outputs)
        _check_outputs(resampler, frame, max_outputs)
        hold = frame.image is prev.image
        cut = bool(ts) and not hold and is_scene_cut(prev.image, frame.image, cut_threshold)
        yield from _parts(PairStep(prev, frame, ts, cut, index, hold=hold), chunk)
        last_pair, prev, index = (prev, frame), frame, index + 1
    if loop and index:
        if not loop_gap or loop_gap <= 0:
            raise ValueError(f"a loop needs the time from the last frame back to the first, got {loop_gap!r}")
        back = video_io.Frame(first.image, prev.time + loop_gap, first.index)
        ts = resampler.fractions(prev.time, back.time, limit=max_outputs)
        cut = bool(ts) and is_scene_cut(prev.image, back.image, cut_threshold)
        yield from _parts(PairStep(prev, back, ts, cut, index), chunk)
    elif tail and index and resampler.last(prev.time):
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


#: A pipeline's frames for a walk: (step, output frames, the times made or None) for every step of ``pairs``.
MakeFrames = Callable[[Iterable[PairStep]], Iterable[tuple[PairStep, list, list | None]]]


def run_video(job, dst: str, make_frames: MakeFrames, report, progress=None,
              describe: Callable[[int, int], str] | None = None, on_step=None, cut_threshold: float = 0.5,
              max_outputs: int | None = None, loop: bool = False):
    """The one streaming skeleton of the video pipelines: walk ``job``'s source (an
    :class:`~models.pipelines.output.Plan`: its frames, output rate and writer) pair by pair, hand each walk step to
    ``make_frames``, write its frames to ``dst`` in order, and fill what every video report has: ``out_frames``,
    ``in_frames``, ``audio``, ``output``, ``duplicates``, ``dedup`` and the ``warnings`` (a truncated input, the
    stream's notes). ``on_step(step, frames, made)`` records the rest; ``progress(fraction, describe(done,
    total))`` follows the source pairs. ``loop`` closes the clip (:func:`frame_pairs`). Returns ``report``."""
    info = job.info
    total = max(1, info.frame_count - 1)
    with job.writer(dst) as writer:
        pairs = frame_pairs(job.src, job.out_fps, cut_threshold, max_outputs=max_outputs, frames=job.frames(),
                            **({"loop": True, "loop_gap": 1 / info.fps} if loop else {}))
        for step, frames, made in make_frames(pairs):
            for image in frames:
                writer.write(image)
            if on_step is not None:
                on_step(step, frames, made)
            report.out_frames += len(frames)
            report.in_frames = max(report.in_frames, step.index + 2, step.frame1.index + 1)
            if progress:
                done = max(step.index + 1, step.frame1.index)
                progress(min(1.0, done / total), describe(done, total) if describe else f"{done}/{total}")
    report.audio = writer.audio_mode
    report.output = video_io.describe_output(writer)
    report.duplicates, report.dedup = job.stats.duplicates, job.dedup_note()
    report.warnings += truncation_warning(info, report.in_frames)
    report.warnings += list(getattr(info, "notes", ()))  # interlaced, a rotation off the 90-degree grid
    return report
