"""Small synthetic test videos made with PyAV (no ffmpeg binary needed).

``make_test_video`` writes an H.264 mp4 whose frame ``i`` is :func:`pattern` ``(i, height, width)``: a grey level
that grows with ``i``, a red block in the top-left corner, a green block in the top-right corner and a blue block
in the bottom-left corner of the *stored* picture. With ``rotation`` (clockwise display degrees, the convention of
``models.video_io``) the stream carries a display matrix, so a player shows the pattern turned clockwise.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 22050


def pattern(i: int, height: int, width: int) -> np.ndarray:
    """Frame ``i`` of a test video: (height, width, 3) uint8 RGB with coloured corner blocks."""
    img = np.full((height, width, 3), (20 + 7 * i) % 200 + 30, np.uint8)
    b = max(2, min(height, width) // 4)
    img[:b, :b] = (255, 0, 0)
    img[:b, -b:] = (0, 255, 0)
    img[-b:, :b] = (0, 0, 255)
    return img


def vfr_times(n_frames: int, fps: float) -> list[float]:
    """Irregular frame times: durations cycle through 1, 2 and 1.5 frame periods."""
    steps = [1.0, 2.0, 1.5]
    t, out = 0.0, []
    for i in range(n_frames):
        out.append(t)
        t += steps[i % 3] / fps
    return out


def make_test_video(path, n_frames: int = 12, size: tuple[int, int] = (48, 64), fps: float = 25,
                    audio: bool = True, vfr: bool = False, rotation: int = 0) -> Path:
    """Write a test mp4 and return its path.

    ``size`` is the stored (height, width); ``audio`` adds a 440 Hz mono AAC tone exactly as long as the video;
    ``vfr`` gives the frames the irregular times of :func:`vfr_times` (time base 1/1000 s).
    """
    path = Path(path)
    height, width = size
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=rate)
        # yuv420p needs even sizes; odd test sizes are stored 4:4:4 (H.264 High 4:4:4 allows any size)
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.width, video.height = width, height
        video.options = {"preset": "ultrafast", "crf": "10"}
        if vfr:
            video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        tone = None
        if audio:
            tone = out.add_stream("aac", rate=AUDIO_RATE)
            tone.layout = "mono"
        times = vfr_times(n_frames, fps) if vfr else [i / float(rate) for i in range(n_frames)]
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, height, width), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            else:
                frame.pts, frame.time_base = i, 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if tone is not None:
            seconds = (times[-1] + 1 / float(rate)) if n_frames else 0.0
            n = int(round(seconds * AUDIO_RATE))
            t = np.arange(n) / AUDIO_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, 0, Fraction(1, AUDIO_RATE)
            out.mux(tone.encode(frame))
            out.mux(tone.encode(None))
    return path
