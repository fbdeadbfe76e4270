"""Rebuild the app's example videos in examples/videos/ from ../shared/data (see examples/README.md).

    python examples/make_examples.py

Sources are CC BY 4.0 (SA-V demo clips); the outputs are short, downscaled excerpts made with models/video_io.py.
The SA-V clips' audio tracks are silent, so one more clip is synthesised here with an audible, frame-exact sound
(a beep at every bounce of a ball) to check audio/video sync after processing.
"""
from __future__ import annotations

import sys
import tempfile
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.video_io import VideoWriter, iter_frames, probe, read_frames  # noqa: E402

CLIPS = ROOT.parent / "shared" / "data" / "video_train" / "clips"
OUT = ROOT / "examples" / "videos"


@dataclass(frozen=True)
class Example:
    name: str  # output file name
    source: str  # file in CLIPS
    seconds: float  # length of the excerpt from the start
    width: int  # output width; the height keeps the aspect ratio (rounded to even)
    step: int  # keep every step-th frame (fps / step)
    audio: bool  # copy the source audio (remux, unchanged packets)
    crf: int = 18


EXAMPLES = [
    Example("dog_480x270.mp4", "01_dog.mp4", seconds=3.5, width=480, step=1, audio=True),
    Example("juggle_12fps_320.mp4", "05_default_juggle.mp4", seconds=4.0, width=320, step=2, audio=False),
]


def resize(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    height = int(round(h * width / w / 2)) * 2
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def make(example: Example) -> Path:
    src = CLIPS / example.source
    info = probe(src)
    out = OUT / example.name
    fps = info.fps / example.step
    with VideoWriter(out, fps, audio_from=src if example.audio else None, crf=example.crf, preset="slow") as w:
        for frame in iter_frames(src):
            if frame.time >= example.seconds - 1e-6:
                break
            if frame.index % example.step == 0:
                w.write(resize(frame.image, example.width))
    made = probe(out)
    print(f"{out.name}: {made.width}x{made.height}, {made.fps:.3f} fps, {made.frame_count} frames, "
          f"{made.duration:.2f} s, audio={w.audio_mode}, {out.stat().st_size / 1e6:.2f} MB")
    return out


def make_bounce(name: str = "bounce_sync_320x240.mp4", fps: int = 30, seconds: float = 3.0) -> Path:
    """A ball bouncing on a floor, a 1 kHz beep starting on each frame where it touches (every 0.5 s)."""
    out = OUT / name
    h, w, r, rate = 240, 320, 16, 48000
    period = 0.5  # seconds between bounces; the ball is on the floor at t = 0, 0.5, 1.0, ...
    n = int(round(seconds * fps))
    t = np.arange(int(seconds * rate)) / rate
    since = np.mod(t, period)
    beep = np.where(since < 0.06, 0.4 * np.sin(2 * np.pi * 1000 * t) * np.exp(-since / 0.02), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        sound = Path(tmp) / "beeps.m4a"
        with av.open(str(sound), "w") as c:
            s = c.add_stream("aac", rate=rate)
            s.layout = "mono"
            frame = av.AudioFrame.from_ndarray(beep.astype(np.float32)[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
            c.mux(s.encode(frame))
            c.mux(s.encode(None))
        with VideoWriter(out, fps, audio_from=str(sound), crf=23, preset="slow") as writer:
            yy, xx = np.mgrid[0:h, 0:w]
            for i in range(n):
                ti = i / fps
                phase = np.mod(ti, period) / period  # 0 at a bounce
                y = (h - 40 - r) - 4 * (h - 100) * phase * (1 - phase)  # parabola, floor at h - 40
                x = 30 + (w - 60) * ti / seconds
                img = np.empty((h, w, 3), np.uint8)
                img[:] = (235, 235, 225)
                img[h - 40 + r // 8 :] = (90, 120, 90)
                img[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = (220, 60, 40)
                writer.write(img)
    made = probe(out)
    print(f"{out.name}: {made.width}x{made.height}, {made.fps:.3f} fps, {made.frame_count} frames, "
          f"{made.duration:.2f} s, audio={writer.audio_mode}, {out.stat().st_size / 1e6:.2f} MB")
    return out


def make_pairs(pairs=(("juggle", "juggle_12fps_320.mp4", 20), ("dog", "dog_480x270.mp4", 40))) -> None:
    """Frame pairs for the interpolation tab: two consecutive frames of the (CC BY 4.0) example clips."""
    from PIL import Image

    for name, clip, index in pairs:
        frames = read_frames(str(OUT / clip), max_frames=index + 2)[index:index + 2]
        folder = OUT.parent / "pairs" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"frame{i}.png")
        print(f"pairs/{name}: frames {index}, {index + 1} of {clip}")


def main() -> None:
    if not CLIPS.is_dir():
        sys.exit(f"source clips not found at {CLIPS}")
    OUT.mkdir(parents=True, exist_ok=True)
    for example in EXAMPLES:
        make(example)
    make_bounce()
    make_pairs()


if __name__ == "__main__":
    main()
