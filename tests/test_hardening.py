"""Issue 35 at the library boundaries: the image boundary (formats, bomb guard, NaN), the shared type checks, frame
times (all equal, longer than the header, long gaps streamed), the encoder's limits and reproducibility, stream notes,
per-file containment of model folders, the face cap and the temp-folder sweep. The same cases against the running
app are in tests/test_bad_inputs.py, the command line's in tests/test_cli.py."""
from __future__ import annotations

import hashlib
import os
import struct
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def timed_video(path: Path, times_ms: list[int], size=(48, 64), fmt: str = "mp4", rotation: float = 0,
                interlaced: bool = False) -> Path:
    """An H.264 clip whose frames have the given times (ms) and :func:`video_factory.pattern` pictures."""
    from video_factory import pattern

    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = size[1], size[0], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "18", "bf": "0", **({"x264-params": "tff=1"} if interlaced else {})}
        v.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            v.set_display_rotation(rotation)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(pattern(i, *size), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def short_header(src: Path, dst: Path, fraction: float = 0.2 / 25) -> Path:
    """``src`` with its mp4 header durations (mvhd, mdhd) cut to ``fraction`` of the truth; the frames unchanged."""
    data = bytearray(src.read_bytes())
    for box in (b"mvhd", b"mdhd"):
        i = data.find(box)
        while i >= 0:
            assert data[i + 4] == 0  # version 0: 32-bit fields
            duration = struct.unpack(">I", data[i + 20:i + 24])[0]
            data[i + 20:i + 24] = struct.pack(">I", max(1, int(duration * fraction)))
            i = data.find(box, i + 1)
    dst.write_bytes(bytes(data))
    return dst


# ------------------------------------------------------------------------------------------- image boundary --
def test_only_the_documented_formats_are_opened(tmp_path):
    from models.imageio import FORMATS, ImageError, read_image

    assert set(FORMATS) == {"PNG", "JPEG", "WEBP", "BMP", "TIFF"}
    eps = tmp_path / "drawing.png"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(eps, format="EPS")  # an EPS named .png
    assert Image.open(eps).format == "EPS"  # Pillow alone would open it (and call Ghostscript to decode it)
    with pytest.raises(ImageError, match="not an image Pillow can read"):
        read_image(str(eps), "photo")
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("BMP", ".bmp"), ("TIFF", ".tif")):
        Image.new("RGB", (16, 12), (10, 200, 30)).save(tmp_path / f"ok{suffix}", format=fmt)
        assert read_image(str(tmp_path / f"ok{suffix}")).shape == (12, 16, 3)


def test_pillow_bomb_guard_stays_on_at_our_limit(tmp_path, monkeypatch):
    from PIL import Image as PILImage

    from models import settings
    from models.imageio import ImageError, read_image

    monkeypatch.setenv("FRAMEFORGE_MAX_IMAGE_PIXELS", "100x100")
    settings.reload()
    Image.new("RGB", (8, 8)).save(tmp_path / "small.png")
    read_image(str(tmp_path / "small.png"))
    assert PILImage.MAX_IMAGE_PIXELS == 10_000  # not None: any other decode in the process is guarded too
    Image.new("1", (400, 400)).save(tmp_path / "over_twice.png")  # 160,000 px: Pillow's own guard fires at open
    with pytest.raises(ImageError, match=r"400x400 = 160,000 pixels; the limit is 10,000"):
        read_image(str(tmp_path / "over_twice.png"), "image")
    with pytest.raises(PILImage.DecompressionBombError):
        PILImage.open(tmp_path / "over_twice.png").load()


def test_nan_or_inf_in_a_float_tiff_is_refused(tmp_path):
    from models.imageio import ImageError, read_image

    arr = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(arr).save(tmp_path / "fine.tif")
    assert read_image(str(tmp_path / "fine.tif")).max() == 255
    for bad in (np.nan, np.inf):
        arr2 = arr.copy()
        arr2[3, 3] = bad
        Image.fromarray(arr2).save(tmp_path / "bad.tif")
        with pytest.raises(ImageError, match="1 NaN or infinite pixel value"):
            read_image(str(tmp_path / "bad.tif"), "image")


def test_a_data_url_image_is_saved_undecoded(tmp_path, monkeypatch):
    """The image input takes a data: URL's bytes as a file; the header check then refuses a bomb without decoding
    it (peak memory of the whole call stays far below the 400 MP picture)."""
    import base64
    import resource

    from gradio.data_classes import ImageData

    from demos.components import ImageUpload
    from models.imageio import ImageError, read_image

    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png", optimize=True)
    url = "data:image/png;base64," + base64.b64encode((tmp_path / "bomb.png").read_bytes()).decode()
    comp = ImageUpload(type="filepath", label="Photo")
    monkeypatch.setattr(comp, "GRADIO_CACHE", str(tmp_path / "cache"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = comp.preprocess(ImageData(url=url, path=None))
    assert Path(path).read_bytes() == (tmp_path / "bomb.png").read_bytes()
    with pytest.raises(ImageError, match="20000x20000 = 400,000,000 pixels"):
        read_image(path, "photo")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100, grown_mb
    import gradio as gr

    with pytest.raises(gr.Error, match="Photo: the data: URL is not valid base64"):
        comp.preprocess(ImageData(url="data:image/png;base64,@@@not-base64", path=None))


# ------------------------------------------------------------------------------------------------- checks --
def test_shared_checks():
    from models import checks

    assert checks.number("2.5", "Scale", 1, 8) == 2.5 and checks.number(3, "N", 1, 31, integer=True) == 3
    for bad, message in ((True, "must be a number, got True"), (None, "must be a number"),
                         (10 ** 400, "must be a finite number, got a 401-digit integer"),
                         ("nan", "finite"), (float("inf"), "finite"), ("two", "must be a number, got 'two'"),
                         (9, "between 1 and 8, got 9")):
        with pytest.raises(ValueError, match=message):
            checks.number(bad, "Scale", 1, 8)
    assert checks.boolean(True, "x") is True and checks.boolean(False, "x") is False
    assert checks.boolean(None, "x") is False and checks.boolean(1, "x") is True
    for bad in ("false", "no", "true", 2, 0.5, []):
        with pytest.raises(ValueError, match="must be true or false"):
            checks.boolean(bad, "Aligned")


def test_choices_do_not_take_true_as_one():
    import gradio as gr

    from demos.components import Dropdown, checked_choice

    factor = Dropdown([1, 2, 4, 8], value=2, label="Time factor")
    assert checked_choice(factor, "4") == 4 and checked_choice(factor, 2.0) == 2
    with pytest.raises(gr.Error, match="got True"):
        checked_choice(factor, True)


# ------------------------------------------------------------------------------------------------ frame times --
def test_all_equal_frame_times_are_refused(tmp_path):
    from models import video_io

    for fmt in ("mp4", "matroska"):
        clip = timed_video(tmp_path / f"zero.{fmt}", [0] * 10, fmt=fmt)
        with pytest.raises(video_io.VideoError, match=r"All 10 frames of zero\.\w+ have the same time stamp"):
            video_io.probe(clip)


def test_limits_use_the_real_frame_times_not_the_header(tmp_path):
    from models import video_io
    from models.pipelines.interpolate import interpolate_video
    from video_factory import make_test_video

    clip = make_test_video(tmp_path / "long.mp4", n_frames=250, fps=10, audio=False)  # 25 s
    lying = short_header(clip, tmp_path / "lying.mp4")
    with av.open(str(lying)) as c:
        s = c.streams.video[0]
        assert float(s.duration * s.time_base) < 0.3  # the header says 0.2 s
    info = video_io.probe(lying)
    assert abs(info.duration - 25.0) < 0.05
    with pytest.raises(video_io.VideoError, match="25.0 s long; the limit is 20 s"):
        video_io.VideoLimits(max_seconds=20).check_input(info)
    limits = video_io.VideoLimits(max_output_frames=1000)
    with pytest.raises(video_io.VideoError, match="2001 frames; the limit is 1000"):
        interpolate_video(__import__("models.registry", fromlist=["get"]).get("blend"), str(lying),
                          str(tmp_path / "out.mp4"), factor=8, limits=limits)
    assert not (tmp_path / "out.mp4").exists()


def test_the_walk_stops_at_the_output_limit_whatever_the_probe_said(tmp_path):
    from models import video_io
    from models.pipelines.stream import frame_pairs

    clip = timed_video(tmp_path / "gap.mp4", [0, 40, 80, 600000, 600040])  # a 10-minute pause
    started = time.perf_counter()
    with pytest.raises(video_io.VideoError, match="more than 500 frames"):
        for _ in frame_pairs(str(clip), 30.0, max_outputs=500):
            pass
    assert time.perf_counter() - started < 10  # the 18,000 instants of the pause are not walked one by one


def test_a_long_gap_comes_in_bounded_parts_with_the_same_frames(tmp_path):
    from models import registry
    from models.pipelines.interpolate import interpolate_video
    from models.pipelines.stream import GAP_CHUNK, frame_pairs

    clip = timed_video(tmp_path / "gap.mp4", [0, 40, 80, 3080, 3120])  # a 3 s pause
    steps = list(frame_pairs(str(clip), 30.0))
    gap = [s for s in steps if s.index == 2]
    assert len(gap) > 1 and all(len(s.ts) <= GAP_CHUNK for s in steps)
    assert [s.part for s in gap] == list(range(len(gap)))
    whole = [(s.index, t) for s in steps for t in s.ts]
    one = [(s.index, t) for s in frame_pairs(str(clip), 30.0, chunk=10 ** 9) for t in s.ts]
    assert one == whole and len(one) == 94  # the same instants (3.12 s at 30 fps + the end), only in parts
    report = interpolate_video(registry.get("blend"), str(clip), str(tmp_path / "out.mp4"), fps=30)
    assert report.out_frames == 94 and len(report.scene_cuts) <= 1


@pytest.mark.parametrize("model_id", ["blend", "dis_flow", "rife"])
def test_interpolators_make_each_instant_on_its_own(model_id):
    """What lets a gap be split: frames at ts made in parts equal the frames made in one call."""
    import cv2

    from models import registry
    from models.pipelines.timing import interpolate_at

    if model_id not in registry.ids("vfi", available_only=True):
        pytest.skip(f"{model_id} weights not available")
    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8), (0, 0), 2)
    b = np.roll(a, 3, axis=1)
    ts = [i / 21 for i in range(21)]
    model = registry.get(model_id)
    whole, _ = interpolate_at(model, a, b, ts)
    parts = [f for s in range(0, len(ts), 8) for f in interpolate_at(model, a, b, ts[s:s + 8])[0]]
    assert all(np.array_equal(x, y) for x, y in zip(whole, parts))


# ------------------------------------------------------------------------------------------------- encoding --
def test_identical_frames_encode_to_identical_bytes(tmp_path):
    """x264's mb-tree lookahead made a different file for the same frames from run to run (its result depended on
    the process's other work, e.g. decoding between writes); with it off the bytes are identical."""
    import cv2

    from models import video_io
    from video_factory import make_test_video

    src = make_test_video(tmp_path / "src.mp4", n_frames=40, size=(240, 320), fps=10, audio=True)
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3) for _ in range(40)]
    digests = set()
    for k in range(6):
        junk = [np.random.bytes(100_000 * (1 + k)) for _ in range(4)]  # a different heap each time
        with video_io.VideoWriter(tmp_path / f"o{k}.mp4", 20, audio_from=str(src)) as writer:
            decoding = video_io.iter_frames(str(src))
            for f in frames:
                writer.write(f)
                next(decoding, None)
        del junk
        digests.add(hashlib.sha256((tmp_path / f"o{k}.mp4").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_a_result_wider_than_the_encoder_takes_is_refused():
    from models import video_io

    limits = video_io.VideoLimits(max_output_pixels=10 ** 9)
    limits.check_output(10, video_io.MAX_ENCODER_SIDE, 16)
    with pytest.raises(video_io.VideoError, match=r"32000x128 pixels; the video encoder takes at most 16384"):
        limits.check_output(10, 32000, 128)


def test_stream_notes_for_what_is_not_honoured(tmp_path):
    from models import video_io

    plain = video_io.probe(timed_video(tmp_path / "plain.mp4", [0, 40, 80]))
    assert plain.notes == ()
    tilted = video_io.probe(timed_video(tmp_path / "tilted.mp4", [0, 40, 80], rotation=-45))
    assert any("rotated by 45 degrees" in n for n in tilted.notes), tilted.notes
    inter = video_io.probe(timed_video(tmp_path / "inter.mp4", [0, 40, 80], interlaced=True))
    assert any("interlaced" in n for n in inter.notes), inter.notes


def test_dis_needs_8_pixels_and_says_so():
    from models.baselines.dis_flow import dis_flow

    thin = np.zeros((48, 1, 3), np.uint8)
    with pytest.raises(ValueError, match="at least 8x8 pixels; these are 1x48"):
        dis_flow(thin, thin)


# ------------------------------------------------------------------------------------- models folder, faces --
def test_a_file_linked_out_of_the_models_folder_is_refused(tmp_path):
    from models.weights import resolve_folder

    root = tmp_path / "models"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "config.json").write_text("{}")
    assert resolve_folder(str(root / "ok"), [root]) == (root / "ok").resolve()
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(b"x")
    (root / "linked").mkdir()
    (root / "linked" / "config.json").write_text("{}")
    os.symlink(outside, root / "linked" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(ValueError, match="diffusion_pytorch_model.safetensors .*link to a file outside"):
        resolve_folder(str(root / "linked"), [root])
    (root / "inside").mkdir()
    os.symlink(root / "ok" / "config.json", root / "inside" / "config.json")  # a link within the root is fine
    assert resolve_folder(str(root / "inside"), [root]).name == "inside"


def test_faces_per_photo_are_capped(monkeypatch):
    from models import registry, settings
    from models.imageio import read_image
    from models.pipelines.face_photo import restore_photo

    photo = read_image(str(ROOT / "examples" / "faces" / "astronaut_pair.jpg"))
    restorer = registry.get("face_bicubic")
    assert len(restore_photo(photo, restorer, upscale=1).faces) == 2
    with pytest.raises(ValueError, match="the photo has 2 faces to restore; the limit is 1 per photo"):
        restore_photo(photo, restorer, upscale=1, max_faces=1)
    monkeypatch.setenv("FRAMEFORGE_MAX_FACES", "1")
    settings.reload()
    with pytest.raises(ValueError, match="FRAMEFORGE_MAX_FACES"):
        restore_photo(photo, restorer, upscale=1)


# ------------------------------------------------------------------------------------------- temp folder --
def test_sweep_removes_old_files_but_keeps_the_examples(tmp_path):
    from demos.common import sweep_folder

    temp = tmp_path / "gradio"
    (temp / "abc123").mkdir(parents=True)
    (temp / "cached_examples").mkdir()
    old, fresh, example = temp / "tmpaborted", temp / "abc123" / "fresh.png", temp / "cached_examples" / "e.png"
    for p in (old, fresh, example):
        p.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(example, (past, past))
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.utime(outside, (past, past))
    os.symlink(outside, temp / "link")
    os.utime(temp / "link", (past, past), follow_symlinks=False)
    assert sweep_folder(temp, 3600, keep=(temp / "cached_examples",)) == 2  # the aborted upload and the link
    assert not old.exists() and fresh.exists() and example.exists() and outside.exists()


def test_svs_layers_that_are_not_names():
    from models.pipelines.svs_spectrum import _parse_layers
    from models.svs.generators import tiny_unet

    model = tiny_unet()
    with pytest.raises(ValueError, match="layers must be layer names .* got 42"):
        _parse_layers(model, 42)
    with pytest.raises(ValueError, match="no layer name in ',,,'"):
        _parse_layers(model, ",,,")
