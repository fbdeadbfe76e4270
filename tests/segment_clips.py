"""Test clips for segmented jobs: shots of textured frames (scene cuts between them) with a tone, as real mp4s."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

AUDIO_RATE = 22050


def shot_frame(shot: int, i: int, height: int, width: int) -> np.ndarray:
    """Frame ``i`` of shot ``shot``: a smooth random texture of that shot, panned by ``i`` pixels."""
    rng = np.random.default_rng(1000 + shot)
    base = rng.integers(0, 255, (height // 8 + 3, width // 8 + 3, 3)).astype(np.uint8)
    big = cv2.resize(base, (width + 24, height + 24), interpolation=cv2.INTER_CUBIC)
    o = i % 12
    return np.ascontiguousarray(big[o:o + height, o:o + width])


def make_shots_video(path, shots: int = 3, per_shot: int = 4, size: tuple[int, int] = (48, 64), fps: float = 10,
                     audio: bool = True) -> Path:
    """An mp4 of ``shots`` shots of ``per_shot`` frames (a scene cut before every new shot) and a 440 Hz AAC tone
    as long as the video; key frames only at the start (x264 defaults, keyint 250)."""
    path = Path(path)
    h, w = size
    rate = Fraction(fps).limit_denominator(1001)
    n = shots * per_shot
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "10", "preset": "ultrafast", "sc_threshold": "0"}
        tone = None
        if audio:
            tone = out.add_stream("aac", rate=AUDIO_RATE)
            tone.layout = "mono"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(shot_frame(i // per_shot, i % per_shot, h, w), format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if tone is not None:
            t = np.arange(int(round(n / float(rate) * AUDIO_RATE))) / AUDIO_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = AUDIO_RATE, 0, Fraction(1, AUDIO_RATE)
            out.mux(tone.encode(af))
            out.mux(tone.encode(None))
    return path
