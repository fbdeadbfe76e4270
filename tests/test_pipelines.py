"""Video and pair pipelines (models/pipelines/{interpolate,video_sr}.py) on tiny synthetic videos, and the midpoint
recursion of the two-stage space-time baseline inside the pipelines and the stvsr benchmark."""
from __future__ import annotations

import math

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from models import registry, video_io
from models.baselines import DISFlowInterpolator, Lanczos, TwoStage
from models.pipelines.interpolate import interpolate_pair, interpolate_video
from models.pipelines.timing import is_scene_cut
from models.pipelines.video_sr import output_size, upscale_video
from video_factory import make_test_video, pattern, vfr_times


# ------------------------------------------------------------------------------------------------- helpers --
class MeanMidpoint:
    """Midpoint-only stub: frame(1/2) = rounded mean of the two frames; records the pairs' mean grey levels."""

    arbitrary_t = False

    def __init__(self):
        self.calls = []

    def interpolate(self, frame0, frame1, ts):
        assert list(ts) == [0.5], "midpoint-only models must only be asked for t = 0.5"
        self.calls.append((float(frame0.mean()), float(frame1.mean())))
        return [((frame0.astype(np.uint16) + frame1 + 1) // 2).astype(np.uint8)]


def background(image: np.ndarray) -> float:
    """Mean of the test pattern's plain grey middle band (clear of the corner blocks); it grows by 7 per frame."""
    h = image.shape[0]
    return float(image[h // 3: 2 * h // 3].mean())


def levels(path) -> list[float]:
    """Background grey of every decoded frame (the decoded source, so codec rounding cancels out)."""
    return [background(f) for f in video_io.read_frames(path)]


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def times_of(path) -> list[float]:
    return [f.time for f in video_io.iter_frames(path)]


def expected_count(src, fps: float) -> int:
    """Output frames of an evenly timed resampling: instants start + j / fps up to the last source frame."""
    ts = times_of(src)
    return math.floor((ts[-1] - ts[0]) * fps + 1e-6) + 1


@pytest.fixture(scope="module")
def dis():
    return DISFlowInterpolator()


# ------------------------------------------------------------------------------------------ video x2 + audio --
def test_interpolate_video_x2_doubles_fps_and_copies_audio(tmp_path, dis):
    n = 10
    src = make_test_video(tmp_path / "src.mp4", n_frames=n, size=(48, 64), fps=25, audio=True)
    dst = tmp_path / "x2.mp4"
    seen = []
    report = interpolate_video(dis, str(src), str(dst), factor=2, progress=lambda f, msg: seen.append(f))
    info = video_io.probe(dst)
    assert report.out_frames == info.frame_count == 2 * (n - 1) + 1 and report.in_frames == n
    assert report.out_fps == info.fps == pytest.approx(50.0)
    assert (info.width, info.height) == (64, 48)
    assert report.scene_cuts == [] and report.max_time_error == 0.0
    assert report.audio == "copy" and info.has_audio
    src_audio, out_audio = audio_packets(src), audio_packets(dst)
    assert len(out_audio) >= len(src_audio) - 2  # trimmed to the output's 1/50 s shorter duration at most
    assert out_audio == src_audio[:len(out_audio)]  # byte-identical prefix
    # in-between frames sit halfway in grey level between their neighbours
    out, grey = video_io.read_frames(dst), levels(src)
    for k in range(n - 1):
        assert background(out[2 * k + 1]) == pytest.approx((grey[k] + grey[k + 1]) / 2, abs=1.5)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_interpolate_video_24_to_60_with_midpoint_only_model(tmp_path):
    src = make_test_video(tmp_path / "src24.mp4", n_frames=12, size=(48, 64), fps=24, audio=True)
    dst = tmp_path / "60.mp4"
    model = MeanMidpoint()
    report = interpolate_video(model, str(src), str(dst), fps=60)
    info = video_io.probe(dst)
    assert info.fps == pytest.approx(60.0) and report.out_fps == 60.0
    assert report.out_frames == info.frame_count == expected_count(src, 60) == 28  # floor(11/24 * 60) + 1
    # t = frac(0.4 j) in {0, .4, .8, .2, .6} snap to eighths {0, 3/8, 6/8, 2/8, 5/8}: largest error 0.05
    assert report.max_time_error == pytest.approx(0.05, abs=1e-9) and report.max_time_error <= 1 / 16
    assert report.audio == "copy"
    # every output frame shows the grey of its snapped time: grey(i) + 7 * snap(t)
    out, grey = video_io.read_frames(dst), levels(src)
    for j, image in enumerate(out):
        pos = j * 24 / 60  # source position of output instant j
        i = min(int(pos + 1e-9), 10)
        t = round((pos - i) * 8) / 8
        assert background(image) == pytest.approx((1 - t) * grey[i] + t * grey[i + 1], abs=2.0), j


# ------------------------------------------------------------------------------------------------ scene cut --
def two_shot_video(path, n_each: int = 5, size=(48, 64), fps: float = 25):
    """Shot A: a warm smooth texture panning right; shot B: a cold, finer texture panning down."""
    h, w = size
    rng = np.random.default_rng(0)
    tex_a = cv2.GaussianBlur(rng.uniform(0, 255, (h, w + 20)).astype(np.float32), (0, 0), 3)
    tex_b = cv2.GaussianBlur(rng.uniform(0, 255, (h + 20, w)).astype(np.float32), (0, 0), 1.5)
    norm = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    a = np.stack([200 + 30 * norm(tex_a), 120 + 30 * norm(tex_a), 40 + 10 * norm(tex_a)], -1)
    b = np.stack([30 + 10 * norm(tex_b), 90 + 30 * norm(tex_b), 210 + 30 * norm(tex_b)], -1)
    a, b = (np.clip(x, 0, 255).astype(np.uint8) for x in (a, b))
    frames = [a[:, i:i + w] for i in range(n_each)] + [b[i:i + h] for i in range(n_each)]
    with video_io.VideoWriter(path, fps) as writer:
        for f in frames:
            writer.write(np.ascontiguousarray(f))
    return path


def test_scene_cut_is_held_not_morphed(tmp_path):
    src = two_shot_video(tmp_path / "cut.mp4")
    dst = tmp_path / "cut_x2.mp4"
    model = MeanMidpoint()  # a blend across the cut would be a purple mix of both shots
    report = interpolate_video(model, str(src), str(dst), factor=2)
    assert report.scene_cuts == [pytest.approx(5 / 25)]  # the first frame of shot B
    assert report.max_time_error < 1e-9 and report.out_frames == 19
    assert all(abs(m0 - m1) < 20 for m0, m1 in model.calls)  # never asked to morph across the cut
    source, out = video_io.read_frames(src), video_io.read_frames(dst)
    blend = ((source[4].astype(np.uint16) + source[5]) // 2).astype(np.uint8)
    diff = lambda x, y: float(np.abs(x.astype(int) - y).mean())  # noqa: E731
    assert diff(out[8], source[4]) < 3  # last frame of A
    # t = 1/2 across the cut: a frame of one shot held (which one is a tie), not a blend of the two
    assert min(diff(out[9], source[4]), diff(out[9], source[5])) < 3
    assert diff(out[9], blend) > 20
    assert diff(out[10], source[5]) < 3


def test_fade_is_not_a_scene_cut():
    """A brightness fade moves a flat area across histogram bins but keeps the picture: no cut."""
    frames = [pattern(i, 48, 64) for i in range(20)]
    assert not any(is_scene_cut(a, b) for a, b in zip(frames, frames[1:]))
    rng = np.random.default_rng(1)
    other = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert is_scene_cut(frames[3], other)


# ------------------------------------------------------------------------------------------------------ VFR --
def test_variable_frame_rate_input_comes_out_evenly_timed(tmp_path, dis):
    src = make_test_video(tmp_path / "vfr.mp4", n_frames=10, size=(48, 64), fps=25, audio=True, vfr=True)
    assert video_io.probe(src).variable_frame_rate
    src_times = times_of(src)
    np.testing.assert_allclose(src_times, vfr_times(10, 25), atol=2e-3)
    dst = tmp_path / "vfr_30.mp4"
    report = interpolate_video(dis, str(src), str(dst), fps=30)
    out_times = times_of(dst)
    assert len(out_times) == report.out_frames == expected_count(src, 30)
    np.testing.assert_allclose(np.diff(out_times), 1 / 30, atol=1e-3)
    assert not video_io.probe(dst).variable_frame_rate
    # each output frame shows the grey of its instant, interpolated along the real source times
    grey = levels(src)
    for T, image in zip(out_times, video_io.read_frames(dst)):
        assert background(image) == pytest.approx(np.interp(T, src_times, grey), abs=1.5), T


# ---------------------------------------------------------------------------------------------- rotation --
def test_rotated_video_keeps_display_orientation(tmp_path, dis):
    src = make_test_video(tmp_path / "rot.mp4", n_frames=6, size=(48, 64), fps=25, audio=False, rotation=90)
    assert (video_io.probe(src).width, video_io.probe(src).height) == (48, 64)
    dst = tmp_path / "rot_x2.mp4"
    interpolate_video(dis, str(src), str(dst), factor=2)
    info = video_io.probe(dst)
    assert (info.width, info.height, info.rotation) == (48, 64, 0)
    first = video_io.read_frames(dst, 1)[0]
    # stored top-left red block, turned 90 degrees clockwise for display: top-right
    assert np.abs(first[3, -4].astype(int) - (255, 0, 0)).max() < 40
    assert np.abs(first[3, 3].astype(int) - (0, 0, 255)).max() < 40  # stored bottom-left blue: top-left


# ------------------------------------------------------------------------------------------------ video SR --
def test_upscale_video_scale_2_5_and_time_x2(tmp_path):
    n = 8
    src = make_test_video(tmp_path / "lr.mp4", n_frames=n, size=(48, 64), fps=25, audio=True)
    dst = tmp_path / "sr.mp4"
    model = registry.get("lanczos+dis")
    report = upscale_video(model, str(src), str(dst), scale=2.5, time_factor=2)
    info = video_io.probe(dst)
    assert report.out_size == (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(50.0) and report.out_fps == pytest.approx(50.0)
    assert report.out_frames == info.frame_count == 2 * (n - 1) + 1
    assert report.audio == "copy" and info.has_audio
    assert report.before.shape == (48, 64, 3) and report.after.shape == (120, 160, 3)  # the input as given
    from PIL import Image

    enlarged = np.asarray(Image.fromarray(report.before).resize((160, 120), Image.BICUBIC))
    assert np.abs(report.after.astype(int) - enlarged).mean() < 5  # both show source frame 0
    out, grey = video_io.read_frames(dst), levels(src)
    assert background(out[1]) == pytest.approx((grey[0] + grey[1]) / 2, abs=1.5)


def test_upscale_video_with_midpoint_only_interpolator_reaches_eighths(tmp_path):
    src = make_test_video(tmp_path / "lr.mp4", n_frames=4, size=(48, 64), fps=25, audio=False)
    dst = tmp_path / "sr4.mp4"
    stub = MeanMidpoint()
    report = upscale_video(TwoStage(Lanczos(), stub), str(src), str(dst), scale=1.5, time_factor=4)
    assert report.out_frames == 3 * 4 + 1
    out, grey = video_io.read_frames(dst), levels(src)
    for j, image in enumerate(out):
        i, t = min(j // 4, 2), j / 4 - min(j // 4, 2)
        assert background(image) == pytest.approx((1 - t) * grey[i] + t * grey[i + 1], abs=2.0), j


@pytest.mark.parametrize("scale", [0, 100, float("nan"), 0.5])
def test_upscale_video_rejects_bad_scales(tmp_path, small_video, scale):
    with pytest.raises(ValueError, match="scale"):
        upscale_video(Lanczos(), str(small_video), str(tmp_path / "x.mp4"), scale=scale)
    assert not (tmp_path / "x.mp4").exists()


def test_output_size_is_even():
    assert output_size(64, 48, 2.5) == (160, 120)
    assert output_size(63, 47, 1.0) == (64, 48)


def test_upscale_video_rejects_one_frame_empty_and_text_files(tmp_path):
    model = registry.get("lanczos+dis")
    one = make_test_video(tmp_path / "one.mp4", n_frames=1, size=(48, 64), audio=False)
    with pytest.raises(ValueError, match="single frame"):
        upscale_video(model, str(one), str(tmp_path / "o.mp4"), scale=2)
    with pytest.raises(ValueError, match="single frame"):
        interpolate_video(model, str(one), str(tmp_path / "o.mp4"), factor=2)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    for bad in (empty, text):
        with pytest.raises(video_io.VideoError):
            upscale_video(model, str(bad), str(tmp_path / "o.mp4"), scale=2)
        with pytest.raises(video_io.VideoError):
            interpolate_video(DISFlowInterpolator(), str(bad), str(tmp_path / "o.mp4"), factor=2)
    assert not (tmp_path / "o.mp4").exists()


# ------------------------------------------------------------------------------------------------ pairs --
def flat_pair(h=24, w=32):
    return np.full((h, w, 3), 40, np.uint8), np.full((h, w, 3), 200, np.uint8)


def test_interpolate_pair_arbitrary_t(dis):
    f0, f1 = flat_pair()
    r = interpolate_pair(dis, f0, f1, 3)
    assert r.times == [0.25, 0.5, 0.75]
    assert [float(f.mean()) for f in r.frames] == pytest.approx([80, 120, 160], abs=1)
    assert len(r.sequence()) == 5 and r.sequence()[0] is r.frame0


def test_interpolate_pair_midpoint_only_snaps_to_dyadic_times():
    f0, f1 = flat_pair()
    stub = MeanMidpoint()
    r = interpolate_pair(stub, f0, f1, 2)  # wanted 1/3, 2/3; depth 2 reaches quarters
    assert r.times == [0.25, 0.75]
    assert [float(f.mean()) for f in r.frames] == [80, 160]
    assert len(stub.calls) == 3  # 1/2, 1/4, 3/4
    r = interpolate_pair(MeanMidpoint(), f0, f1, 7)
    assert r.times == [k / 8 for k in range(1, 8)]


@pytest.mark.parametrize("n", [0, 100, 2.5, -1])
def test_interpolate_pair_rejects_bad_counts(dis, n):
    f0, f1 = flat_pair()
    with pytest.raises(ValueError, match="number of in-between frames"):
        interpolate_pair(dis, f0, f1, n)


def test_interpolate_pair_converts_rgba_grey_and_resizes(dis):
    f0, f1 = flat_pair()
    rgba = np.dstack([f0, np.full(f0.shape[:2], 255, np.uint8)])
    gray = np.full((48, 64), 200, np.uint8)  # another size: resized to the first image's
    r = interpolate_pair(dis, rgba, gray, 1)
    assert r.frame0.shape == r.frame1.shape == r.frames[0].shape == (24, 32, 3)
    assert np.array_equal(r.frame0, f0) and np.array_equal(r.frame1, f1)
    assert float(r.frames[0].mean()) == pytest.approx(120, abs=1)
    with pytest.raises(ValueError, match="at least 8x8"):
        interpolate_pair(dis, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), 1)


# ------------------------------------------------------------------------------------ stvsr benchmark --
@pytest.mark.slow  # the benchmark command
def test_stvsr_bench_runs_midpoint_only_models_for_powers_of_two(tmp_path, monkeypatch, capsys):
    from bench import common, stvsr

    assert [t for t in range(1, 17) if stvsr.midpoint_reachable(t)] == [1, 2, 4, 8]
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(128, 5, (16, 24, 3)) + 8 * i, 0, 255).astype(np.uint8) for i in range(9)]
    stub = MeanMidpoint()
    model = TwoStage(Lanczos(), stub)
    r = stvsr.evaluate(model, [("ramp", frames)], 2, 4)
    assert r["frames"] == 9 and r["sequences"][0]["anchors"] == 3
    assert r["psnr_y_interp"] > 25  # recursion hit the right times (a wrong time is 2+ grey steps of 8 off)
    assert len(stub.calls) == 3 * 3  # warm-up + 2 anchor pairs, 3 tree nodes (1/2, 1/4, 3/4) each
    for i, f in enumerate(frames):
        (tmp_path / "seq").mkdir(exist_ok=True)
        Image.fromarray(f).save(tmp_path / "seq" / f"{i:03d}.png")
    monkeypatch.setattr(common, "load_model", lambda mid, task: model)
    assert stvsr.run(str(tmp_path), 2, 3, ["mid"])["results"] == []
    assert "skip mid" in capsys.readouterr().out
    assert len(stvsr.run(str(tmp_path), 2, 8, ["mid"])["results"]) == 1


def test_compare_models_runs_each_on_the_first_seconds(tmp_path, small_video):
    """Two models, the same first second of a 12-frame 25 fps clip, x2 space and time: two videos of the same size
    and frame count, timings, and their in-between frames (which differ between the two interpolators)."""
    from models import registry
    from models.pipelines.video_sr import compare_models

    runs = compare_models([("lanczos+dis", registry.get("lanczos+dis")), ("bicubic+dis", registry.get("bicubic+dis"))],
                          str(small_video), [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")], scale=2.0,
                          time_factor=2.0, seconds=0.2)
    assert [r.model_id for r in runs] == ["lanczos+dis", "bicubic+dis"]
    for r in runs:
        assert r.report.in_frames == 5 and r.report.out_size == (128, 96) and r.seconds > 0
        assert r.frame.shape == (96, 128, 3) and r.out_path.endswith(("a.mp4", "b.mp4"))
    assert runs[0].report.out_frames == runs[1].report.out_frames
    assert not np.array_equal(runs[0].frame, runs[1].frame)
    with pytest.raises(ValueError, match="at least two"):
        compare_models([("lanczos+dis", registry.get("lanczos+dis"))], str(small_video), ["x.mp4"], 2.0)
    with pytest.raises(ValueError, match="between 0 and 60"):
        compare_models([("a", None), ("b", None)], str(small_video), ["x.mp4", "y.mp4"], 2.0, seconds=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "small.mp4"]


def test_every_available_video_model_has_a_time_estimate():
    """The Video SR and Interpolation tabs show an estimate (and size ZeroGPU calls) for every model they offer."""
    from models.pipelines.estimate import estimate_interpolation, estimate_video_sr

    for model_id in registry.ids("vfi", available_only=True):
        est = estimate_interpolation(model_id, 31, (640, 360), 2.0)
        assert est is not None and est["out_frames"] == 61 and est["cpu_seconds"] > 0, model_id
    for model_id in registry.ids("stvsr", available_only=True):
        est = estimate_video_sr(model_id, 31, (640, 360), 2.0, 0, 2.0)
        assert est is not None and est["out_size"] == (1280, 720) and est["cpu_seconds"] > 0, model_id
    assert estimate_interpolation("no_such_model", 31, (640, 360), 2.0) is None
