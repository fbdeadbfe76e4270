"""The one video module of FrameForge: probe, streaming decode and H.264 encode with the audio copied, on PyAV.

Conventions
-----------
* Frames are numpy ``uint8`` arrays (H, W, 3), RGB, in *display* orientation: a phone video stored landscape with a
  display-matrix rotation comes out portrait.
* ``Frame.time`` is seconds from the start of the video stream, taken from the pts (so variable-frame-rate input
  keeps its real timing and pipelines can resample it to a constant output rate).
* ``VideoInfo.rotation`` is the clockwise rotation (0, 90, 180, 270) applied to the stored pictures for display
  (the convention of the legacy ``rotate`` tag and of ffmpeg's autorotate). PyAV's ``VideoFrame.rotation`` is
  counter-clockwise, so ``rotation = -frame.rotation mod 360``.
* Output: by default libx264, yuv420p, mp4 with ``+faststart`` (CRF 18, preset fast); ``codec`` h265 / vp9 (webm) /
  ffv1 (lossless mkv), 10-bit, and HDR PQ/HLG tags on request (:data:`CODECS`), a zip or folder of PNGs through
  :func:`open_writer` (:class:`PngSequenceWriter`). Odd frame sizes are **cropped** by one pixel on the right /
  bottom for 4:2:0 outputs (they need even sizes). The source's audio packets are remuxed unchanged when mp4 can hold the codec
  (``audio_mode == "copy"``), else decoded and re-encoded to AAC (``"aac"``); ``"none"`` without audio.

* Input colour: :func:`probe` reports the stream's primaries / transfer / matrix, bit depth and ``hdr`` ("pq",
  "hlg" or None); :func:`iter_frames` with ``tone_map`` maps HDR to SDR BT.709 (:func:`tone_map_to_sdr`). A zip or
  folder of PNG frames is read as a video at a frame rate given by the caller (:func:`is_sequence`).

Every bad input raises :class:`VideoError` (a ``ValueError``) with a reason a user can act on. Containers are
always closed, also when an exception is raised or a frame iterator is abandoned.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

log = logging.getLogger(__name__)

#: Audio codecs written into the mp4 unchanged; anything else is re-encoded to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"})
#: Packets looked at by :func:`probe` to count frames and judge the frame rate (cheap: demux only, no decode).
PROBE_MAX_PACKETS = 4000
#: Where the container knows the frame count (mp4, mov): packets read from the start (frame rate, variable timing);
#: the last frame's time then comes from the packets after the last key frame (a seek), not from all of them.
PROBE_HEAD_PACKETS = 300
#: Most frames a decoder reorders (H.264/H.265 allow 16): the last pts of a head are not yet contiguous.
REORDER_SLACK = 16
#: Widest (or tallest) frame libx264 opens an encoder for (measured: 16384 encodes, 16400 fails).
MAX_ENCODER_SIDE = 16384
#: Relative spread of frame durations above which a stream counts as variable frame rate.
VFR_TOLERANCE = 0.1


class VideoError(ValueError):
    """Bad video input or settings; the message says why in words a user can act on."""


# --------------------------------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class VideoLimits:
    """Size limits for uploads (input) and results (output). Defaults can be set by environment variables."""

    max_seconds: float = 60.0
    max_pixels: int = 1920 * 1088
    max_output_frames: int = 1800
    max_output_pixels: int = 3840 * 2160

    @classmethod
    def from_env(cls) -> "VideoLimits":
        """The limits of the settings (``FRAMEFORGE_MAX_SECONDS``, ``_MAX_PIXELS``, ``_MAX_OUTPUT_FRAMES``,
        ``_MAX_OUTPUT_PIXELS``; models.settings)."""
        from . import settings

        s = settings.get()
        return cls(max_seconds=s.max_seconds, max_pixels=s.max_pixels, max_output_frames=s.max_output_frames,
                   max_output_pixels=s.max_output_pixels)

    def check_input(self, info: "VideoInfo") -> None:
        """Raise :class:`VideoError` when an uploaded video is too long or too large."""
        if info.duration > self.max_seconds + 1e-6:
            raise VideoError(
                f"The video is {info.duration:.1f} s long; the limit is {self.max_seconds:g} s. "
                "Trim it and try again."
            )
        pixels = info.width * info.height
        if pixels > self.max_pixels:
            raise VideoError(
                f"The video is {info.width}x{info.height} = {pixels:,} pixels per frame; the limit is "
                f"{self.max_pixels:,} pixels. Downscale it and try again."
            )

    def check_output(self, n_frames: int, width: int, height: int) -> None:
        """Raise :class:`VideoError` when a requested result would have too many frames or pixels."""
        if n_frames > self.max_output_frames:
            raise VideoError(
                f"The result would have {n_frames} frames; the limit is {self.max_output_frames}. "
                "Use a shorter clip or a smaller frame-rate factor."
            )
        pixels = width * height
        if pixels > self.max_output_pixels:
            raise VideoError(
                f"The result would be {width}x{height} = {pixels:,} pixels per frame; the limit is "
                f"{self.max_output_pixels:,} pixels. Use a smaller scale or input."
            )
        if max(width, height) > MAX_ENCODER_SIDE:
            raise VideoError(
                f"The result would be {width}x{height} pixels; the video encoder takes at most {MAX_ENCODER_SIDE} "
                "pixels on a side. Use a smaller scale or a less elongated input."
            )


# ---------------------------------------------------------------------------------------------------------- probe
@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video. ``width``/``height`` are the display size (after rotation)."""

    path: str
    width: int
    height: int
    fps: float  # average frame rate
    frame_count: int
    frame_count_exact: bool  # True: container index or counted packets; False: duration x fps estimate
    duration: float  # seconds
    has_audio: bool
    audio_codec: str | None
    rotation: int  # clockwise degrees applied for display: 0, 90, 180 or 270
    codec: str
    variable_frame_rate: bool
    # colour (from the first decoded picture; "" when the stream does not say): ffmpeg's names, e.g. "bt2020",
    # "smpte2084", "bt2020nc"; ``hdr`` is "pq", "hlg" or None (see :func:`hdr_kind`)
    color_primaries: str = ""
    color_transfer: str = ""
    color_space: str = ""
    bit_depth: int = 8
    hdr: str | None = None
    sequence: bool = False  # a zip or folder of PNG frames (see :func:`is_sequence`), frame rate given by the user
    # what the pipelines do not honour and say so in their report: interlaced fields, a rotation that is not a
    # multiple of 90 degrees (see :func:`_stream_notes`)
    notes: tuple[str, ...] = ()


def _open_input(path) -> "av.container.InputContainer":
    """Open ``path`` for reading, turning every failure into a :class:`VideoError` with the reason."""
    p = Path(path)
    name = p.name
    if not p.exists():
        raise VideoError(f"Video file not found: {name}")
    if not p.is_file():
        raise VideoError(f"Not a file: {name}")
    if p.stat().st_size == 0:
        raise VideoError(f"The file {name} is empty (0 bytes).")
    try:
        container = av.open(str(p), "r")
    except av.error.FFmpegError as exc:
        raise VideoError(
            f"Could not read {name} as a video: it is not a video file or it is damaged ({_reason(exc)})."
        ) from exc
    fmt = container.format.name
    if fmt == "image2" or fmt.endswith("_pipe"):
        container.close()
        raise VideoError(f"{name} is a still image ({fmt.removesuffix('_pipe')}), not a video.")
    if not container.streams.video:
        container.close()
        raise VideoError(f"{name} has no video stream (is it an audio-only file?).")
    return container


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _clockwise_rotation(frame: "av.VideoFrame", stream) -> int:
    """Display rotation (clockwise degrees, multiple of 90) from the frame's display matrix or the ``rotate`` tag."""
    try:
        ccw = frame.rotation  # counter-clockwise, from DISPLAYMATRIX side data (decoders copy the stream's)
    except Exception:  # pragma: no cover - older PyAV
        ccw = 0
    if not ccw:
        tag = stream.metadata.get("rotate")
        if tag:
            try:
                return int(round(float(tag) / 90.0)) * 90 % 360
            except ValueError:
                return 0
        return 0
    return int(round(-ccw / 90.0)) * 90 % 360


def _stream_notes(frame: "av.VideoFrame", stream) -> tuple[str, ...]:
    """Notes for a report on what FrameForge does not honour: interlaced pictures (processed as whole frames, not
    deinterlaced) and a display rotation that is not a multiple of 90 degrees (shown at the nearest multiple)."""
    notes = []
    if getattr(frame, "interlaced_frame", False):
        notes.append("The video is interlaced: its two fields are processed together as whole frames (not "
                     "deinterlaced), so moving edges may comb. Deinterlace it first for a clean result.")
    try:
        angle = float(frame.rotation or 0) or float(stream.metadata.get("rotate") or 0)
    except (TypeError, ValueError):
        angle = 0.0
    if angle % 90:
        notes.append(f"The video asks to be shown rotated by {abs(angle):g} degrees; it is turned by the nearest "
                     f"multiple of 90 ({_clockwise_rotation(frame, stream)} degrees clockwise) instead.")
    return tuple(notes)


def _frame_times_check(pts: list[int], count: int, tb, name: str) -> float | None:
    """The span of the frame times (first to last, plus one typical frame duration) in seconds, from the packets'
    pts; None when they carry none. Refuses a video whose frames all have the same time (no frame rate at all)."""
    if len(pts) < 2:
        return None
    if pts[-1] == pts[0]:
        t = float(pts[0] * tb) if tb else 0.0
        raise VideoError(f"All {len(pts)} frames of {name} have the same time stamp ({t:g} s), so the video has no "
                         "frame rate (0 fps) and cannot be timed. Re-encode it with a frame rate (e.g. ffmpeg -i "
                         "IN -r 25 OUT.mp4) and try again.")
    steps = np.diff(np.asarray(pts, dtype=np.int64))
    step = float(np.median(steps[steps > 0]))
    return float((pts[-1] - pts[0] + step) * tb) if tb else None


def _first_frame(container, stream, name: str, max_packets: int = 500) -> "av.VideoFrame":
    """Decode the first picture (checks that the stream is decodable; gives the display matrix)."""
    try:
        for i, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                return frame
            if i >= max_packets:
                break
    except av.error.FFmpegError as exc:
        raise VideoError(f"{name} is damaged: its video could not be decoded ({_reason(exc)}).") from exc
    raise VideoError(f"{name} contains no decodable video frames.")


def _scan_packets(container, stream, limit: int = PROBE_MAX_PACKETS) -> tuple[int, list[int], bool]:
    """Demux (no decode) up to ``limit`` video packets: (count, sorted pts, whole stream seen)."""
    pts: list[int] = []
    count = 0
    complete = True
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet at the end
            continue
        count += 1
        if packet.pts is not None:
            pts.append(packet.pts)
        if count >= limit:
            complete = False
            break
    pts.sort()
    return count, pts, complete


def _is_variable_rate(pts: list[int]) -> bool:
    """Frame durations (pts differences) spread by more than VFR_TOLERANCE of their median, beyond rounding."""
    if len(pts) < 3:
        return False
    d = np.diff(np.asarray(pts, dtype=np.int64))
    d = d[d > 0]
    if d.size < 2:
        return False
    median = float(np.median(d))
    spread = float(d.max() - d.min())
    return spread > max(2.0, VFR_TOLERANCE * median)  # 2 ticks absorb timestamp rounding (e.g. 33/34 ms)


def _tail_pts(container, stream) -> list[int] | None:
    """The pts of the packets from the last key frame to the end (a seek to the end through the container's index,
    then demux only): None when the container cannot seek there or the tail is longer than PROBE_MAX_PACKETS."""
    try:
        container.seek((stream.start_time or 0) + int(1e6 / stream.time_base), stream=stream, backward=True,
                       any_frame=False)
        pts = []
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) > PROBE_MAX_PACKETS:
                return None
    except (av.error.FFmpegError, OverflowError, ZeroDivisionError, TypeError):
        return None
    return sorted(pts) or None


def _probe_container(container, path, name: str) -> tuple[VideoInfo, int | None]:
    """:func:`probe` on an open input container (left open, positioned anywhere: its reader seeks back), and the
    pts of the first decoded frame."""
    stream = container.streams.video[0]
    tb = stream.time_base
    first = _first_frame(container, stream, name)
    rotation = _clockwise_rotation(first, stream)
    container.seek(0)
    known = stream.frames > 0  # the container's index says how many frames: count only the head, then the tail
    count, pts, complete = _scan_packets(container, stream, PROBE_HEAD_PACKETS if known else PROBE_MAX_PACKETS)
    if count == 0:
        raise VideoError(f"{name} contains no video frames.")
    tail = None if complete else _tail_pts(container, stream)
    if not complete and tail is None and known:  # no cheap way to the end: count as before
        container.seek(0)
        count, pts, complete = _scan_packets(container, stream, PROBE_MAX_PACKETS)
    # a head cut off mid-stream misses the reordered (B) frames of its last packets: judge the rate before them
    variable = (_is_variable_rate(pts if complete else pts[:len(pts) - REORDER_SLACK])
                or (tail is not None and _is_variable_rate(tail)))
    if tail is not None:
        pts = sorted(set(pts) | set(tail))
    span = _frame_times_check(pts, count, tb, name)  # the frames' real times, whatever the header says

    duration = None
    if stream.duration and tb:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0

    if known:
        frame_count, exact = int(stream.frames), True
    elif complete:
        frame_count, exact = count, True
    elif duration and fps:
        frame_count, exact = max(count, int(round(duration * fps))), False
    else:
        frame_count, exact = count, False
    if not fps:
        fps = frame_count / duration if duration else 25.0
    if not duration:
        duration = frame_count / fps
    if span is not None and span > duration * 1.01 + 0.05:  # the header understates it: limits use the truth
        log.info("%s: the header says %.3f s, the frame times span %.3f s", name, duration, span)
        duration = span

    width, height = first.width, first.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio[0] if container.streams.audio else None
    primaries, transfer, space = _color_names(first)
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        frame_count_exact=exact,
        duration=duration,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        rotation=rotation,
        codec=stream.codec_context.name,
        variable_frame_rate=variable,
        color_primaries=primaries,
        color_transfer=transfer,
        color_space=space,
        bit_depth=_bit_depth(first),
        hdr=hdr_kind(primaries, transfer),
        notes=_stream_notes(first, stream),
    ), first.pts


def probe(path, fps: float | None = None) -> VideoInfo:
    """Describe a video without decoding more than its first frame (what :attr:`VideoSource.info` holds).

    Raises :class:`VideoError` for a missing or empty file, a file that is not a video or is damaged, a still image,
    a file without a video stream and a video without decodable frames. A zip or folder of PNG frames
    (:func:`is_sequence`) is described too; its frame rate is ``fps`` (required there, ignored for a video).

    The frame count is the container's where it has one (mp4, mov); then only the first :data:`PROBE_HEAD_PACKETS`
    packets and those after the last key frame are read (demux, no decode) for the frame times. Otherwise up to
    :data:`PROBE_MAX_PACKETS` packets are counted.
    """
    if is_sequence(path):
        return probe_sequence(path, fps)
    with _open_input(path) as container:  # no decoder threads: one picture is decoded
        return _probe_container(container, path, Path(path).name)[0]


# --------------------------------------------------------------------------------------------------------- decode
@dataclass
class Frame:
    """One decoded picture: ``image`` (H, W, 3) uint8 RGB in display orientation, ``time`` in seconds from the
    stream start (from the pts), ``index`` its position in the stream (exact from the start; estimated as
    ``round(time * fps)`` after a seek with ``start_time > 0``)."""

    image: np.ndarray
    time: float
    index: int


def _to_display(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a stored picture clockwise by ``rotation`` degrees (np.rot90 turns counter-clockwise for k > 0)."""
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


def iter_frames(path, max_frames: int | None = None, start_time: float = 0.0, fps: float | None = None,
                tone_map: bool = False, side_data: bool = False) -> Iterator[Frame]:
    """Decode frames one at a time (never the whole video in memory), rotated to display orientation.

    ``start_time`` (seconds from the stream start) seeks to the key frame before it and skips earlier frames.
    A zip or folder of PNG frames (:func:`is_sequence`) is read at ``fps`` frames per second. ``tone_map``: an HDR
    stream (PQ or HLG, :func:`hdr_kind`) comes out tone-mapped to SDR BT.709 (:func:`tone_map_to_sdr`); without it
    an HDR stream's frames are its PQ/HLG-coded values (what :class:`VideoWriter` with ``hdr`` writes back).
    ``side_data``: 8-bit unrotated frames come as :class:`models.degrade.CodedFrame` with the decoder's macroblock
    QP map and frame type where the codec exports them (H.264; for the pre-cleaner).
    """
    if max_frames is not None and max_frames <= 0:
        return
    if is_sequence(path):
        yield from iter_sequence(path, fps, max_frames=max_frames, start_time=start_time)
        return
    yield from _decode(path, None, max_frames, start_time, tone_map, side_data)


def _decoder_options(stream, side_data: bool) -> None:
    """Set before the decoder opens: frame threads, and the QP maps exported for ``side_data``."""
    if side_data:
        stream.codec_context.options = {"export_side_data": "venc_params"}
    stream.thread_type = "AUTO"


def _rewound(container, first_pts) -> Iterator | None:
    """The decoded frames of a container already read by the probe, from the start again (a seek): None when the
    first frame after the seek is not the stream's first (``first_pts``), so the caller opens the file afresh."""
    if first_pts is None:
        return None
    try:
        container.seek(0)
        frames = container.decode(container.streams.video[0])
        first = next(frames, None)
    except av.error.FFmpegError:
        return None
    if first is None or first.pts != first_pts:
        return None
    return itertools.chain([first], frames)


def _decode(path, lent, max_frames, start_time, tone_map, side_data) -> Iterator[Frame]:
    """:func:`iter_frames` of a video file; ``lent``: (container, first pts) left open by a probe, decoded from the
    start instead of opening the file again when no ``start_time`` is asked for."""
    name = Path(path).name
    container, decoded_frames = None, None
    if lent is not None:
        container, first_pts = lent
        decoded_frames = _rewound(container, first_pts) if start_time <= 0 else None
        if decoded_frames is None:
            container.close()
            container = None
    if container is None:
        container = _open_input(path)
        _decoder_options(container.streams.video[0], side_data)
    with container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time or 0  # pts of the stream start
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        if start_time > 0:
            container.seek(origin + int(start_time / tb), stream=stream, backward=True, any_frame=False)
        rotation = None
        produced = 0
        decoded = 0
        hdr = None
        deep = False
        try:
            for frame in (container.decode(stream) if decoded_frames is None else decoded_frames):
                if rotation is None:
                    rotation = _clockwise_rotation(frame, stream)
                    hdr = hdr_kind(*_color_names(frame)[:2]) if tone_map else None
                    deep = _bit_depth(frame) > 8  # swscale's 10-bit -> rgb24 path is off by up to 2 levels
                time = float((frame.pts - origin) * tb) if frame.pts is not None else decoded / fps
                decoded += 1
                if start_time > 0 and time < start_time - 0.5 / fps:
                    continue
                index = decoded - 1 if start_time <= 0 else int(round(time * fps))
                if hdr is not None:
                    rgb = tone_map_to_sdr(frame.to_ndarray(format="rgb48le"), hdr)
                elif deep:
                    rgb = ((frame.to_ndarray(format="rgb48le").astype(np.uint32) + 128) // 257).astype(np.uint8)
                else:
                    rgb = frame.to_ndarray(format="rgb24")
                image = _to_display(rgb, rotation)
                if side_data and not rotation and hdr is None and not deep:
                    image = _coded(image, frame)
                yield Frame(image=image, time=time, index=index)
                produced += 1
                if max_frames is not None and produced >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise VideoError(f"{name} is damaged: decoding stopped after {decoded} frames ({_reason(exc)}).") from exc
    if produced == 0 and start_time <= 0:
        raise VideoError(f"{name} contains no decodable video frames.")


class VideoSource:
    """One input of one job: probed once, decoded, and lent to the writer for its audio.

    :attr:`info` probes on first use (:func:`probe`'s rules) and keeps the probe's container open; the first
    :meth:`frames` decodes from that container (seeking back to the start) instead of opening the file again, and
    :meth:`writer` hands the file to the writer for its audio only when it has audio. So a job reads its source
    with at most two opens (decode + audio) and one probe. ``info`` given: no probe at all (e.g. probed by another
    process). A zip or folder of PNG frames is read at ``fps`` (:func:`is_sequence`). Use as a context manager (or
    call :meth:`close`) when :meth:`frames` may never run. Pickles as its path, fps and info (no container)."""

    def __init__(self, path, fps: float | None = None, info: VideoInfo | None = None):
        if isinstance(path, VideoSource):
            path, fps, info = path.path, fps or path.fps, info or path._info
        self.path = str(path)
        self.fps = fps
        self._info = info
        self._lent = None  # (the probe's open container, its first frame's pts)

    @classmethod
    def of(cls, src, fps: float | None = None) -> "VideoSource":
        """``src`` itself when it is a source, else a new source for the path."""
        return src if isinstance(src, VideoSource) else cls(src, fps=fps)

    @property
    def sequence(self) -> bool:
        return is_sequence(self.path)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def info(self) -> VideoInfo:
        if self._info is None:
            if self.sequence:
                self._info = probe_sequence(self.path, self.fps)
            else:
                container = _open_input(self.path)
                try:
                    stream = container.streams.video[0]
                    _decoder_options(stream, True)  # the QP maps cost little and leave the pictures unchanged
                    self._info, first_pts = _probe_container(container, self.path, self.name)
                    self._lent = (container, first_pts)
                except BaseException:
                    container.close()
                    raise
        return self._info

    def frames(self, max_frames: int | None = None, start_time: float = 0.0, tone_map: bool = False,
               side_data: bool = False) -> Iterator[Frame]:
        """:func:`iter_frames` of the source (a PNG sequence at its probed frame rate)."""
        if self.sequence:
            return iter_frames(self.path, max_frames, start_time, fps=self.info.fps)
        lent, self._lent = self._lent, None
        if max_frames is not None and max_frames <= 0:
            if lent is not None:
                lent[0].close()
            return iter(())
        return _decode(self.path, lent, max_frames, start_time, tone_map, side_data)

    def audio_from(self) -> str | None:
        """The path the writer copies the audio from: None for a source without audio (nothing to open)."""
        return None if self.sequence or not self.info.has_audio else self.path

    def writer(self, dst, fps: float, audio: bool = True, **kwargs):
        """:func:`open_writer` at ``dst`` with this source's audio (``audio`` False: none)."""
        return open_writer(dst, fps, audio_from=self.audio_from() if audio else None, **kwargs)

    def close(self) -> None:
        lent, self._lent = self._lent, None
        if lent is not None:
            lent[0].close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __getstate__(self):
        return {"path": self.path, "fps": self.fps, "_info": self._info, "_lent": None}

    def __repr__(self) -> str:
        return f"VideoSource({self.path!r})"


def _coded(image: np.ndarray, frame: "av.VideoFrame") -> np.ndarray:
    """``image`` with the QP map and type of the decoded ``frame`` when its decoder exported them."""
    from .degrade import PICTURE_TYPES, CodedFrame

    for sd in frame.side_data:
        if hasattr(sd, "qp_map"):
            qp = np.asarray(sd.qp_map(), dtype=np.float32)
            return CodedFrame(image, qp, PICTURE_TYPES.get(int(frame.pict_type), "P"))
    return image


def read_frames(path, max_frames: int | None = None) -> list[np.ndarray]:
    """The first ``max_frames`` frames as a list (for small clips and tests; use :func:`iter_frames` otherwise)."""
    return [f.image for f in iter_frames(path, max_frames=max_frames)]


# --------------------------------------------------------------------------------------------------------- encode
def frame_rate(fps) -> Fraction:
    """An exact rate for ``fps``: NTSC rates (23.976, 29.97, 59.94, ...) become N*1000/1001."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        fps = float(fps)
        if not np.isfinite(fps) or fps <= 0:
            raise VideoError(f"Frame rate must be a positive number, got {fps}.")
        ntsc = round(fps * 1.001)
        if ntsc > 0 and abs(fps - ntsc * 1000 / 1001) < 0.005 and abs(fps - round(fps)) > 0.005:
            rate = Fraction(ntsc * 1000, 1001)
        else:
            rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise VideoError(f"Frame rate must be positive, got {fps}.")
    return rate


class VideoWriter:
    """Encode RGB frames to an H.264 (libx264, yuv420p) mp4; on close, add the audio of ``audio_from``.

    ``audio_start`` (seconds from the source's video start) is the source time that lines up with the first output
    frame; the audio is trimmed to the output duration (packets starting at or after its end are dropped).
    Audio packets are interleaved while frames are written. Use as a context manager; an exception inside the
    ``with`` block removes the partial file.

    Attributes after the first frame: ``size`` (height, width) written, ``cropped`` (True when an odd input size
    lost its last row/column), ``audio_mode`` in {"copy", "aac", "none"}, ``frames_written``.
    """

    def __init__(self, path, fps: float, audio_from: str | None = None, audio_start: float = 0.0, crf: int = 18,
                 preset: str = "fast", codec: str = "h264", bit_depth: int = 8, hdr: str | None = None):
        self.path = Path(path)
        self.rate = frame_rate(fps)
        self.codec = check_codec(codec)
        self.spec = CODECS[self.codec]
        if self.spec.container is None:
            raise VideoError(f"{codec} is a PNG sequence: write it with open_writer() or PngSequenceWriter.")
        low, high = self.spec.crf_range
        if not low <= int(crf) <= high:
            raise VideoError(f"crf must be in {low}..{high} for {self.spec.label}, got {crf}.")
        self.crf = int(crf)
        if preset not in PRESETS:
            raise VideoError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}.")
        self.preset = preset
        self.bit_depth = check_bit_depth(self.codec, bit_depth)
        if hdr not in (None, "pq", "hlg"):
            raise VideoError(f"hdr must be None, 'pq' or 'hlg', got {hdr!r}.")
        if hdr is not None and self.bit_depth < 10:
            raise VideoError("HDR (PQ/HLG) output needs 10 bits per sample: pass bit_depth=10.")
        self.hdr = hdr
        self.pix_fmt = self.spec.pix_fmt[self.bit_depth]
        self.audio_from = None if audio_from is None else str(audio_from)
        self.audio_start = max(0.0, float(audio_start))
        self.audio_mode = "none"
        self.size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self.cropped = False
        self.frames_written = 0
        self._out = None
        self._video = None
        self._audio_in = None  # input container of audio_from
        self._audio_src = None  # its audio stream
        self._audio_out = None
        self._audio_packets = None  # iterator over source packets (copy) or decoded frames (aac)
        self._pending = None  # one packet/frame read ahead
        self._audio_origin = 0  # source pts (audio time base) of output time 0
        self._closed = False

    # ---- context manager
    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # ---- public
    def write(self, image: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame. The first frame fixes the size."""
        if self._closed:
            raise VideoError("The video writer is already closed.")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16) or (
                image.dtype == np.uint16 and self.bit_depth == 8):
            raise VideoError(f"Frames must be (H, W, 3) uint8 RGB arrays (uint16 for 10-bit output), got shape "
                             f"{image.shape} {image.dtype}.")
        if self._out is None:
            self._start(image.shape[0], image.shape[1])
        if image.shape[:2] != self.input_size:
            raise VideoError(
                f"All frames must have the same size: the first was {self.input_size[1]}x{self.input_size[0]}, "
                f"this one is {image.shape[1]}x{image.shape[0]}."
            )
        h, w = self.size
        if self.bit_depth == 8:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")
        else:  # 16-bit RGB, converted here so the matrix (BT.2020 for HDR) is the one tagged
            deep = image[:h, :w].astype(np.uint16) * 257 if image.dtype == np.uint8 else image[:h, :w]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(deep), format="rgb48le")
            if self.pix_fmt.startswith("yuv"):
                frame = frame.reformat(format=self.pix_fmt, dst_colorspace=_BT2020 if self.hdr else None)
            else:
                frame = frame.reformat(format=self.pix_fmt)
        if self.hdr is not None:
            _tag_colour(frame, self.hdr)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        self._out.mux(self._video.encode(frame))
        self.frames_written += 1
        self._pump_audio(float(self.frames_written / self.rate))

    def close(self) -> None:
        """Flush the encoder, add the remaining audio (trimmed to the video) and finish the file."""
        if self._closed:
            return
        try:
            if self._out is None:
                raise VideoError("No frames were written, so no video was made.")
            self._out.mux(self._video.encode(None))
            self._pump_audio(float(self.frames_written / self.rate), final=True)
            if self.audio_mode not in ("copy", "none"):  # re-encoded (AAC, Opus): flush the encoder
                self._out.mux(self._audio_out.encode(None))
        except BaseException:
            self.abort()
            raise
        self._release()

    def abort(self) -> None:
        """Close everything and delete the partial output."""
        if self._closed:
            return
        self._release()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    @property
    def duration(self) -> float:
        return float(self.frames_written / self.rate)

    # ---- internals
    def _release(self) -> None:
        self._closed = True
        for name in ("_out", "_audio_in"):
            container = getattr(self, name)
            setattr(self, name, None)
            if container is not None:
                try:
                    container.close()
                except Exception as exc:  # closing must not hide the first error
                    log.warning("closing %s failed: %s", name, exc)

    def _start(self, height: int, width: int) -> None:
        if height < 2 or width < 2:
            raise VideoError(f"Frames must be at least 2x2 pixels, got {width}x{height}.")
        self.input_size = (height, width)
        if "420" in self.pix_fmt:  # 4:2:0 needs even sizes: crop 1 px
            self.size = (height - height % 2, width - width % 2)
        else:
            self.size = (height, width)
        self.cropped = self.size != self.input_size
        if self.cropped:
            log.info("odd frame size %dx%d cropped to %dx%d", width, height, self.size[1], self.size[0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = {"movflags": "+faststart"} if self.spec.container == "mp4" else {}
        self._out = av.open(str(self.path), "w", format=self.spec.container, options=options)
        try:
            video = self._out.add_stream(self.spec.encoder, rate=self.rate)
            video.width, video.height = self.size[1], self.size[0]
            video.pix_fmt = self.pix_fmt
            video.options = self.spec.options(self.crf, self.preset)
            if self.codec == "h265":
                video.codec_tag = "hvc1"  # what Apple players and browsers expect in mp4
            if self.hdr is not None:
                _tag_colour(video.codec_context, self.hdr)
            self._video = video
            if self.audio_from is not None:
                self._open_audio()
        except BaseException:
            self.abort()
            raise

    def _open_audio(self) -> None:
        try:
            src = av.open(self.audio_from, "r")
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(f"Could not read the audio of {Path(self.audio_from).name} ({_reason(exc)}).") from exc
        if not src.streams.audio:
            src.close()
            log.info("%s has no audio stream; writing video only", Path(self.audio_from).name)
            return
        self._audio_in = src
        stream = self._audio_src = src.streams.audio[0]
        # Output time 0 lines up with the source's video start (Frame.time is measured from there) + audio_start.
        origin_s = 0.0
        if src.streams.video and src.streams.video[0].start_time is not None:
            v = src.streams.video[0]
            origin_s = float(v.start_time * v.time_base)
        self._audio_origin = int(round((origin_s + self.audio_start) / stream.time_base))
        if self.audio_start > 0:
            src.seek(self._audio_origin, stream=stream, backward=True, any_frame=False)
        keeps = self.spec.audio_copy
        if keeps is None or stream.codec_context.name in keeps:
            self._audio_out = self._out.add_stream_from_template(stream)
            self._audio_packets = (p for p in src.demux(stream) if p.size > 0 and p.pts is not None)
            self.audio_mode = "copy"
        else:
            encoder = self.spec.audio_encoder
            log.info("audio codec %s cannot go in %s unchanged: re-encoding it to %s", stream.codec_context.name,
                     self.spec.container, encoder)
            rate = stream.codec_context.sample_rate or 48000
            if encoder == "libopus":
                rate = 48000
            self._audio_out = self._out.add_stream(encoder, rate=rate)
            self._audio_out.layout = "stereo" if stream.codec_context.layout.nb_channels > 1 else "mono"
            self._audio_packets = self._decoded_audio()
            self.audio_mode = "aac" if encoder == "aac" else encoder.removeprefix("lib")

    def _decoded_audio(self):
        """Source audio frames resampled for the AAC encoder, cut to start at the output origin."""
        src = self._audio_src
        ctx = self._audio_out.codec_context
        layout = ctx.layout.name
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=ctx.sample_rate)
        origin_s = float(self._audio_origin * src.time_base)
        next_pts = 0  # output samples emitted
        start_s = None
        for frame in itertools.chain(self._audio_in.decode(src), [None]):  # None flushes the resampler
            if frame is not None and next_pts == 0 and frame.pts is not None:
                start_s = float(frame.pts * src.time_base)
            for out in resampler.resample(frame):
                arr = out.to_ndarray()  # (channels, samples) float32
                if start_s is not None and next_pts == 0:
                    skip = int(round((origin_s - start_s) * ctx.sample_rate))
                    if skip >= arr.shape[1]:
                        continue
                    if skip > 0:
                        arr = arr[:, skip:]
                    start_s = None
                new = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format="fltp", layout=layout)
                new.sample_rate = ctx.sample_rate
                new.pts = next_pts
                new.time_base = Fraction(1, ctx.sample_rate)
                next_pts += arr.shape[1]
                yield new

    def _pump_audio(self, until: float, final: bool = False) -> None:
        """Mux source audio whose output start time is before ``until`` seconds (interleaving with the video)."""
        if self._audio_packets is None:
            return
        try:
            if self.audio_mode == "copy":
                self._pump_copy(until)
            else:
                self._pump_aac(until, final)
        except av.error.FFmpegError as exc:
            raise VideoError(f"Could not read the audio of {Path(self.audio_from).name} ({_reason(exc)}).") from exc

    def _pump_copy(self, until: float) -> None:
        tb = self._audio_src.time_base
        end_tick = self._audio_origin + int(round(until / tb))
        while True:
            packet = self._pending if self._pending is not None else next(self._audio_packets, None)
            self._pending = None
            if packet is None:
                self._audio_packets = None
                return
            if packet.pts >= end_tick:  # starts after the output end (so far): keep it for later
                self._pending = packet
                return
            # Packets ending before the origin are dropped, except the one just before the first packet that
            # reaches it: codecs with overlapping windows (AAC, MP3) need it to decode that packet cleanly (it is
            # the encoder priming when the origin is the stream start). Negative pts become an mp4 edit list.
            if packet.pts + 2 * (packet.duration or 0) < self._audio_origin:
                continue
            packet.pts -= self._audio_origin
            packet.dts = (packet.dts if packet.dts is not None else packet.pts + self._audio_origin) - self._audio_origin
            packet.stream = self._audio_out
            self._out.mux(packet)

    def _pump_aac(self, until: float, final: bool) -> None:
        rate = self._audio_out.codec_context.sample_rate
        end_sample = int(round(until * rate))
        while True:
            frame = self._pending if self._pending is not None else next(self._audio_packets, None)
            self._pending = None
            if frame is None:
                self._audio_packets = None
                return
            if frame.pts >= end_sample:
                self._pending = frame
                return
            if frame.pts + frame.samples > end_sample:
                if not final:  # straddles the video written so far: wait for more video
                    self._pending = frame
                    return
                # re-encoding can cut exactly at the end
                keep = end_sample - frame.pts
                arr = frame.to_ndarray()[:, :keep]
                cut = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format="fltp", layout=frame.layout.name)
                cut.sample_rate, cut.pts, cut.time_base = frame.sample_rate, frame.pts, frame.time_base
                frame = cut
            self._out.mux(self._audio_out.encode(frame))


# ------------------------------------------------------------------------------------------------ output codecs
@dataclass(frozen=True)
class CodecSpec:
    """How one output choice is written: encoder, container, pixel format per bit depth, CRF range, audio rules."""

    label: str
    encoder: str | None  # PyAV encoder name (None: PNG files)
    container: str | None  # PyAV format name (None: a zip or folder of PNGs)
    suffix: str
    pix_fmt: dict  # bit depth -> pixel format
    crf_range: tuple[int, int] = (0, 51)
    lossless: bool = False
    audio_copy: frozenset | None = MP4_AUDIO_CODECS  # codecs muxed unchanged (None: any)
    audio_encoder: str = "aac"  # for the others

    def options(self, crf: int, preset: str) -> dict:
        if self.encoder == "libx264":
            # mbtree off: with it, x264's lookahead made a different stream for the same frames from run to run
            # (even on one thread: its result depended on what the process had done between writes, e.g. the
            # decoding); without it, identical frames give byte-identical files.
            return {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        if self.encoder == "libx265":
            return {"crf": str(crf), "preset": preset, "x265-params": "log-level=error"}
        if self.encoder == "libvpx-vp9":  # constant quality: crf with b=0; preset -> cpu-used (speed)
            return {"crf": str(crf), "b": "0", "cpu-used": str(VP9_SPEED[preset]), "row-mt": "1"}
        if self.encoder == "ffv1":
            return {"level": "3", "slicecrc": "1"}
        return {}


#: x264/x265 presets (the VP9 speed follows them).
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
VP9_SPEED = dict(zip(PRESETS, (8, 7, 6, 5, 4, 3, 2, 1, 0)))
#: Output choices (``codec`` of :class:`VideoWriter`, :func:`open_writer`, the tabs and the CLI).
CODECS: dict[str, CodecSpec] = {
    "h264": CodecSpec("H.264", "libx264", "mp4", ".mp4", {8: "yuv420p", 10: "yuv420p10le"}),
    "h265": CodecSpec("H.265/HEVC", "libx265", "mp4", ".mp4", {8: "yuv420p", 10: "yuv420p10le"}),
    "vp9": CodecSpec("VP9", "libvpx-vp9", "webm", ".webm", {8: "yuv420p", 10: "yuv420p10le"}, crf_range=(0, 63),
                     audio_copy=frozenset({"opus", "vorbis"}), audio_encoder="libopus"),
    "ffv1": CodecSpec("FFV1 (lossless)", "ffv1", "matroska", ".mkv", {8: "bgr0", 10: "gbrp10le"}, lossless=True,
                      audio_copy=None),
    "png-zip": CodecSpec("PNG frames in a zip (lossless)", None, None, ".zip", {8: "rgb24", 10: "rgb48"},
                         lossless=True),
}


def _encoder_formats(encoder: str) -> set[str]:
    try:
        return {f.name for f in av.codec.Codec(encoder, "w").video_formats or ()}
    except Exception:  # not in this PyAV build
        return set()


def codec_available(codec: str, bit_depth: int = 8) -> bool:
    """Whether this PyAV build can write ``codec`` at ``bit_depth`` (libx265 and 10-bit VP9 are build options)."""
    spec = CODECS.get(codec)
    if spec is None or bit_depth not in spec.pix_fmt:
        return False
    return spec.encoder is None or spec.pix_fmt[bit_depth] in _encoder_formats(spec.encoder)


def available_codecs() -> list[str]:
    """The output choices this build can write (8-bit at least), in :data:`CODECS` order."""
    return [c for c in CODECS if codec_available(c, 8)]


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise VideoError(f"Unknown output codec {codec!r}; choose one of {', '.join(CODECS)}.")
    if not codec_available(codec, 8):
        raise VideoError(f"This PyAV build has no {CODECS[codec].encoder} encoder, so {CODECS[codec].label} cannot "
                         f"be written; choose one of {', '.join(available_codecs())}.")
    return codec


def check_bit_depth(codec: str, bit_depth) -> int:
    if bit_depth not in (8, 10) or isinstance(bit_depth, bool):
        raise VideoError(f"bit depth must be 8 or 10, got {bit_depth!r}.")
    bit_depth = int(bit_depth)
    if not codec_available(codec, bit_depth):
        ten = [c for c in CODECS if codec_available(c, 10)]
        raise VideoError(f"This PyAV build cannot write {CODECS[codec].label} at {bit_depth} bits; 10-bit is "
                         f"available with {', '.join(ten) or 'no codec'}.")
    return bit_depth


def output_suffix(codec: str = "h264") -> str:
    """The file suffix of an output in ``codec`` (".mp4", ".webm", ".mkv" or ".zip")."""
    return CODECS[check_codec(codec)].suffix


def describe_output(writer) -> str:
    """What a writer wrote, in words for a report, e.g. "H.265/HEVC (libx265) CRF 20, preset fast, 10-bit
    yuv420p10le in mp4; HDR PQ/BT.2020 tagged; audio copy"."""
    spec = CODECS[writer.codec]
    if spec.encoder is None:
        what = f"{spec.label}, {writer.frames_written} {writer.bit_depth if writer.bit_depth == 8 else 16}-bit PNGs"
    else:
        quality = "lossless" if spec.lossless else f"CRF {writer.crf}, preset {writer.preset}"
        what = f"{spec.label} ({spec.encoder}) {quality}, {writer.bit_depth}-bit {writer.pix_fmt} in {spec.container}"
    if writer.hdr is not None:
        what += f"; HDR {'PQ' if writer.hdr == 'pq' else 'HLG'}/BT.2020 tagged"
    if getattr(writer, "cropped", False):
        what += "; odd size cropped by 1 px"
    return what + f"; audio {writer.audio_mode}"


def open_writer(path, fps: float, audio_from: str | None = None, audio_start: float = 0.0, crf: int = 18,
                preset: str = "fast", codec: str = "h264", bit_depth: int = 8, hdr: str | None = None):
    """A :class:`VideoWriter`, or a :class:`PngSequenceWriter` for ``codec="png-zip"`` (no audio there)."""
    if check_codec(codec) == "png-zip":
        return PngSequenceWriter(path, fps, bit_depth=bit_depth, hdr=hdr)
    return VideoWriter(path, fps, audio_from=audio_from, audio_start=audio_start, crf=crf, preset=preset,
                       codec=codec, bit_depth=bit_depth, hdr=hdr)


# ---------------------------------------------------------------------------------------------------- colour / HDR
_BT2020 = 9  # swscale's SWS_CS_BT2020 (av.video.reformatter.Colorspace.BT2020)
#: ffmpeg's enum values (AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace) -> names.
_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020", 11: "smpte431", 12: "smpte432"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 6: "smpte170m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10",
              15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_SPACES = {0: "gbr", 1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc", 10: "bt2020c"}
_HDR_TAGS = {"pq": (9, 16, 9), "hlg": (9, 18, 9)}  # primaries, transfer, matrix


def _color_names(frame) -> tuple[str, str, str]:
    """(primaries, transfer, matrix) names of a decoded picture ("" when unspecified)."""
    def name(table, value):
        try:
            value = int(value)
        except (TypeError, ValueError):
            return ""
        return table.get(value, "" if value == 2 else str(value))

    return (name(_PRIMARIES, getattr(frame, "color_primaries", 2)), name(_TRANSFERS, getattr(frame, "color_trc", 2)),
            name(_SPACES, getattr(frame, "colorspace", 2)))


def _bit_depth(frame) -> int:
    try:
        return int(frame.format.components[0].bits)
    except Exception:  # pragma: no cover
        return 8


def _tag_colour(target, hdr: str) -> None:
    """Tag a frame or codec context as BT.2020 with the PQ or HLG transfer, limited range."""
    target.color_primaries, target.color_trc, target.colorspace = _HDR_TAGS[hdr]
    target.color_range = 1


def hdr_kind(primaries: str, transfer: str) -> str | None:
    """"pq" (SMPTE ST 2084) or "hlg" (ARIB STD-B67) from a stream's transfer; None for SDR. The transfer decides:
    BT.2020 primaries with an SDR transfer are wide-gamut SDR (reported, not tone-mapped)."""
    return {"smpte2084": "pq", "arib-std-b67": "hlg"}.get(transfer)


#: Linear BT.2020 RGB -> linear BT.709 RGB (ITU-R BT.2087).
BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                            [-0.1246, 1.1329, -0.0083],
                            [-0.0182, -0.1006, 1.1187]], np.float32)
#: Luminance weights of linear BT.2020 RGB.
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)
#: Reference (SDR) white in cd/m2: 100 for PQ (zscale/tonemap's npl default), 203 for HLG (BT.2408, 1000 cd/m2 peak).
REFERENCE_WHITE = {"pq": 100.0, "hlg": 203.0}
#: Relative luminance (1 = reference white) up to which the tone curve is the identity; above, it rolls off to 1.
TONE_KNEE = 0.75


def pq_to_nits(signal: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 EOTF: PQ signal in [0, 1] -> cd/m2 (0..10000)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(signal, 0, 1), 1 / m2)
    return 10000.0 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def hlg_to_nits(signal: np.ndarray, peak: float = 1000.0) -> np.ndarray:
    """ARIB STD-B67 inverse OETF and the BT.2100 OOTF (system gamma 1.2 at a ``peak`` cd/m2 display): RGB signal
    (..., 3) in [0, 1] -> display light in cd/m2."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    e = np.clip(signal, 0, 1)
    scene = np.where(e <= 0.5, e * e / 3, (np.exp((e - c) / a) + b) / 12)
    y = np.maximum(scene @ BT2020_LUMA, 1e-6)[..., None]
    return peak * np.power(y, 0.2) * scene


def bt1886_inverse(linear: np.ndarray) -> np.ndarray:
    """Display light (1 = SDR white) -> SDR signal for a BT.1886 display (gamma 2.4, black 0): what players assume
    for BT.709 video, and what ffmpeg's zscale uses for ``transfer=bt709`` (round trips with it, tested)."""
    return np.power(np.clip(linear, 0, 1), 1 / 2.4)


def tone_map_to_sdr(rgb16: np.ndarray, kind: str) -> np.ndarray:
    """HDR R'G'B' (uint16, BT.2020, PQ or HLG coded) -> SDR uint8 RGB (BT.709 primaries and transfer).

    Display light relative to the reference white (:data:`REFERENCE_WHITE`) keeps its value up to
    :data:`TONE_KNEE`; brighter light rolls off smoothly towards 1 (k + (1 - k)(1 - exp(-(L - k)/(1 - k))), continuous
    in value and slope), applied to the luminance so hues stay; the colours are then converted to BT.709 primaries
    (out-of-gamut values clipped) and encoded for a BT.1886 (gamma 2.4) display.
    """
    signal = rgb16.astype(np.float32) / 65535.0
    nits = pq_to_nits(signal) if kind == "pq" else hlg_to_nits(signal)
    rel = nits / REFERENCE_WHITE[kind]
    lum = np.maximum(rel @ BT2020_LUMA, 1e-9)
    k = TONE_KNEE
    mapped = np.where(lum <= k, lum, k + (1 - k) * (1 - np.exp(-(lum - k) / (1 - k))))
    rel = rel * (mapped / lum)[..., None]
    sdr = rel @ BT2020_TO_BT709.T
    return np.round(bt1886_inverse(sdr) * 255.0).astype(np.uint8)


# -------------------------------------------------------------------------------------------- PNG sequences
#: Frames a PNG sequence may hold (a zip bomb of tiny PNGs is refused by count before anything is decoded).
MAX_SEQUENCE_FRAMES = 20000
SEQUENCE_META = "frameforge.json"  # written into output zips: {"fps": ...}; read when no fps is given


def is_sequence(path) -> bool:
    """A ``.zip`` file or a folder: a PNG sequence rather than a video file."""
    p = Path(str(path))
    return p.suffix.lower() == ".zip" or p.is_dir()


def _natural_key(name: str):
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class _Sequence:
    """The PNG members of a zip or the PNG files of a folder, in natural name order."""

    def __init__(self, path):
        import zipfile

        self.path = Path(str(path))
        self.name = self.path.name
        self._zip = None
        if not self.path.exists():
            raise VideoError(f"Not found: {self.name}")
        if self.path.is_dir():
            names = [f.name for f in self.path.iterdir() if f.is_file() and f.suffix.lower() == ".png"]
        else:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise VideoError(f"{self.name} is not a readable zip file ({exc}).") from exc
            names = [i.filename for i in self._zip.infolist()
                     if not i.is_dir() and i.filename.lower().endswith(".png") and "__MACOSX" not in i.filename]
        if len(names) > MAX_SEQUENCE_FRAMES:
            self.close()
            raise VideoError(f"{self.name} holds {len(names)} PNG frames; the limit is {MAX_SEQUENCE_FRAMES}.")
        if not names:
            self.close()
            raise VideoError(f"{self.name} contains no PNG frames (the frames must be .png files).")
        self.names = sorted(names, key=_natural_key)

    def meta_fps(self) -> float | None:
        import json

        try:
            if self._zip is not None:
                text = self._zip.read(SEQUENCE_META)
            else:
                text = (self.path / SEQUENCE_META).read_bytes()
            return float(json.loads(text)["fps"])
        except Exception:
            return None

    def open(self, name: str):
        from PIL import Image

        try:
            if self._zip is not None:
                import io

                return Image.open(io.BytesIO(self._zip.read(name)), formats=("PNG",))
            return Image.open(self.path / name, formats=("PNG",))  # no other Pillow plugin (README, boundaries)
        except Exception as exc:
            raise VideoError(f"{self.name}: frame {name} is not a readable PNG ({exc}).") from exc

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sequence_fps(seq: _Sequence, fps) -> float:
    if fps is None or fps == 0:
        fps = seq.meta_fps()
        if fps is None:
            raise VideoError(f"{seq.name} is a sequence of PNG frames: give its frame rate (frames per second).")
    fps = float(fps)
    if not np.isfinite(fps) or not 0 < fps <= 240:
        raise VideoError(f"The frame rate of a PNG sequence must be between 0 and 240, got {fps:g}.")
    return fps


def probe_sequence(path, fps: float | None = None) -> VideoInfo:
    """A :class:`VideoInfo` for a zip or folder of PNG frames shown at ``fps`` (sizes from the first header)."""
    with _Sequence(path) as seq:
        fps = _sequence_fps(seq, fps)
        first = seq.open(seq.names[0])
        width, height = first.size
        deep = first.mode in ("I;16", "I;16B", "I", "RGB;16") or "16" in first.mode
        n = len(seq.names)
        return VideoInfo(path=str(path), width=width, height=height, fps=fps, frame_count=n, frame_count_exact=True,
                         duration=n / fps, has_audio=False, audio_codec=None, rotation=0, codec="png",
                         variable_frame_rate=False, bit_depth=16 if deep else 8, sequence=True)


def _png_rgb(image, name: str) -> np.ndarray:
    """A PNG as uint8 RGB: 16-bit samples scaled to 8 bits, alpha composited over white (models.imageio rules)."""
    from .imageio import _pil_to_rgb

    return _pil_to_rgb(image, name)


def iter_sequence(path, fps: float | None = None, max_frames: int | None = None,
                  start_time: float = 0.0) -> Iterator[Frame]:
    """The frames of a PNG sequence at ``fps``: frame i at time i / fps; every frame must have the first's size."""
    with _Sequence(path) as seq:
        fps = _sequence_fps(seq, fps)
        size = None
        produced = 0
        for i, name in enumerate(seq.names):
            time = i / fps
            if start_time > 0 and time < start_time - 0.5 / fps:
                continue
            image = seq.open(name)
            if size is None:
                size = image.size
            elif image.size != size:
                raise VideoError(f"{seq.name}: frame {name} is {image.size[0]}x{image.size[1]}, the first frame "
                                 f"is {size[0]}x{size[1]}; all frames must have the same size.")
            yield Frame(image=_png_rgb(image, name), time=time, index=i)
            produced += 1
            if max_frames is not None and produced >= max_frames:
                return


class PngSequenceWriter:
    """Write frames as lossless PNGs (``frame_000000.png``, ...) into a zip (``path`` ending in .zip) or a folder,
    with ``frameforge.json`` holding the frame rate. The same interface as :class:`VideoWriter` (no audio: a PNG
    sequence has none; ``audio_mode`` is "none"). 10-bit (``bit_depth=10``) writes 16-bit PNGs."""

    codec = "png-zip"
    crf = 0
    preset = ""
    audio_mode = "none"
    cropped = False

    def __init__(self, path, fps: float, bit_depth: int = 8, hdr: str | None = None):
        self.path = Path(path)
        self.rate = frame_rate(fps)
        self.bit_depth = check_bit_depth("png-zip", bit_depth)
        self.hdr = hdr
        self.pix_fmt = CODECS["png-zip"].pix_fmt[self.bit_depth]
        self.frames_written = 0
        self.size = None
        self._zip = None
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def duration(self) -> float:
        return float(self.frames_written / self.rate)

    def _target(self):
        import zipfile

        if self.path.suffix.lower() == ".zip":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_STORED)  # PNG is compressed already
        else:
            self.path.mkdir(parents=True, exist_ok=True)

    def _put(self, name: str, data: bytes) -> None:
        if self._zip is not None:
            self._zip.writestr(name, data)
        else:
            (self.path / name).write_bytes(data)

    def write(self, image: np.ndarray) -> None:
        import io

        import cv2

        if self._closed:
            raise VideoError("The PNG writer is already closed.")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16):
            raise VideoError(f"Frames must be (H, W, 3) uint8 RGB arrays, got shape {image.shape} {image.dtype}.")
        if self.size is None:
            self.size = image.shape[:2]
            self._target()
        elif image.shape[:2] != self.size:
            raise VideoError(f"All frames must have the same size: the first was {self.size[1]}x{self.size[0]}, "
                             f"this one is {image.shape[1]}x{image.shape[0]}.")
        if self.bit_depth == 10 and image.dtype == np.uint8:
            image = image.astype(np.uint16) * 257
        ok, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
        if not ok:  # pragma: no cover
            raise VideoError("Could not encode a PNG frame.")
        self._put(f"frame_{self.frames_written:06d}.png", io.BytesIO(png.tobytes()).getvalue())
        self.frames_written += 1

    def close(self) -> None:
        import json

        if self._closed:
            return
        if self.size is None:
            self.abort()
            raise VideoError("No frames were written, so no PNG sequence was made.")
        meta = {"fps": float(self.rate), "fps_exact": f"{self.rate.numerator}/{self.rate.denominator}",
                "frames": self.frames_written, "bit_depth": 16 if self.bit_depth == 10 else 8}
        if self.hdr:
            meta["hdr"] = self.hdr
        self._put(SEQUENCE_META, json.dumps(meta).encode())
        if self._zip is not None:
            self._zip.close()
        self._closed = True

    def abort(self) -> None:
        import shutil

        if self._closed:
            return
        self._closed = True
        if self._zip is not None:
            self._zip.close()
            self.path.unlink(missing_ok=True)
        elif self.size is not None and self.path.is_dir():
            shutil.rmtree(self.path, ignore_errors=True)


def key_frame_times(path) -> list[float]:
    """Times (seconds from the stream start, as :attr:`Frame.time`) of the video's key frames, from the packets
    (demux only, no decode): where a decoder can start, so where a segment of a job starts cheaply. [] for a frame
    sequence (every picture is one)."""
    if is_sequence(path):
        return []
    with _open_input(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time or 0
        return sorted(float((p.pts - origin) * tb) for p in container.demux(stream)
                      if p.size and p.is_keyframe and p.pts is not None)
