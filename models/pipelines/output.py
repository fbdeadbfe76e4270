"""What the video pipelines share around their walk: the source frames (a video or a PNG sequence, HDR tone-mapped
or kept, duplicates dropped) and the writer (codec, CRF, preset, bit depth, HDR tags), with the words for a report.

Defaults change nothing for an SDR video: H.264 CRF 18 preset fast, 8-bit, mp4, frames as decoded. Duplicate
detection is on by default ("auto") only where new frames are made between source frames anyway (the output frame
rate above the input's), so it cannot replace an original frame by an interpolated one; at the same or a lower
frame rate it is off unless asked for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .. import video_io
from .dedup import DUP_THRESHOLD, DedupStats, dedup_frames

HDR_MODES = ("keep", "tonemap")
DEDUP_MODES = ("auto", "on", "off")


@dataclass
class Plan:
    """One job's input and output decisions, and what the report says about them. ``source`` is the job's
    :class:`~models.video_io.VideoSource` (``src`` its path): probed once, decoded once, lent to the writer."""

    src: str
    info: video_io.VideoInfo
    out_fps: float
    codec: str = "h264"
    crf: int = 18
    preset: str = "fast"
    bit_depth: int = 8
    hdr_out: str | None = None  # "pq"/"hlg": written 10-bit with BT.2020 + that transfer tagged
    tone_map: bool = False
    dedup: bool = False
    dedup_threshold: float = DUP_THRESHOLD
    stats: DedupStats = field(default_factory=DedupStats)
    hdr_note: str = ""
    side_data: bool = False  # decode with the QP maps and frame types (a model with a pre-cleaner reads them)
    source: video_io.VideoSource | None = None
    out_size: tuple[int, int] | None = None  # (width, height) of the result

    def __post_init__(self):
        if self.source is None:
            self.source = video_io.VideoSource(self.src, fps=self.info.fps if self.info.sequence else None,
                                               info=self.info)

    def frames(self) -> Iterator[video_io.Frame]:
        """The source frames as the walk should see them."""
        frames = self.source.frames(tone_map=self.tone_map, side_data=self.side_data)
        if not self.dedup:
            return frames
        return dedup_frames(frames, self.dedup_threshold, stats=self.stats, fps=self.info.fps)

    def writer(self, dst: str, audio: bool = True):
        return self.source.writer(dst, self.out_fps, audio=audio, crf=self.crf, preset=self.preset,
                                  codec=self.codec, bit_depth=self.bit_depth, hdr=self.hdr_out)

    def dedup_note(self) -> str:
        if not self.dedup:
            return "duplicate detection off"
        return f"duplicates: {self.stats.summary()} (threshold {self.dedup_threshold:g} grey levels)"


def check_output_settings(codec: str, crf, preset: str, bit_depth, hdr: str, dedup: str,
                          dedup_threshold) -> None:
    """Every output/dedup argument checked up front, with the reason (a ValueError)."""
    spec = video_io.CODECS.get(video_io.check_codec(codec))
    if isinstance(crf, bool) or not isinstance(crf, (int, float)) or int(crf) != crf:
        raise ValueError(f"crf must be a whole number, got {crf!r}")
    low, high = spec.crf_range
    if not spec.lossless and not low <= crf <= high:
        raise ValueError(f"crf must be in {low}..{high} for {spec.label}, got {crf:g}")
    if preset not in video_io.PRESETS:
        raise ValueError(f"preset must be one of {', '.join(video_io.PRESETS)}, got {preset!r}")
    video_io.check_bit_depth(codec, bit_depth)
    if hdr not in HDR_MODES:
        raise ValueError(f"hdr must be one of {', '.join(HDR_MODES)}, got {hdr!r}")
    if dedup not in DEDUP_MODES and dedup not in (True, False):
        raise ValueError(f"dedup must be one of {', '.join(DEDUP_MODES)}, got {dedup!r}")
    if isinstance(dedup_threshold, bool) or not isinstance(dedup_threshold, (int, float)) \
            or not 0 < dedup_threshold <= 50:
        raise ValueError(f"dedup threshold must be a number of grey levels in (0, 50], got {dedup_threshold!r}")


def start(src, need: str, out_fps_of: Callable[[video_io.VideoInfo], float],
          size_of: Callable[[video_io.VideoInfo], tuple[int, int]] | None = None,
          limits: video_io.VideoLimits | None = None, input_fps: float | None = None, **settings) -> Plan:
    """A video job's :class:`Plan`: :func:`checked` then :func:`plan` with ``settings`` (codec, crf, preset,
    bit_depth, hdr, dedup, dedup_threshold)."""
    source, info, out_fps, size = checked(src, need, out_fps_of, size_of, limits, input_fps)
    job = plan(source, info, out_fps, **settings)
    job.out_size = size
    return job


def checked(src, need: str, out_fps_of: Callable[[video_io.VideoInfo], float],
            size_of: Callable[[video_io.VideoInfo], tuple[int, int]] | None = None,
            limits: video_io.VideoLimits | None = None, input_fps: float | None = None):
    """(source, info, output fps, output (width, height)) of a video job whose source is a path or a
    :class:`~models.video_io.VideoSource` (probed once, here or before): the input limits, two frames at least
    (``need`` says what for), the output rate ``out_fps_of(info)`` and size ``size_of(info)`` (default: the
    input's) within the output limits."""
    limits = limits or video_io.VideoLimits.from_env()
    source = video_io.VideoSource.of(src, fps=input_fps)
    info = source.info
    limits.check_input(info)
    if info.frame_count < 2:
        raise ValueError(f"the video has a single frame: {need}")
    size = size_of(info) if size_of is not None else (info.width, info.height)
    out_fps = out_fps_of(info)
    limits.check_output(math.ceil(info.duration * out_fps) + 1, *size)
    return source, info, out_fps, size


def plan(src, info: video_io.VideoInfo, out_fps: float, codec: str = "h264", crf: int = 18,
         preset: str = "fast", bit_depth: int = 8, hdr: str = "keep", dedup: str = "auto",
         dedup_threshold: float = DUP_THRESHOLD) -> Plan:
    """The decisions for one job (see the module notes); raises ValueError with the reason for a bad choice.
    ``src``: the source's path or its :class:`~models.video_io.VideoSource`."""
    check_output_settings(codec, crf, preset, bit_depth, hdr, dedup, dedup_threshold)
    source = src if isinstance(src, video_io.VideoSource) else None
    p = Plan(source.path if source else str(src), info, out_fps, codec, int(crf), preset, int(bit_depth),
             dedup_threshold=float(dedup_threshold), source=source)
    p.dedup = dedup in ("on", True) or (dedup == "auto" and out_fps > info.fps * 1.001)
    if info.hdr:
        name = f"{'PQ' if info.hdr == 'pq' else 'HLG'}/{info.color_primaries or 'unspecified primaries'}"
        if hdr == "tonemap":
            p.tone_map = True
            white = video_io.REFERENCE_WHITE[info.hdr]
            p.hdr_note = (f"HDR input ({name}) tone-mapped to SDR BT.709: reference white {white:g} cd/m², "
                          f"highlights above {video_io.TONE_KNEE:.0%} of it rolled off, written {p.bit_depth}-bit "
                          "without HDR tags.")
        else:
            if not video_io.codec_available(codec, 10):
                raise ValueError(f"The input is HDR ({name}) and {video_io.CODECS[codec].label} cannot be written "
                                 f"10-bit by this build: choose {', '.join(c for c in video_io.CODECS if video_io.codec_available(c, 10))} "
                                 "to keep HDR, or hdr='tonemap' for an SDR result.")
            raised = p.bit_depth < 10
            p.bit_depth, p.hdr_out = 10, info.hdr
            p.hdr_note = (f"HDR input ({name}, {info.bit_depth}-bit) kept: written 10-bit with its {name} tags"
                          + (" (raised from 8-bit)" if raised else "") + "; the model worked on 8-bit "
                          f"{'PQ' if info.hdr == 'pq' else 'HLG'}-coded values, so smooth gradients may band. "
                          "Players without HDR show it washed out: choose tone-map for an SDR result.")
    elif info.color_primaries == "bt2020":
        p.hdr_note = ("The input has BT.2020 primaries with an SDR transfer (wide-gamut SDR): written without colour "
                      "tags, so its colours may look less saturated.")
    return p
