"""Issue 33, video side, on real files: output codec/CRF/bit depth as the written file says, HDR input reported and
kept or tone-mapped, PNG-zip round trips, duplicate frames dropped and re-timed, loops and frame-rate reduction."""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from models import registry, video_io
from models.pipelines.dedup import DedupStats, dedup_frames, frame_difference
from models.pipelines.interpolate import interpolate_video
from models.pipelines.video_sr import upscale_video

FFMPEG = shutil.which("ffmpeg")


def write_frames(path, frames, fps, codec="h264", crf=18):
    with video_io.open_writer(path, fps, codec=codec, crf=crf) as w:
        for f in frames:
            w.write(f)
    return Path(path)


def texture(h=48, w=64, seed=0, cell=4):
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // cell, w // cell, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def square_frame(x, h=48, w=96, noise=0.0, rng=None):
    """A bright 12x12 square at column x on a dark background (its centroid moves with x)."""
    img = np.full((h, w, 3), 30, np.float32)
    img[18:30, x:x + 12] = 220
    if noise:
        img += rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)


def centroid(img):
    """Column centroid of the square's rows above the background level: linear in a blend's t (zero-mean noise
    is not clipped, so averaging noisy frames does not move it)."""
    g = img[18:30, :, 0].astype(np.float64) - 30
    return float((g.sum(0) * np.arange(g.shape[1])).sum() / g.sum())


def stream_info(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.name, s.codec_context.pix_fmt, c.format.name


# ------------------------------------------------------------------------------------------------ output settings
@pytest.mark.parametrize("codec,bit_depth,crf", [("h264", 8, 28), ("h265", 10, 30), ("vp9", 8, 40), ("ffv1", 8, 0),
                                                 ("h264", 10, 22)])
def test_codec_crf_and_bit_depth_are_what_the_file_says(tmp_path, codec, bit_depth, crf):
    if not video_io.codec_available(codec, bit_depth):
        pytest.skip(f"{codec} {bit_depth}-bit not in this PyAV build")
    from tests.video_factory import make_test_video

    src = make_test_video(tmp_path / "in.mp4", n_frames=6, size=(48, 64), fps=10, audio=True)
    dst = tmp_path / f"out{video_io.output_suffix(codec)}"
    report = interpolate_video(registry.get("blend"), str(src), str(dst), factor=2, codec=codec, crf=crf,
                               bit_depth=bit_depth)
    name, pix_fmt, container = stream_info(dst)
    assert name == {"h264": "h264", "h265": "hevc", "vp9": "vp9", "ffv1": "ffv1"}[codec]
    assert pix_fmt == video_io.CODECS[codec].pix_fmt[bit_depth]
    assert container.split(",")[0] in {"mov", "matroska"}  # mp4 probes as "mov,mp4,...", webm as "matroska,webm"
    assert f"{bit_depth}-bit" in report.output and video_io.CODECS[codec].label in report.output
    if codec in ("h264", "h265"):  # x264/x265 write their settings into the stream: the CRF is there
        assert f"crf={crf}.0".encode() in dst.read_bytes()
        assert f"CRF {crf}" in report.output
    info = video_io.probe(dst)
    assert info.frame_count == 11 and info.has_audio  # audio: copied (mp4/mkv) or Opus (webm)
    assert report.audio == ("opus" if codec == "vp9" else "copy")


def test_default_output_is_unchanged_h264_crf18(tmp_path):
    from tests.video_factory import make_test_video

    src = make_test_video(tmp_path / "in.mp4", n_frames=5, fps=10, audio=False)
    report = interpolate_video(registry.get("blend"), str(src), str(tmp_path / "o.mp4"), factor=2)
    assert stream_info(tmp_path / "o.mp4")[:2] == ("h264", "yuv420p")
    assert b"crf=18.0" in (tmp_path / "o.mp4").read_bytes() and b"preset" not in b""
    assert report.output.startswith("H.264 (libx264) CRF 18, preset fast, 8-bit yuv420p in mp4")
    assert report.dedup.startswith("duplicates: no duplicate frames found") and report.duplicates == 0


def test_ffv1_is_lossless_and_bad_settings_are_refused(tmp_path):
    frames = [texture(seed=i) for i in range(4)]
    path = write_frames(tmp_path / "x.mkv", frames, 10, codec="ffv1")
    assert all(np.array_equal(a, b) for a, b in zip(frames, video_io.read_frames(path)))
    with pytest.raises(video_io.VideoError, match="crf must be in 0..51"):
        video_io.VideoWriter(tmp_path / "y.mp4", 10, crf=60)
    with pytest.raises(video_io.VideoError, match="Unknown output codec"):
        video_io.VideoWriter(tmp_path / "y.mp4", 10, codec="av2")
    with pytest.raises(video_io.VideoError, match="bit depth must be 8 or 10"):
        video_io.VideoWriter(tmp_path / "y.mp4", 10, bit_depth=12)
    with pytest.raises(ValueError, match="preset must be one of"):
        interpolate_video(registry.get("blend"), str(path), str(tmp_path / "z.mp4"), factor=2, preset="quick")


# ------------------------------------------------------------------------------------------------ PNG sequences
def test_png_zip_round_trip_is_frame_exact(tmp_path):
    frames = [texture(seed=i) for i in range(5)]
    zpath = write_frames(tmp_path / "seq.zip", frames, 12, codec="png-zip")
    with zipfile.ZipFile(zpath) as zf:
        assert sorted(zf.namelist())[:2] == ["frame_000000.png", "frame_000001.png"]
        assert json.loads(zf.read("frameforge.json"))["fps"] == 12
    info = video_io.probe(zpath, fps=24)  # the user's rate wins over the one stored
    assert (info.frame_count, info.fps, info.width, info.height, info.sequence) == (5, 24, 64, 48, True)
    back = list(video_io.iter_frames(zpath, fps=24))
    assert all(np.array_equal(a, f.image) for a, f in zip(frames, back)) and len(back) == 5
    assert [f.time for f in back] == [i / 24 for i in range(5)]
    # through the pipeline: x1 (dedup off at the same rate) copies every frame; PNG zip out is exact
    out = tmp_path / "out.zip"
    report = interpolate_video(registry.get("rife" if registry.spec("rife").available() else "blend"), str(zpath),
                               str(out), factor=1, codec="png-zip", input_fps=12)
    again = [f.image for f in video_io.iter_frames(out)]  # rate from frameforge.json
    assert len(again) == 5 and all(np.array_equal(a, b) for a, b in zip(frames, again))
    assert report.audio == "none" and "PNG frames in a zip" in report.output
    # a folder of PNGs is a sequence too
    folder = tmp_path / "folder"
    write_frames(folder, frames, 12, codec="png-zip")
    assert all(np.array_equal(a, f.image) for a, f in zip(frames, video_io.iter_frames(folder, fps=12)))


def test_png_sequence_errors(tmp_path):
    zpath = write_frames(tmp_path / "seq.zip", [texture(), texture(seed=1)], 10, codec="png-zip")
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(zpath) as zin, zipfile.ZipFile(bare, "w") as zout:
        for n in zin.namelist():
            if n.endswith(".png"):
                zout.writestr(n, zin.read(n))
    with pytest.raises(video_io.VideoError, match="give its frame rate"):
        video_io.probe(bare)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("readme.txt", "no frames")
    with pytest.raises(video_io.VideoError, match="contains no PNG frames"):
        video_io.probe(tmp_path / "empty.zip", fps=10)
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(video_io.VideoError, match="not a readable zip"):
        video_io.probe(tmp_path / "junk.zip", fps=10)


# ------------------------------------------------------------------------------------------------ HDR
@pytest.fixture(scope="module")
def hdr_clip(tmp_path_factory):
    """SDR frames (a texture that moves, greys and moderate colours) turned into 10-bit HEVC PQ/BT.2020 by ffmpeg's
    zscale (SDR white = 100 cd/m2), with the colour metadata set; returns (hdr path, the SDR frames)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg not installed")
    folder = tmp_path_factory.mktemp("hdr")
    base = (texture(96, 128, seed=3, cell=16).astype(np.float32) * 0.6 + 60).astype(np.uint8)  # smooth: 4:2:0 keeps it
    frames = [np.roll(base, 3 * i, axis=1) for i in range(6)]
    sdr = write_frames(folder / "sdr.mkv", frames, 10, codec="ffv1")
    hdr = folder / "hdr.mp4"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(sdr), "-vf",
                    "zscale=transfer=smpte2084:primaries=bt2020:matrix=bt2020nc:transferin=bt709:primariesin=bt709:"
                    "matrixin=bt709:npl=100,format=yuv420p10le", "-c:v", "libx265", "-crf", "8",
                    "-x265-params", "log-level=error", "-color_primaries", "bt2020", "-color_trc", "smpte2084",
                    "-colorspace", "bt2020nc", str(hdr)], check=True)
    return hdr, frames


def test_hdr_is_detected_and_kept_with_its_metadata(hdr_clip, tmp_path):
    hdr, _ = hdr_clip
    info = video_io.probe(hdr)
    assert (info.hdr, info.color_primaries, info.color_transfer, info.bit_depth) == ("pq", "bt2020", "smpte2084", 10)
    out = tmp_path / "kept.mp4"
    report = interpolate_video(registry.get("blend"), str(hdr), str(out), factor=2)  # hdr="keep" is the default
    kept = video_io.probe(out)
    assert (kept.hdr, kept.color_primaries, kept.color_space, kept.bit_depth) == ("pq", "bt2020", "bt2020nc", 10)
    assert "HDR input (PQ/bt2020, 10-bit) kept" in report.hdr and "raised from 8-bit" in report.hdr
    assert "HDR PQ/BT.2020 tagged" in report.output
    # the PQ-coded values go through: the kept result decodes like the source (no washed-out re-encoding)
    src = [f.image.astype(int) for f in video_io.iter_frames(hdr)]
    made = [f.image.astype(int) for f in video_io.iter_frames(out)]
    assert np.abs(src[2] - made[4]).mean() < 2.0


def test_hdr_tone_mapped_to_sdr_on_request(hdr_clip, tmp_path):
    hdr, sdr_frames = hdr_clip
    out = tmp_path / "sdr.mp4"
    report = upscale_video(registry.get("lanczos+dis"), str(hdr), str(out), 1.0, time_factor=1, hdr="tonemap")
    info = video_io.probe(out)
    assert info.hdr is None and info.bit_depth == 8
    assert "tone-mapped to SDR BT.709" in report.hdr
    made = [f.image.astype(int) for f in video_io.iter_frames(out)]
    raw = [f.image.astype(int) for f in video_io.iter_frames(hdr)]  # PQ values shown as if SDR: the washed look
    err_mapped = np.mean([np.abs(a - b).mean() for a, b in zip(sdr_frames, made)])
    err_raw = np.mean([np.abs(a - b).mean() for a, b in zip(sdr_frames, raw)])
    assert err_mapped < 6 and err_raw > 4 * err_mapped, (err_mapped, err_raw)


def test_tone_curve_known_answers():
    pq_100 = 0.5080784  # ST 2084 signal of 100 cd/m2
    assert abs(float(video_io.pq_to_nits(np.array(pq_100))) - 100.0) < 0.1
    assert abs(float(video_io.pq_to_nits(np.array(1.0))) - 10000.0) < 1e-3
    grey = np.full((1, 1, 3), round(pq_100 * 65535), np.uint16)  # reference white -> SDR white
    assert video_io.tone_map_to_sdr(grey, "pq")[0, 0].tolist() == [255, 255, 255] or \
        video_io.tone_map_to_sdr(grey, "pq")[0, 0].min() >= 240
    bright = np.full((1, 1, 3), 65535, np.uint16)  # 10000 cd/m2: rolled off, not wrapped
    assert video_io.tone_map_to_sdr(bright, "pq")[0, 0].min() == 255
    hlg_white = np.full((1, 1, 3), round(0.75 * 65535), np.uint16)  # HLG 75 % = reference white (BT.2408)
    assert video_io.tone_map_to_sdr(hlg_white, "hlg")[0, 0].min() >= 235


# ------------------------------------------------------------------------------------------------ duplicates
def test_frame_difference_ignores_noise_but_not_motion():
    rng = np.random.default_rng(1)
    a = square_frame(20, noise=3, rng=rng)
    b = square_frame(20, noise=3, rng=rng)
    c = square_frame(22, noise=3, rng=rng)
    assert frame_difference(a, b) < 2.0 < frame_difference(a, c)


@pytest.fixture
def twos_clip(tmp_path):
    """An H.264 clip of a square moving 6 px per drawing, each drawing shown twice (animation on twos), with
    independent noise in every frame: 7 drawings, 14 frames at 10 fps."""
    rng = np.random.default_rng(0)
    frames = [square_frame(6 * (i // 2) + 6, noise=2.0, rng=rng) for i in range(14)]
    return write_frames(tmp_path / "twos.mp4", frames, 10, crf=20)


def test_duplicates_dropped_and_motion_even(twos_clip, tmp_path):
    out = tmp_path / "even.mkv"
    report = interpolate_video(registry.get("blend"), str(twos_clip), str(out), factor=2, codec="ffv1")
    assert report.duplicates == 7 and "7 duplicate frame(s) of 14 dropped" in report.dedup
    frames = video_io.read_frames(out)
    assert len(frames) == 27  # the duration is kept: (14 - 1) x 2 + 1
    xs = np.array([centroid(f) for f in frames])
    steps = np.diff(xs)
    assert steps.min() > 0.5  # no repeated picture anywhere: every output frame moves
    # even inside: a drawing every 2 source frames = 4 output frames -> 1.5 px per output frame; the first and the
    # last transition start/end at the clip's ends (2.5 source frames instead of 2), so they step 1.2 px
    assert np.allclose(steps[5:-5], 1.5, atol=0.15), steps
    assert np.allclose(steps, steps.mean(), atol=0.35), steps
    # without dedup the same job stutters: pauses (morphs between equal frames) then double steps
    plain = interpolate_video(registry.get("blend"), str(twos_clip), str(tmp_path / "plain.mkv"), factor=2,
                              codec="ffv1", dedup="off")
    xs_plain = np.array([centroid(f) for f in video_io.read_frames(tmp_path / "plain.mkv")])
    assert plain.duplicates == 0 and np.diff(xs_plain).min() < 0.3 and np.diff(xs_plain).max() > 2.5


def test_dedup_is_off_by_default_where_no_frame_is_made(twos_clip, tmp_path):
    report = interpolate_video(registry.get("blend"), str(twos_clip), str(tmp_path / "x1.mp4"), factor=1)
    assert report.duplicates == 0 and report.dedup == "duplicate detection off" and report.out_frames == 14
    report = interpolate_video(registry.get("blend"), str(twos_clip), str(tmp_path / "down.mp4"), fps=5)
    assert report.dedup == "duplicate detection off"


def test_long_stills_stay_still():
    frames = [video_io.Frame(square_frame(x), i / 10, i) for i, x in enumerate([6, 6, 6, 6, 6, 6, 12, 18])]
    stats = DedupStats()
    out = list(dedup_frames(frames, stats=stats))
    assert [round(f.time, 3) for f in out] == [0.0, 0.5, 0.6, 0.7]  # a 6-frame still: its start and its end
    assert out[1].image is out[0].image and stats.stills == 1 and stats.duplicates == 5
    # a variable-rate recording: the same picture again after a 5 s pause is a pause, not a hold to re-time
    times = [0.0, 0.1, 0.2, 5.2, 5.3]
    xs = [6, 12, 18, 18, 24]
    vfr = [video_io.Frame(square_frame(x), t, i) for i, (x, t) in enumerate(zip(xs, times))]
    out = list(dedup_frames(vfr, fps=10))
    assert [f.time for f in out] == [0.0, 0.1, 0.2, 5.2, 5.3] and out[3].image is out[2].image
    assert [f.time for f in dedup_frames(vfr)] == [0.0, 0.1, 2.7, 5.3]  # without the rate: re-timed to the centre


# ------------------------------------------------------------------------------------------------ loop / reduction
def test_loop_interpolates_the_last_to_first_transition(tmp_path):
    frames = [square_frame(10 + 8 * i) for i in range(6)]
    src = write_frames(tmp_path / "clip.mkv", frames, 10, codec="ffv1")
    out = tmp_path / "loop.mkv"
    report = interpolate_video(registry.get("blend"), str(src), str(out), factor=2, loop=True, codec="ffv1")
    made = video_io.read_frames(out)
    assert report.loop and len(made) == 12  # 6 frames x 2, the first frame not repeated at the end
    halfway = (frames[-1].astype(np.float32) + frames[0]) / 2  # blend's midpoint of last -> first
    assert np.abs(made[-1].astype(np.float32) - halfway).max() <= 1
    assert np.array_equal(made[0], frames[0]) and np.array_equal(made[-2], frames[-1])
    plain = interpolate_video(registry.get("blend"), str(src), str(tmp_path / "p.mkv"), factor=2, codec="ffv1")
    assert plain.out_frames == 11 and not plain.loop


def test_frame_rate_reduction_30_to_25(tmp_path):
    frames = [square_frame(2 + 2 * i) for i in range(31)]
    src = write_frames(tmp_path / "30.mkv", frames, 30, codec="ffv1")
    out = tmp_path / "25.mkv"
    report = interpolate_video(registry.get("blend"), str(src), str(out), fps=25, codec="ffv1")
    info = video_io.probe(out)
    assert abs(info.fps - 25) < 1e-6 and info.frame_count == 26 and report.out_frames == 26
    xs = np.diff([centroid(f) for f in video_io.read_frames(out)])
    assert np.allclose(xs, 2 * 30 / 25, atol=0.05)  # each 25 fps frame made at its exact time: even steps


# ------------------------------------------------------------------------------------------------ estimates
def test_estimates_count_only_the_frames_made():
    from models.pipelines import estimate as est

    assert est.frame_counts(31, 30, 60) == (61, 30)
    assert est.frame_counts(31, 30, 30) == (31, 0)  # time factor 1: nothing made
    assert est.frame_counts(31, 30, 25) == (26, 20)  # 30 -> 25: every 6th source frame is an output frame
    assert est.frame_counts(26, 25, 60) == (61, 55)
    same = est.estimate_video_sr("lanczos+rife", 31, (640, 360), 2.0, 0, 1.0, 30)
    double = est.estimate_video_sr("lanczos+rife", 31, (640, 360), 2.0, 0, 2.0, 30)
    assert same["made_frames"] == 0 and same["parts"]["made"] == 0
    # RIFE is charged for the 30 made frames only: at x1 the job is resizing + encoding, far cheaper
    assert double["cpu_seconds"] > 5 * same["cpu_seconds"]
    down = est.estimate_interpolation("rife", 31, (640, 360), 25 / 30)
    assert down["out_frames"] == 26 and down["made_frames"] == 20 and down["cpu_seconds"] > 0


def test_estimate_scaled_by_a_probe_of_the_model_and_time_left():
    from demos.video_options import TimeLeft
    from models.pipelines import estimate as est

    raw = est.estimate_interpolation("blend", 31, (320, 180), 2.0)
    now = est.scaled(raw)
    assert now["cpu_seconds"] > 0 and now["speed"] > 0 and ("blend", 320, 180) in est._probes
    seen = []
    bar = TimeLeft(lambda f, desc=None: seen.append(desc))
    bar.started -= 10  # 10 s spent
    bar(0.25, "frame 3/12")
    assert seen == ["frame 3/12 · about 30 s left"]


def test_hlg_is_detected_kept_and_tone_mapped(hdr_clip, tmp_path):
    _, frames = hdr_clip
    sdr = write_frames(tmp_path / "sdr.mkv", frames, 10, codec="ffv1")
    hlg = tmp_path / "hlg.mp4"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(sdr), "-vf",
                    "zscale=transfer=arib-std-b67:primaries=bt2020:matrix=bt2020nc:transferin=bt709:"
                    "primariesin=bt709:matrixin=bt709,format=yuv420p10le", "-c:v", "libx265", "-crf", "8",
                    "-x265-params", "log-level=error", "-color_primaries", "bt2020", "-color_trc", "arib-std-b67",
                    "-colorspace", "bt2020nc", str(hlg)], check=True)
    assert video_io.probe(hlg).hdr == "hlg"
    kept = interpolate_video(registry.get("blend"), str(hlg), str(tmp_path / "k.mp4"), factor=2)
    assert video_io.probe(tmp_path / "k.mp4").color_transfer == "arib-std-b67" and "HLG/bt2020" in kept.hdr
    mapped = interpolate_video(registry.get("blend"), str(hlg), str(tmp_path / "m.mp4"), factor=2, hdr="tonemap")
    assert "reference white 203 cd/m²" in mapped.hdr and video_io.probe(tmp_path / "m.mp4").hdr is None
    out = [f.image.astype(int) for f in video_io.iter_frames(tmp_path / "m.mp4")]
    assert 20 < np.mean(out[0]) < 235  # a picture, neither black nor blown out
