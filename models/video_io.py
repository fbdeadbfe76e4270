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
* Output: libx264, yuv420p, mp4 with ``+faststart``. Odd frame sizes are **cropped** by one pixel on the right /
  bottom (yuv420p needs even sizes). The source's audio packets are remuxed unchanged when mp4 can hold the codec
  (``audio_mode == "copy"``), else decoded and re-encoded to AAC (``"aac"``); ``"none"`` without audio.

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


def _scan_packets(container, stream) -> tuple[int, list[int], bool]:
    """Demux (no decode) up to PROBE_MAX_PACKETS video packets: (count, sorted pts, whole stream seen)."""
    pts: list[int] = []
    count = 0
    complete = True
    for packet in container.demux(stream):
        if packet.size == 0:  # the flush packet at the end
            continue
        count += 1
        if packet.pts is not None:
            pts.append(packet.pts)
        if count >= PROBE_MAX_PACKETS:
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


def probe(path) -> VideoInfo:
    """Describe a video without decoding more than its first frame.

    Raises :class:`VideoError` for a missing or empty file, a file that is not a video or is damaged, a still image,
    a file without a video stream and a video without decodable frames.
    """
    name = Path(path).name
    with _open_input(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        first = _first_frame(container, stream, name)
        rotation = _clockwise_rotation(first, stream)
        container.seek(0)
        count, pts, complete = _scan_packets(container, stream)
        if count == 0:
            raise VideoError(f"{name} contains no video frames.")

        duration = None
        if stream.duration and tb:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / 1_000_000
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0

        if stream.frames > 0:
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

        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        audio = container.streams.audio[0] if container.streams.audio else None
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
            variable_frame_rate=_is_variable_rate(pts),
        )


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


def iter_frames(path, max_frames: int | None = None, start_time: float = 0.0) -> Iterator[Frame]:
    """Decode frames one at a time (never the whole video in memory), rotated to display orientation.

    ``start_time`` (seconds from the stream start) seeks to the key frame before it and skips earlier frames.
    """
    if max_frames is not None and max_frames <= 0:
        return
    name = Path(path).name
    with _open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 90000)
        origin = stream.start_time or 0  # pts of the stream start
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 25.0
        if start_time > 0:
            container.seek(origin + int(start_time / tb), stream=stream, backward=True, any_frame=False)
        rotation = None
        produced = 0
        decoded = 0
        try:
            for frame in container.decode(stream):
                if rotation is None:
                    rotation = _clockwise_rotation(frame, stream)
                time = float((frame.pts - origin) * tb) if frame.pts is not None else decoded / fps
                decoded += 1
                if start_time > 0 and time < start_time - 0.5 / fps:
                    continue
                index = decoded - 1 if start_time <= 0 else int(round(time * fps))
                image = _to_display(frame.to_ndarray(format="rgb24"), rotation)
                yield Frame(image=image, time=time, index=index)
                produced += 1
                if max_frames is not None and produced >= max_frames:
                    return
        except av.error.FFmpegError as exc:
            raise VideoError(f"{name} is damaged: decoding stopped after {decoded} frames ({_reason(exc)}).") from exc
    if produced == 0 and start_time <= 0:
        raise VideoError(f"{name} contains no decodable video frames.")


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
                 preset: str = "fast"):
        self.path = Path(path)
        self.rate = frame_rate(fps)
        if not 0 <= int(crf) <= 51:
            raise VideoError(f"crf must be in 0..51, got {crf}.")
        self.crf = int(crf)
        self.preset = preset
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
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise VideoError(f"Frames must be (H, W, 3) uint8 RGB arrays, got shape {image.shape} {image.dtype}.")
        if self._out is None:
            self._start(image.shape[0], image.shape[1])
        if image.shape[:2] != self.input_size:
            raise VideoError(
                f"All frames must have the same size: the first was {self.input_size[1]}x{self.input_size[0]}, "
                f"this one is {image.shape[1]}x{image.shape[0]}."
            )
        h, w = self.size
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")
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
            if self.audio_mode == "aac":
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
        self.size = (height - height % 2, width - width % 2)  # yuv420p needs even sizes: crop 1 px
        self.cropped = self.size != self.input_size
        if self.cropped:
            log.info("odd frame size %dx%d cropped to %dx%d", width, height, self.size[1], self.size[0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            video = self._out.add_stream("libx264", rate=self.rate)
            video.width, video.height = self.size[1], self.size[0]
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(self.crf), "preset": self.preset}
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
        if stream.codec_context.name in MP4_AUDIO_CODECS:
            self._audio_out = self._out.add_stream_from_template(stream)
            self._audio_packets = (p for p in src.demux(stream) if p.size > 0 and p.pts is not None)
            self.audio_mode = "copy"
        else:
            log.info("audio codec %s cannot go in mp4 unchanged: re-encoding it to AAC", stream.codec_context.name)
            rate = stream.codec_context.sample_rate or 48000
            self._audio_out = self._out.add_stream("aac", rate=rate)
            self._audio_out.layout = "stereo" if stream.codec_context.layout.nb_channels > 1 else "mono"
            self._audio_packets = self._decoded_audio()
            self.audio_mode = "aac"

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
