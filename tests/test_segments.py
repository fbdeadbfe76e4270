"""Segmented video jobs (models/pipelines/segments.py): the plan, segmented = one-piece frame for frame with the
audio in sync, and the ZeroGPU handlers' segment calls (durations, retry, no partial file), all on the CPU."""
from __future__ import annotations

import importlib
import math
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

from models import registry, video_io
from models.pipelines import segments as S
from models.pipelines.interpolate import interpolate_video
from models.pipelines.video_sr import upscale_video
from segment_clips import make_shots_video

try:  # the tabs' output settings at their defaults (what a ZeroGPU job in segments takes)
    from demos.video_options import DEFAULTS as DEFAULT_OPTIONS
except ImportError:
    DEFAULT_OPTIONS = {}


@pytest.fixture
def written(monkeypatch):
    """Every frame handed to a VideoWriter, per output path (what the encoder gets, before any lossy coding)."""
    frames = defaultdict(list)
    original = video_io.VideoWriter.write

    def write(self, image):
        frames[Path(self.path).name].append(np.array(image, copy=True))
        return original(self, image)

    monkeypatch.setattr(video_io.VideoWriter, "write", write)
    return frames


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def stream_seconds(path) -> tuple[float, float]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return float(v.duration * v.time_base), float(a.duration * a.time_base)


# ---------------------------------------------------------------------------------------------------- plan --
def covered(plan: S.Plan) -> list[int]:
    return [i for s in plan.segments for i in range(s.first, s.stop)]


def test_plan_pair_model_prefers_cuts_then_key_frames_and_fits_the_budget():
    times = [i / 30 for i in range(100)]
    plan = S.plan_segments(times, cuts=[37], keys=[0, 20, 60, 80], frame_seconds=1.0, max_seconds=30.0,
                           gpu_duration=lambda s: int(10 + 1.5 * s))
    assert covered(plan) == list(range(100))  # every source frame owned once, in order
    kinds = [(s.first, s.starts_at) for s in plan.segments]
    assert kinds[:3] == [(0, "start"), (20, "key"), (37, "cut")]  # 37 is a cut inside the 2nd segment's window
    for s in plan.segments:
        assert s.exact and s.feed_first == s.first
        assert s.feed_stop == min(100, s.stop + 1)  # the next frame (RIFE's pair) and no more
        assert s.seconds <= 30.0 and s.gpu_duration == int(10 + 1.5 * s.seconds)
    assert plan.segments[-1].stop == 100 and plan.segments[-1].last


def test_plan_recurrent_model_keeps_the_chunk_grid_and_says_which_segments_are_exact():
    rec = S.Recurrence(chunk=15, lookahead=6, warmup=30)
    times = [i / 25 for i in range(200)]
    plan = S.plan_segments(times, cuts=[50], keys=(), frame_seconds=1.0, max_seconds=90.0, rec=rec)
    assert covered(plan) == list(range(200))
    for s in plan.segments[1:]:
        reset = 50 if s.first >= 50 else 0
        assert s.first == 50 or (s.first - reset) % 15 == 0, s  # on BasicVSR's chunk grid (restarting at a cut)
        assert s.feed_first >= reset and (s.first - s.feed_first) % 15 == 0 and s.first - s.feed_first <= 30
        assert s.exact == (s.first == 50 or s.feed_first == reset)
        next_cut = 50 if s.stop < 50 else 200
        assert s.feed_stop == min(200, s.stop + 21, next_cut if s.stop < next_cut else 200)
        assert s.seconds <= 90.0
    assert any(s.first == 50 and s.starts_at == "cut" for s in plan.segments)
    assert any(not s.exact for s in plan.segments)  # long shots need warm-up: stated, not hidden


def test_plan_rejects_bad_costs_and_single_frames():
    with pytest.raises(ValueError, match="two frames"):
        S.plan_segments([0.0], frame_seconds=1.0)
    with pytest.raises(ValueError, match="positive"):
        S.plan_segments([0.0, 0.1], frame_seconds=0.0)


# ------------------------------------------------------------------------------- segmented == one piece --
@pytest.mark.parametrize("model_id", ["lanczos+rife", pytest.param("basicvsr+rife", marks=pytest.mark.slow)])
def test_three_segments_equal_the_one_piece_job(tmp_path, written, model_id, one_thread):
    src = make_shots_video(tmp_path / "shots.mp4", shots=3, per_shot=4)
    model = registry.get(model_id)
    one = upscale_video(model, str(src), str(tmp_path / "one.mp4"), 2.0, time_factor=2)
    report, plan, result = S.upscale_video_in_segments(model, str(src), str(tmp_path / "seg.mp4"), 2.0,
                                                       time_factor=2, frame_seconds=1.0, max_seconds=7.0)
    assert [(s.first, s.starts_at) for s in plan.segments] == [(0, "start"), (4, "cut"), (8, "cut")]
    assert all(s.exact for s in plan.segments)
    a, b = written["one.mp4"], written["seg.mp4"]
    assert len(a) == len(b) == one.out_frames == report.out_frames == 23
    for k, (x, y) in enumerate(zip(a, b)):
        assert np.array_equal(x, y), f"output frame {k} differs"
    assert report.scene_cuts == one.scene_cuts and len(report.scene_cuts) == 2
    # same frames into the same encoder: the decoded results are equal too, and the audio is the source's, once
    assert all(np.array_equal(x, y) for x, y in zip(video_io.read_frames(tmp_path / "one.mp4"),
                                                    video_io.read_frames(tmp_path / "seg.mp4")))
    assert result.audio == "copy" and audio_packets(tmp_path / "seg.mp4") == audio_packets(tmp_path / "one.mp4")
    v, au = stream_seconds(tmp_path / "seg.mp4")
    assert v == pytest.approx(23 / 20) and abs(au - v) < 0.06  # audio ends with the video (one AAC packet)


def test_interpolation_in_segments_equals_one_piece_at_key_frames_and_splits(tmp_path, written):
    src = make_shots_video(tmp_path / "one_shot.mp4", shots=1, per_shot=14)
    model = registry.get("rife")
    one = interpolate_video(model, str(src), str(tmp_path / "one.mp4"), factor=3)
    report, plan, _ = S.interpolate_video_in_segments(model, str(src), str(tmp_path / "seg.mp4"), factor=3,
                                                      frame_seconds=1.0, max_seconds=5.0)
    assert len(plan.segments) >= 3 and all(s.starts_at in ("start", "split", "key") for s in plan.segments)
    a, b = written["one.mp4"], written["seg.mp4"]
    assert len(a) == len(b) == one.out_frames == report.out_frames == 3 * 13 + 1
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------ run_plan --
def test_a_failed_segment_is_retried_once_then_the_job_stops_without_files(tmp_path):
    src = make_shots_video(tmp_path / "shots.mp4", shots=3, per_shot=4)
    model = registry.get("lanczos+rife")
    calls = []

    def flaky(fail_times):
        def call(job, seg, origin, part):
            calls.append(seg.index)
            if seg.index == 1 and calls.count(1) <= fail_times:
                Path(part).write_bytes(b"half a segment")  # a partial part file, as a crash would leave
                raise RuntimeError("GPU task aborted")
            return S.run_segment_to_part(model, job, seg, origin, part)
        return call

    report, plan, result = S.upscale_video_in_segments(model, str(src), str(tmp_path / "ok.mp4"), 2.0,
                                                       max_seconds=7.0, call=flaky(1))
    assert calls == [0, 1, 1, 2] and result.retries == 1 and report.out_frames == 12
    calls.clear()
    with pytest.raises(S.SegmentFailed, match=r"segment 2/3 .* failed 2 time\(s\): RuntimeError: GPU task aborted"):
        S.upscale_video_in_segments(model, str(src), str(tmp_path / "bad.mp4"), 2.0, max_seconds=7.0,
                                    call=flaky(2))
    assert calls == [0, 1, 1] and not (tmp_path / "bad.mp4").exists()
    assert not list(Path(S.tempfile.gettempdir()).glob("frameforge_parts_*/segment_*"))


def test_a_check_between_segments_stops_the_job(tmp_path):
    src = make_shots_video(tmp_path / "shots.mp4", shots=3, per_shot=4)
    seen = []

    class Stopped(Exception):
        pass

    def check():
        if len(seen) == 3:  # the planning tick and two segments done: stop before the third
            raise Stopped("cancelled")

    with pytest.raises(Stopped):
        S.upscale_video_in_segments(registry.get("lanczos+rife"), str(src), str(tmp_path / "x.mp4"), 2.0,
                                    max_seconds=7.0, check=check, progress=lambda f, d: seen.append(f),
                                    no_retry=(Stopped,))
    assert seen == pytest.approx([0.0, 5 / 14, 10 / 14]) and not (tmp_path / "x.mp4").exists()


# --------------------------------------------------------------------------------------------- ZeroGPU --
@pytest.fixture
def zero_gpu(monkeypatch):
    """``spaces`` in ZeroGPU mode (recording each decorated call's requested duration), demos reloaded."""
    from models import device

    requested = defaultdict(list)

    class FakeSpaces:
        @staticmethod
        def GPU(duration):  # noqa: N802 (the spaces API)
            def wrap(fn):
                def run(*a, **k):
                    requested[fn.__name__].append(duration(*a, **k))
                    return fn(*a, **k)

                return run

            return wrap

    monkeypatch.setattr(device, "_spaces", FakeSpaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    import demos.common
    import demos.interpolation
    import demos.video_sr

    for mod in (demos.video_sr, demos.interpolation):
        importlib.reload(mod)
    yield requested
    monkeypatch.undo()
    for mod in (demos.video_sr, demos.interpolation):
        importlib.reload(mod)


def test_zerogpu_video_sr_runs_one_gpu_call_per_segment_under_the_cap(tmp_path, zero_gpu, written, monkeypatch):
    import demos.common
    import demos.video_sr as tab

    src = str(make_shots_video(tmp_path / "shots.mp4", shots=3, per_shot=4))
    est = tab._job(src, 2.0, 0, 2, "lanczos+rife")
    monkeypatch.setattr(demos.common, "SEGMENT_GPU_SECONDS", est["gpu_seconds"] / 12 * 5)  # 5 frames a call
    model = registry.get("lanczos+rife")
    report = tab.upscale("lanczos+rife", model, src, str(tmp_path / "zero.mp4"), 2.0, 0, 2, **DEFAULT_OPTIONS)
    assert len(zero_gpu["video_sr_segment"]) == 3  # the three shots, one call each
    assert all(20 <= d <= 300 for d in zero_gpu["video_sr_segment"])
    one = upscale_video(model, src, str(tmp_path / "one.mp4"), 2.0, time_factor=2)
    assert report.out_frames == one.out_frames and report.audio == "copy"
    assert all(np.array_equal(x, y) for x, y in zip(written["zero.mp4"], written["one.mp4"]))
    assert report.before is not None and report.after.shape == (96, 128, 3)


def test_zerogpu_interpolation_of_a_long_job_asks_for_bounded_calls(tmp_path, zero_gpu, monkeypatch):
    import demos.common
    import demos.interpolation as tab

    src = str(make_shots_video(tmp_path / "long.mp4", shots=1, per_shot=20, audio=False))
    est = tab._video_estimate(src, "factor", 2, 0, "rife")
    monkeypatch.setattr(demos.common, "SEGMENT_GPU_SECONDS", est["gpu_seconds"] / 20 * 6)
    report = tab.interpolate("rife", registry.get("rife"), src, str(tmp_path / "x2.mp4"), "factor", 2, 0,
                           **DEFAULT_OPTIONS)
    calls = zero_gpu["interpolate_video_segment"]
    assert len(calls) >= 4 and report.out_frames == 39 and video_io.probe(tmp_path / "x2.mp4").frame_count == 39


@pytest.mark.slow  # two segmented jobs
@pytest.mark.parametrize("vfr, rotation", [(True, 0), (False, 90)])
def test_segments_keep_variable_frame_timing_and_rotation(tmp_path, written, vfr, rotation):
    """Irregular frame times (the whole video's output grid continues across boundaries) and a rotated stream."""
    from video_factory import make_test_video

    src = make_test_video(tmp_path / "v.mp4", n_frames=30, size=(48, 64), fps=25, vfr=vfr, rotation=rotation)
    model = registry.get("rife")
    one = interpolate_video(model, str(src), str(tmp_path / "one.mp4"), fps=50)
    report, plan, _ = S.interpolate_video_in_segments(model, str(src), str(tmp_path / "seg.mp4"), fps=50,
                                                      frame_seconds=1.0, max_seconds=8.0)
    assert len(plan.segments) == 5
    a, b = written["one.mp4"], written["seg.mp4"]
    assert len(a) == len(b) == one.out_frames == report.out_frames and a[0].shape == b[0].shape
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
