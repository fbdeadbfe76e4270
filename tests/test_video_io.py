"""models/video_io.py: probe, streaming decode, H.264 encode with the audio remuxed unchanged, errors and limits."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from models.video_io import (
    VideoError,
    VideoLimits,
    VideoWriter,
    frame_rate,
    iter_frames,
    probe,
    read_frames,
)
from video_factory import make_test_video, pattern, vfr_times

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "videos"


def audio_packets(path) -> list[tuple[bytes, int]]:
    """(payload, pts) of every audio packet, in stream order."""
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts) for p in c.demux(c.streams.audio[0]) if p.size]


def copy_video(src, dst, n=None, **kw) -> VideoWriter:
    with VideoWriter(dst, probe(src).fps, audio_from=src, **kw) as w:
        for f in iter_frames(src, max_frames=n):
            w.write(f.image)
    return w


# ----------------------------------------------------------------------------------------------- round trips
def test_round_trip_keeps_frames_fps_and_audio_bytes(tmp_path):
    src = make_test_video(tmp_path / "src.mp4", n_frames=20, size=(48, 64), fps=25)
    w = copy_video(src, tmp_path / "out.mp4")
    assert w.audio_mode == "copy"
    a, b = probe(src), probe(tmp_path / "out.mp4")
    assert (b.frame_count, b.width, b.height) == (20, 64, 48)
    assert b.frame_count_exact
    assert b.fps == pytest.approx(25.0)
    assert b.duration == pytest.approx(a.duration)
    assert b.audio_codec == "aac"
    src_packets, out_packets = audio_packets(src), audio_packets(tmp_path / "out.mp4")
    assert len(src_packets) > 10
    assert out_packets == src_packets  # bytes and timestamps, including the AAC priming packet
    # pixels: the source pattern survives two lossy encodes closely
    for i, img in enumerate(read_frames(tmp_path / "out.mp4", 5)):
        assert np.abs(img.astype(int) - pattern(i, 48, 64)).mean() < 3.0


def test_trimmed_output_keeps_byte_identical_audio_prefix(tmp_path):
    src = make_test_video(tmp_path / "src.mp4", n_frames=30, size=(48, 64), fps=25)
    w = copy_video(src, tmp_path / "short.mp4", n=10)  # 0.4 s of 1.2 s
    assert w.audio_mode == "copy" and w.frames_written == 10
    full, short = audio_packets(src), audio_packets(tmp_path / "short.mp4")
    assert 0 < len(short) < len(full)
    assert short == full[: len(short)]
    end_tick = round(0.4 * 22050)
    assert short[-1][1] < end_tick <= full[len(short)][1]  # the next packet would start after the end
    assert probe(tmp_path / "short.mp4").frame_count == 10


def test_audio_start_takes_a_contiguous_run_of_packets_in_sync(tmp_path):
    src = make_test_video(tmp_path / "src.mp4", n_frames=30, size=(48, 64), fps=25)
    with VideoWriter(tmp_path / "late.mp4", 25, audio_from=src, audio_start=0.4) as w:
        frames = list(iter_frames(src, start_time=0.4))
        for f in frames:
            w.write(f.image)
    assert frames[0].time == pytest.approx(0.4) and frames[0].index == 10 and len(frames) == 20
    full, late = audio_packets(src), audio_packets(tmp_path / "late.mp4")
    payloads = [p for p, _ in full]
    k = payloads.index(late[0][0])
    assert [p for p, _ in late] == payloads[k : k + len(late)]
    shift = round(0.4 * 22050)
    assert [t for _, t in late] == [t - shift for _, t in full[k : k + len(late)]]  # same timing, shifted
    assert late[0][1] < 0 <= late[2][1]  # one pre-roll packet before the one that covers output time 0


def test_audio_that_mp4_cannot_hold_is_reencoded_to_aac(tmp_path):
    src = tmp_path / "pcm.mov"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=16000)
        a.layout = "mono"
        for i in range(10):
            c.mux(v.encode(av.VideoFrame.from_ndarray(pattern(i, 48, 64), format="rgb24")))
        c.mux(v.encode(None))
        tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(6400) / 16000)).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        c.mux(a.encode(frame))
        c.mux(a.encode(None))
    assert probe(src).audio_codec == "pcm_s16le"
    w = copy_video(src, tmp_path / "out.mp4")
    assert w.audio_mode == "aac"
    out = probe(tmp_path / "out.mp4")
    assert out.audio_codec == "aac" and out.frame_count == 10
    with av.open(str(tmp_path / "out.mp4")) as c:
        s = c.streams.audio[0]
        assert float(s.duration * s.time_base) == pytest.approx(0.4, abs=0.01)
        samples = np.concatenate([f.to_ndarray() for f in c.decode(s)], axis=1)
    assert 0.15 < np.abs(samples).max() < 0.35  # the 8000/32768 = 0.24 tone, not silence


def test_without_audio_source_writes_video_only(tmp_path):
    src = make_test_video(tmp_path / "mute.mp4", n_frames=5, audio=False)
    w = copy_video(src, tmp_path / "out.mp4")
    assert w.audio_mode == "none"
    assert not probe(tmp_path / "out.mp4").has_audio


# ------------------------------------------------------------------------------------------ timing and rotation
def test_variable_frame_rate_is_reported_and_times_come_from_pts(tmp_path):
    vfr = make_test_video(tmp_path / "vfr.mp4", n_frames=15, fps=25, vfr=True, audio=False)
    cfr = make_test_video(tmp_path / "cfr.mp4", n_frames=15, fps=25, audio=False)
    assert probe(vfr).variable_frame_rate
    assert not probe(cfr).variable_frame_rate
    times = [f.time for f in iter_frames(vfr)]
    assert np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, vfr_times(15, 25), atol=1.5e-3)
    np.testing.assert_allclose([f.time for f in iter_frames(cfr)], np.arange(15) / 25, atol=1e-6)


# clockwise display rotation -> (corner of the display that shows the stored red, green, blue block)
CORNERS = {
    90: ((0, -1), (-1, -1), (0, 0)),
    180: ((-1, -1), (-1, 0), (0, -1)),
    270: ((-1, 0), (0, 0), (-1, -1)),
}


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_comes_out_in_display_orientation(tmp_path, rotation):
    path = make_test_video(tmp_path / "phone.mp4", n_frames=3, size=(48, 64), rotation=rotation, audio=False)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.height, info.width) == ((64, 48) if rotation in (90, 270) else (48, 64))
    img = read_frames(path, 1)[0]
    assert img.shape == (info.height, info.width, 3)
    for (r, c), colour in zip(CORNERS[rotation], [(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        y, x = (2 if r == 0 else img.shape[0] - 3), (2 if c == 0 else img.shape[1] - 3)
        np.testing.assert_allclose(img[y, x], colour, atol=12)
    assert np.abs(img.astype(int) - np.rot90(pattern(0, 48, 64), k=-rotation // 90)).mean() < 3.0


# ----------------------------------------------------------------------------------------------------- errors
def _bad_file(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / ("bad.png" if kind == "image" else "bad.mp4")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("this is a shopping list, not a video\n" * 20)
    elif kind == "image":
        Image.fromarray(pattern(0, 48, 64)).save(path)
    elif kind == "truncated":
        good = make_test_video(tmp_path / "good.mp4", n_frames=10).read_bytes()
        path.write_bytes(good[: len(good) // 3])
    elif kind == "audio_only":
        path = tmp_path / "song.m4a"
        with av.open(str(path), "w") as c:
            s = c.add_stream("aac", rate=22050)
            s.layout = "mono"
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 22050, 0
            c.mux(s.encode(frame))
            c.mux(s.encode(None))
    return path


@pytest.mark.parametrize(
    "kind, words",
    [
        ("missing", "not found"),
        ("empty", "empty"),
        ("corrupt", "not a video file or it is damaged"),
        ("text", "not a video file or it is damaged"),
        ("image", "still image"),
        ("truncated", "damaged"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_inputs_raise_video_error_with_reason(tmp_path, kind, words):
    path = tmp_path / "missing.mp4" if kind == "missing" else _bad_file(kind, tmp_path)
    with pytest.raises(VideoError, match=words) as probed:
        probe(path)
    assert path.name in str(probed.value)
    with pytest.raises(VideoError, match=words):
        next(iter_frames(path))
    assert isinstance(probed.value, ValueError)  # demos.common.user_errors shows it to the user


def test_limits_reject_long_and_large_videos(small_video, monkeypatch):
    info = probe(small_video)  # 12 frames at 25 fps = 0.48 s, 64x48
    VideoLimits().check_input(info)
    with pytest.raises(VideoError, match=r"0\.5 s long; the limit is 0\.25 s"):
        VideoLimits(max_seconds=0.25).check_input(info)
    with pytest.raises(VideoError, match="64x48 = 3,072 pixels per frame; the limit is 1,000"):
        VideoLimits(max_pixels=1000).check_input(info)
    VideoLimits().check_output(1800, 3840, 2160)
    with pytest.raises(VideoError, match="1801 frames; the limit is 1800"):
        VideoLimits().check_output(1801, 64, 48)
    with pytest.raises(VideoError, match="7680x4320"):
        VideoLimits().check_output(10, 7680, 4320)
    from models import settings

    monkeypatch.setenv("FRAMEFORGE_MAX_SECONDS", "0.25")
    monkeypatch.setenv("FRAMEFORGE_MAX_OUTPUT_FRAMES", "100")
    settings.reload()
    limits = VideoLimits.from_env()
    assert (limits.max_seconds, limits.max_output_frames, limits.max_pixels) == (0.25, 100, 1920 * 1088)
    with pytest.raises(VideoError):
        limits.check_input(info)
    monkeypatch.setenv("FRAMEFORGE_MAX_PIXELS", "lots")
    with pytest.raises(settings.SettingsError, match="FRAMEFORGE_MAX_PIXELS must be WIDTHxHEIGHT"):
        settings.reload()


def test_writer_refuses_bad_frames_and_leaves_no_partial_file(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="same size"):
        with VideoWriter(out, 25) as w:
            w.write(pattern(0, 48, 64))
            w.write(pattern(1, 50, 64))
    assert not out.exists()
    with pytest.raises(VideoError, match="uint8"):
        with VideoWriter(out, 25) as w:
            w.write(pattern(0, 48, 64).astype(np.float32))
    with pytest.raises(VideoError, match="No frames"):
        with VideoWriter(out, 25):
            pass
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 25) as w:
            w.write(pattern(0, 48, 64))
            raise RuntimeError("pipeline failed")
    assert not out.exists()
    with pytest.raises(VideoError, match="positive"):
        VideoWriter(out, 0)


# ---------------------------------------------------------------------------------------------- sizes and rates
def test_odd_sizes_are_cropped_by_one_pixel(tmp_path):
    frames = [pattern(i, 47, 63) for i in range(4)]
    with VideoWriter(tmp_path / "odd.mp4", 25) as w:
        for f in frames:
            w.write(f)
    assert w.cropped and w.size == (46, 62)
    info = probe(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.frame_count) == (62, 46, 4)
    out = read_frames(tmp_path / "odd.mp4")
    assert np.abs(out[0].astype(int) - frames[0][:46, :62]).mean() < 3.0
    # odd-sized input decodes at its own size
    odd_src = make_test_video(tmp_path / "odd_src.mp4", n_frames=2, size=(47, 63), audio=False)
    assert read_frames(odd_src, 1)[0].shape == (47, 63, 3)


def test_one_frame_video(tmp_path):
    path = make_test_video(tmp_path / "one.mp4", n_frames=1, fps=25)
    info = probe(path)
    assert info.frame_count == 1 and info.frame_count_exact
    assert info.duration == pytest.approx(0.04)
    assert len(read_frames(path)) == 1


def test_fractional_frame_rates(tmp_path):
    assert frame_rate(59.94) == Fraction(60000, 1001)
    assert frame_rate(29.97) == Fraction(30000, 1001)
    assert frame_rate(23.976) == Fraction(24000, 1001)
    assert frame_rate(25) == 25 and frame_rate(12.5) == Fraction(25, 2)
    with VideoWriter(tmp_path / "ntsc.mp4", 59.94) as w:
        for i in range(6):
            w.write(pattern(i, 48, 64))
    info = probe(tmp_path / "ntsc.mp4")
    assert info.fps == pytest.approx(60000 / 1001, rel=1e-6)
    np.testing.assert_allclose([f.time for f in iter_frames(tmp_path / "ntsc.mp4")], np.arange(6) * 1001 / 60000,
                               atol=1e-4)


def test_iter_frames_limits_and_indices(small_video):
    frames = list(iter_frames(small_video, max_frames=4))
    assert [f.index for f in frames] == [0, 1, 2, 3]
    np.testing.assert_allclose([f.time for f in frames], [0, 0.04, 0.08, 0.12], atol=1e-6)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert len(read_frames(small_video)) == 12
    assert list(iter_frames(small_video, max_frames=0)) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_no_leaked_file_handles(tmp_path, small_video):
    bad = _bad_file("corrupt", tmp_path)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        probe(small_video)
        it = iter_frames(small_video)
        next(it)
        it.close()  # abandoned part-way
        with pytest.raises(VideoError):
            probe(bad)
        with pytest.raises(VideoError):
            with VideoWriter(tmp_path / "x.mp4", 25, audio_from=small_video) as w:
                w.write(pattern(0, 48, 64))
                w.write(pattern(0, 40, 64))
        copy_video(small_video, tmp_path / "y.mp4")
    assert len(os.listdir("/proc/self/fd")) == before


# ------------------------------------------------------------------------------------------------- app examples
def test_example_videos_are_small_valid_and_within_limits():
    files = sorted(EXAMPLES.glob("*.mp4"))
    assert files, f"no example videos in {EXAMPLES}"
    for path in files:
        assert path.stat().st_size < 2_000_000, path.name
        info = probe(path)
        VideoLimits().check_input(info)
        assert info.frame_count >= 20 and not info.variable_frame_rate


def test_bounce_example_keeps_audio_in_sync():
    """The synthetic example beeps when the ball touches the floor (t = 0, 0.5, ... s): audio and video agree."""
    path = EXAMPLES / "bounce_sync_320x240.mp4"
    if not path.exists():
        pytest.skip(f"{path.name} not built (python examples/make_examples.py)")
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        sound = np.concatenate([f.to_ndarray() for f in c.decode(s)], axis=1)[0]
        rate = s.rate
    loud = np.flatnonzero(np.abs(sound) > 0.05)
    onsets = loud[np.r_[True, np.diff(loud) > rate // 10]] / rate
    lowest = []  # bottom row of the red ball per frame
    times = []
    for f in iter_frames(path):
        red = (f.image[..., 0] > 180) & (f.image[..., 1] < 110)
        lowest.append(np.flatnonzero(red.any(axis=1)).max())
        times.append(f.time)
    lowest = np.array(lowest)
    on_floor = np.array(times)[lowest == lowest.max()]
    np.testing.assert_allclose(onsets, on_floor, atol=1.5 / 30)
    np.testing.assert_allclose(on_floor, np.arange(len(on_floor)) * 0.5, atol=1e-6)
