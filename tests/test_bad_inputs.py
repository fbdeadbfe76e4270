"""Bad inputs, limits, paths, concurrency and cancellation, against the real app through gradio_client.

The server runs with small limits (FRAMEFORGE_MAX_* below), its output folder outside the system temp folder and a
models folder for the Compression tab. Every bad input must come back as a message that names the parameter and the
problem; files are made here, in the test."""
from __future__ import annotations

import shutil
import threading
import time
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # starts the app server (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
LIMITS = dict(FRAMEFORGE_MAX_SECONDS="30", FRAMEFORGE_MAX_PIXELS="320x240", FRAMEFORGE_MAX_OUTPUT_FRAMES="1000",
              FRAMEFORGE_MAX_OUTPUT_PIXELS="640x480")


def _video(path: Path, n: int, size=(48, 64), fps: float = 10, faststart: bool = False, seed: int = 0) -> Path:
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0] // 8 + 2, size[1] // 8 + 2, 3), dtype=np.uint8)
    tex = np.asarray(Image.fromarray(base).resize((size[1] + 8 * n, size[0]), Image.BICUBIC))
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"} if faststart else {}) as out:
        v = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        v.width, v.height, v.pix_fmt = size[1], size[0], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(n):
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(tex[:, 2 * i:2 * i + size[1]]), format="rgb24")
            fr.pts, fr.time_base = i, 1 / v.codec_context.framerate
            out.mux(v.encode(fr))
        out.mux(v.encode(None))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import av

    d = tmp_path_factory.mktemp("bad")
    f = {}
    f["clip"] = _video(d / "clip.mp4", 8)
    f["mid"] = _video(d / "mid.mp4", 4, size=(72, 96))
    f["one_frame"] = _video(d / "one_frame.mp4", 1)
    f["long"] = _video(d / "long.mp4", 400, fps=10)  # 40 s > FRAMEFORGE_MAX_SECONDS
    f["big"] = _video(d / "big.mp4", 3, size=(256, 384))  # 98,304 px > 320x240
    f["work"] = _video(d / "work.mp4", 240, size=(240, 320), fps=10)  # 24 s at the pixel limit: a long job
    good = _video(d / "faststart.mp4", 30, faststart=True)
    data = good.read_bytes()
    (d / "truncated.mp4").write_bytes(data[:int(len(data) * 0.6)])
    f["truncated"] = d / "truncated.mp4"
    (d / "empty.mp4").write_bytes(b"")
    f["empty_video"] = d / "empty.mp4"
    (d / "notes.mp4").write_text("not a video at all\n")
    f["text_video"] = d / "notes.mp4"
    with av.open(str(d / "audio.m4a"), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=22050)
        s.layout = "mono"
        fr = av.AudioFrame.from_ndarray(np.zeros((1, 22050), np.float32), format="fltp", layout="mono")
        fr.sample_rate, fr.pts = 22050, 0
        out.mux(s.encode(fr))
        out.mux(s.encode(None))
    f["audio_only"] = d / "audio.m4a"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(d / "still.mp4", format="PNG")
    f["still_as_video"] = d / "still.mp4"
    # images
    rng = np.random.default_rng(0)
    tex = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)).resize((80, 64), Image.BICUBIC))
    Image.fromarray(tex[:, :64]).save(d / "a.png")
    Image.fromarray(tex[:, 8:72]).save(d / "b.png")
    f["a"], f["b"] = d / "a.png", d / "b.png"
    (d / "empty.png").write_bytes(b"")
    f["empty_png"] = d / "empty.png"
    (d / "text.png").write_text("hello")
    f["text_png"] = d / "text.png"
    png = (d / "a.png").read_bytes()
    (d / "cut.png").write_bytes(png[:len(png) // 2])
    f["truncated_png"] = d / "cut.png"
    Image.new("1", (20000, 20000)).save(d / "bomb.png", optimize=True)  # a few kB that decode to 400 MP
    f["bomb"] = d / "bomb.png"
    Image.new("L", (11000, 11000), 0).save(d / "huge.png")
    f["huge"] = d / "huge.png"
    grey16 = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(grey16).save(d / "grey16.png")  # uint16 -> a 16-bit grey PNG
    f["grey16"] = d / "grey16.png"
    Image.fromarray(np.full((4, 4, 3), 100, np.uint8)).save(d / "tiny.png")
    f["tiny"] = d / "tiny.png"
    (d / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"></svg>')
    f["svg"] = d / "drawing.svg"
    Image.fromarray(np.full((128, 128, 3), 128, np.uint8)).save(d / "grey.png")
    f["flat_square"] = d / "grey.png"
    import skimage.data

    Image.fromarray(skimage.data.coffee()).save(d / "coffee.png")  # no face in it
    f["no_face"] = d / "coffee.png"
    f["face"] = ROOT / "examples" / "faces" / "astronaut_256.jpg"
    return f


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    from models.svs.generators import tiny_unet

    tiny_unet().save_pretrained(d / "tiny")
    (d / "linked").mkdir()  # a model folder whose weights file is a link out of FRAMEFORGE_MODELS_DIRS
    outside = d.parent / "outside_weights.safetensors"
    outside.write_bytes((d / "tiny" / "diffusion_pytorch_model.safetensors").read_bytes())
    (d / "linked" / "config.json").write_text((d / "tiny" / "config.json").read_text())
    import os

    os.symlink(outside, d / "linked" / "diffusion_pytorch_model.safetensors")
    return d


@pytest.fixture(scope="module")
def out_dir():
    d = Path.home() / ".cache" / f"frameforge-test-{uuid.uuid4().hex[:8]}"  # outside the system temp folder
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def app(tmp_path_factory, models_dir, out_dir):
    from tests.app_server import running_app

    log = tmp_path_factory.mktemp("log") / "app.log"
    with running_app(log, FRAMEFORGE_OUTPUT_DIR=out_dir, FRAMEFORGE_MODELS_DIRS=models_dir, FRAMEFORGE_MAX_FACES=1,
                     **LIMITS) as url:
        yield url, log


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[0], verbose=False)


def up(path):
    from gradio_client import handle_file

    return handle_file(str(path))


VIDEO_SR = [  # (case, inputs as (video, scale, target fps, time factor, model), message)
    ("no video", (None, 2, 0, 2, "lanczos+dis"), "Upload a video first"),
    ("empty file", ("empty_video", 2, 0, 2, "lanczos+dis"), r"empty \(0 bytes\)"),
    ("text file", ("text_video", 2, 0, 2, "lanczos+dis"), "not a video file"),
    ("audio only", ("audio_only", 2, 0, 2, "lanczos+dis"), "no video stream"),
    ("still image", ("still_as_video", 2, 0, 2, "lanczos+dis"), "still image"),
    ("one frame", ("one_frame", 2, 0, 2, "lanczos+dis"), "single frame"),
    ("too long", ("long", 2, 0, 2, "lanczos+dis"), r"40\.0 s long; the limit is 30 s"),
    ("too large", ("big", 2, 0, 2, "lanczos+dis"), "98,304 pixels per frame; the limit is 76,800"),
    ("scale text", ("clip", "abc", 0, 2, "lanczos+dis"), "Spatial scale must be a number, got 'abc'"),
    ("scale high", ("clip", 100, 0, 2, "lanczos+dis"), "Spatial scale must be between 1 and 8, got 100"),
    ("scale low", ("clip", 0.5, 0, 2, "lanczos+dis"), "Spatial scale must be between 1 and 8, got 0.5"),
    ("fps negative", ("clip", 2, -5, 2, "lanczos+dis"), "Target fps must be between 0 and 240, got -5"),
    ("fps high", ("clip", 2, 1000, 2, "lanczos+dis"), "Target fps must be between 0 and 240, got 1000"),
    ("fps text", ("clip", 2, "fast", 2, "lanczos+dis"), "Target fps must be a number"),
    ("factor 3", ("clip", 2, 0, 3, "lanczos+dis"), "Time factor must be one of 1, 2, 4, 8; got 3"),
    ("unknown model", ("clip", 2, 0, 2, "nope"), "Model must be one of .*got 'nope'"),
    ("model of another tab", ("clip", 2, 0, 2, "dis_flow"), "Model must be one of .*got 'dis_flow'"),
    ("result too large", ("mid", 8, 0, 1, "lanczos+dis"), r"768x576 = 442,368 pixels per frame; the limit is 307,200"),
    ("too many output frames", ("work", 1.5, 0, 8, "lanczos+dis"), "frames; the limit is 1000"),
]


@pytest.mark.parametrize("case,inputs,message", VIDEO_SR, ids=[c[0] for c in VIDEO_SR])
def test_video_sr_bad_inputs(client, files, case, inputs, message):
    video = inputs[0] and up(files[inputs[0]])
    with pytest.raises(Exception, match=message):
        client.predict(video, *inputs[1:], api_name="/video_sr")


COMPARE = [  # (case, (video, scale, fps, factor, model a, model b, seconds), message)
    ("no video", (None, 2, 0, 2, "lanczos+dis", "bicubic+dis", 1), "Upload a video first"),
    ("text file", ("text_video", 2, 0, 2, "lanczos+dis", "bicubic+dis", 1), "not a video file"),
    ("same model", ("clip", 2, 0, 2, "lanczos+dis", "lanczos+dis", 1), "two different models"),
    ("seconds zero", ("clip", 2, 0, 2, "lanczos+dis", "bicubic+dis", 0), "(?i)seconds"),
    ("seconds high", ("clip", 2, 0, 2, "lanczos+dis", "bicubic+dis", 99), "(?i)seconds"),
    ("unknown model", ("clip", 2, 0, 2, "lanczos+dis", "nope", 1), "must be one of .*got 'nope'"),
    ("scale high", ("clip", 100, 0, 2, "lanczos+dis", "bicubic+dis", 1), "between 1 and 8, got 100"),
]


@pytest.mark.parametrize("case,inputs,message", COMPARE, ids=[c[0] for c in COMPARE])
def test_compare_bad_inputs(client, files, case, inputs, message):
    video = inputs[0] and up(files[inputs[0]])
    with pytest.raises(Exception, match=message):
        client.predict(video, *inputs[1:], api_name="/compare")


PAIR = [  # (case, (image0, image1, n, model, fps), message)
    ("no image", (None, "b", 3, "dis_flow", 8), "Upload two images"),
    ("empty png", ("empty_png", "b", 3, "dis_flow", 8), r"first image file is empty \(0 bytes\)"),
    ("text as image", ("a", "text_png", 3, "dis_flow", 8), "second image file is not an image Pillow can read"),
    ("truncated png", ("truncated_png", "b", 3, "dis_flow", 8), "could not be decoded.*truncated"),
    ("png bomb", ("bomb", "b", 3, "dis_flow", 8), "20000x20000 = 400,000,000 pixels; the limit is 16,777,216"),
    ("huge png", ("huge", "b", 3, "dis_flow", 8), "11000x11000 = 121,000,000 pixels"),
    ("svg", ("svg", "b", 3, "dis_flow", 8), "not an image Pillow can read"),
    ("tiny", ("tiny", "tiny", 3, "dis_flow", 8), "at least 8x8"),
    ("n fraction", ("a", "b", 2.5, "dis_flow", 8), "In-between frames must be a whole number, got 2.5"),
    ("n zero", ("a", "b", 0, "dis_flow", 8), "In-between frames must be between 1 and 31, got 0"),
    ("n large", ("a", "b", 100, "dis_flow", 8), "In-between frames must be between 1 and 31, got 100"),
    ("n text", ("a", "b", "many", "dis_flow", 8), "In-between frames must be a number, got 'many'"),
    ("preview fps zero", ("a", "b", 3, "dis_flow", 0), "Preview fps must be between 1 and 30, got 0"),
    ("unknown model", ("a", "b", 3, "nope", 8), "Model must be one of"),
]


@pytest.mark.parametrize("case,inputs,message", PAIR, ids=[c[0] for c in PAIR])
def test_interpolate_pair_bad_inputs(client, files, case, inputs, message):
    args = [up(files[x]) if isinstance(x, str) and x in files else x for x in inputs[:2]] + list(inputs[2:])
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/interpolate_pair")


VIDEO_VFI = [
    ("no video", (None, "factor", 2, 60, "dis_flow"), "Upload a video first"),
    ("bad mode", ("clip", "sideways", 2, 60, "dis_flow"), "Mode must be one of 'factor', 'target fps'; got 'sideways'"),
    ("factor 16", ("clip", "factor", 16, 60, "dis_flow"), "Factor must be one of 1, 2, 4, 8; got 16"),
    ("target fps zero", ("clip", "target fps", 2, 0, "dis_flow"), "Target fps must be between 1 and 240, got 0"),
    ("target fps text", ("clip", "target fps", 2, "x", "dis_flow"), "Target fps must be a number"),
    ("corrupt", ("text_video", "factor", 2, 60, "dis_flow"), "not a video file"),
]


@pytest.mark.parametrize("case,inputs,message", VIDEO_VFI, ids=[c[0] for c in VIDEO_VFI])
def test_interpolate_video_bad_inputs(client, files, case, inputs, message):
    video = inputs[0] and up(files[inputs[0]])
    with pytest.raises(Exception, match=message):
        client.predict(video, *inputs[1:], api_name="/interpolate_video")


FACE = [
    ("no image", (None, "face_bicubic", 2, False), "No photo was given"),
    ("text as image", ("text_png", "face_bicubic", 2, False), "not an image Pillow can read"),
    ("no face", ("no_face", "face_bicubic", 2, False), "no face was found"),
    ("flat square as a crop", ("flat_square", "face_bicubic", 2, True), "blank"),
    ("upscale high", ("face", "face_bicubic", 9, False), "Upscale must be between 1 and 4, got 9"),
    ("upscale text", ("face", "face_bicubic", "x", False), "Upscale must be a number"),
    ("tiny", ("tiny", "face_bicubic", 2, False), "at least 16 pixels"),
    ("unknown model", ("face", "nope", 2, False), "Model must be one of"),
]


@pytest.mark.parametrize("case,inputs,message", FACE, ids=[c[0] for c in FACE])
def test_face_sr_bad_inputs(client, files, case, inputs, message):
    image = inputs[0] and up(files[inputs[0]])
    with pytest.raises(Exception, match=message):
        client.predict(image, *inputs[1:], api_name="/face_sr")


@pytest.mark.parametrize("case,inputs,message", [c for c in FACE if c[1][1] == "face_bicubic"][:6],
                         ids=[c[0] for c in FACE if c[1][1] == "face_bicubic"][:6])
def test_face_compare_bad_inputs(client, files, case, inputs, message):
    """The teacher / student comparison refuses what the Face SR endpoint refuses, with the same messages."""
    image = inputs[0] and up(files[inputs[0]])
    with pytest.raises(Exception, match=message):
        client.predict(image, inputs[2], inputs[3], api_name="/face_compare")


def test_svs_paths_cannot_be_probed(client, models_dir):
    """Any server path outside FRAMEFORGE_MODELS_DIRS gets the same message whether it exists or not."""
    messages = []
    for path in ("/etc/shadow", "/etc/no-such-file", "/root/.ssh", "/root/no-such-folder", "../../etc",
                 str(models_dir / ".." / "app")):
        with pytest.raises(Exception) as info:
            client.predict(path, "", api_name="/svs_spectrum")
        messages.append(str(info.value).replace(repr(path), "<path>"))
    assert len(set(messages)) == 1 and "FRAMEFORGE_MODELS_DIRS" in messages[0]
    with pytest.raises(Exception, match="longer than 300 characters"):
        client.predict("x" * 1000, "", api_name="/svs_spectrum")
    assert "bundled" in client.predict("   ", "", api_name="/svs_spectrum")[2]  # empty: the bundled generator
    with pytest.raises(Exception, match="Hub download of frameforge-test/nothing-here failed"):
        client.predict("frameforge-test/nothing-here", "", api_name="/svs_spectrum")
    with pytest.raises(Exception, match="unknown layer"):
        client.predict(str(models_dir / "tiny"), "no_such_layer", api_name="/svs_spectrum")
    plot, table, summary = client.predict(str(models_dir / "tiny"), "", api_name="/svs_spectrum")
    assert Path(plot).is_file() and table["data"]


def test_compress_bad_inputs(client, models_dir):
    for ratio, message in (("abc", "(?i)ratio"), (2.0, "(?i)ratio"), (0.0, "(?i)ratio"), (None, "(?i)ratio")):
        with pytest.raises(Exception, match=message):
            client.predict("bundled", ratio, "l1", True, api_name="/compress")
    with pytest.raises(Exception, match="(?i)must be one of"):
        client.predict("bundled", 0.5, "random", True, api_name="/compress")
    with pytest.raises(Exception, match="FRAMEFORGE_MODELS_DIRS"):
        client.predict("/etc/shadow", 0.5, "l1", True, api_name="/compress")
    stats, samples, spectra, archive, students = client.predict(str(models_dir / "tiny"), 0.5, "l1", False,
                                                                api_name="/compress")
    assert "| parameters |" in stats and Path(archive).suffix == ".zip"


def test_only_the_tabs_endpoints_are_in_the_api(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {"/video_sr", "/compare", "/interpolate_pair", "/interpolate_video", "/face_sr", "/face_compare",
                     "/svs_spectrum", "/compress", "/video_sr_batch", "/interpolate_video_batch", "/face_sr_batch"}


def test_accepted_inputs_that_used_to_go_wrong(client, files, out_dir):
    from models import video_io

    out, _, summary, *_ = client.predict(up(files["truncated"]), 2, 0, 1, "lanczos+dis", api_name="/video_sr")
    assert "truncated or damaged: 18 of 30 frames" in summary or "seems truncated" in summary
    gallery, mp4, gif = client.predict(up(files["grey16"]), up(files["grey16"]), 1, "blend", 8,
                                       api_name="/interpolate_pair")
    middle = np.asarray(Image.open(gallery[0]["image"]["path"] if isinstance(gallery[0]["image"], dict)
                                   else gallery[0]["image"]).convert("L")).astype(float)
    assert 100 < middle.mean() < 155 and middle.min() < 10 and middle.max() > 245  # scaled, not clipped to white
    assert Path(gif).suffix == ".gif" and Path(mp4).is_file()
    assert any(p.name.startswith("grey16_1frames_") for p in out_dir.iterdir())  # named after the input
    info = video_io.probe(out["video"] if isinstance(out, dict) else out)
    assert info.width == 128


def test_concurrent_identical_requests_all_complete(client, app, files):
    """8 clients x 5 identical requests: no failure, every download complete and identical."""
    from gradio_client import Client

    results, errors = [], []

    def worker():
        c = Client(app[0], verbose=False)
        for _ in range(5):
            try:
                gallery, mp4, gif = c.predict(up(files["a"]), up(files["b"]), 1, "dis_flow", 8,
                                              api_name="/interpolate_pair")
                item = gallery[0]["image"]
                results.append((Path(item["path"] if isinstance(item, dict) else item).read_bytes(),
                                Path(gif).read_bytes()))
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 40
    assert len({r[0] for r in results}) == 1 and len({r[1] for r in results}) == 1
    Image.open(__import__("io").BytesIO(results[0][0])).verify()


def test_stop_cancels_the_running_job(client, app, files):
    """A long job is cancelled: its worker stops at the next frame, says so in the log, and the next job runs."""
    log = app[1]
    job = client.submit(up(files["work"]), "factor", 4, 60, "rife", api_name="/interpolate_video")
    deadline = time.time() + 60
    while "interpolate_video" not in log.read_text() and job.status().code.name not in ("PROCESSING",):
        if time.time() > deadline:
            pytest.fail("the long job never started")
        time.sleep(0.2)
    time.sleep(2)
    job.cancel()
    started = time.time()
    gallery, _, _ = client.predict(up(files["a"]), up(files["b"]), 1, "blend", 8, api_name="/interpolate_pair")
    assert gallery and time.time() - started < 60  # the worker was freed (the long job needs minutes)
    deadline = time.time() + 30
    while "interpolate_video: The job was cancelled" not in log.read_text():
        if time.time() > deadline:
            pytest.fail("the cancelled job did not stop:\n" + log.read_text()[-2000:])
        time.sleep(0.5)


def test_server_log_has_one_line_per_user_error(client, app, files):
    with pytest.raises(Exception, match="Upscale must be between 1 and 4"):
        client.predict(up(files["face"]), "face_bicubic", 7, False, api_name="/face_sr")
    lines = [ln for ln in app[1].read_text().splitlines() if "Upscale must be between 1 and 4, got 7" in ln]
    assert len(lines) == 1 and "frameforge INFO: input: Upscale" in lines[0]
    assert "Traceback" not in app[1].read_text()


def test_job_time_budget(monkeypatch, files):
    import gradio as gr

    from demos import interpolation
    from models import settings

    monkeypatch.setenv("FRAMEFORGE_JOB_SECONDS", "0.001")
    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(files["a"].parent / "out"))
    settings.reload()
    with pytest.raises(gr.Error, match="time budget of 0.001 s"):
        interpolation.interpolate_video(str(files["clip"]), "factor", 2, 60, "dis_flow", progress=None)
    assert not list((files["a"].parent / "out").glob("clip_*"))  # the partial result was removed


# ------------------------------------------------------------------------------------------ issue 35 (round two) --
def raw_call(client, url: str, api: str, data: list, timeout: float = 300) -> str:
    """One request through the HTTP API as any client can send it (no gradio_client checks or uploads), the inputs
    after ``data`` filled with the endpoint's defaults; returns the event stream's last message."""
    import httpx

    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"][api]["parameters"]
    data = list(data) + [p.get("parameter_default") for p in params[len(data):]]
    r = httpx.post(f"{url}/gradio_api/call{api}", json={"data": data}, timeout=60)
    r.raise_for_status()
    return httpx.get(f"{url}/gradio_api/call{api}/{r.json()['event_id']}", timeout=timeout).text


def short_call(url: str, api: str, data: list) -> str:
    """Like :func:`raw_call` with exactly ``data`` (for too-few-inputs requests)."""
    import httpx

    r = httpx.post(f"{url}/gradio_api/call{api}", json={"data": data}, timeout=60)
    r.raise_for_status()
    return httpx.get(f"{url}/gradio_api/call{api}/{r.json()['event_id']}", timeout=120).text


def error_of(stream: str) -> str | None:
    import json

    for line in stream.splitlines():
        if line.startswith("data:"):
            payload = json.loads(line[5:])
            if isinstance(payload, dict) and "error" in payload:
                return payload["error"]
    raise AssertionError(f"no error in {stream[-500:]}")


def upload(url: str, path) -> dict:
    """Upload a file as any client does (POST /gradio_api/upload) and return its FileData."""
    import httpx

    with open(path, "rb") as fh:
        r = httpx.post(f"{url}/gradio_api/upload", files={"files": (Path(path).name, fh)}, timeout=60)
    r.raise_for_status()
    return {**file_data(r.json()[0]), "orig_name": Path(path).name}


def file_data(path=None, url=None) -> dict:
    return {"path": None if path is None else str(path), "url": url, "meta": {"_type": "gradio.FileData"}}


@pytest.fixture(scope="module")
def hard_files(tmp_path_factory):
    """Inputs of issue 35: a data: URL bomb, clips with broken or lying timing, a 1-pixel-wide clip, a float TIFF
    with NaN, a clip with a long pause."""
    import base64

    from tests.test_hardening import short_header, timed_video
    from video_factory import make_test_video

    d = tmp_path_factory.mktemp("hard")
    f = {}
    Image.new("1", (20000, 20000)).save(d / "bomb.png", optimize=True)
    f["bomb_url"] = "data:image/png;base64," + base64.b64encode((d / "bomb.png").read_bytes()).decode()
    f["zero_times"] = timed_video(d / "zero.mp4", [0] * 10)
    long = make_test_video(d / "long.mp4", n_frames=250, fps=10, audio=False)  # 25 s
    f["lying"] = short_header(long, d / "lying.mp4")  # its header says 0.2 s
    f["thin"] = make_test_video(d / "thin.mp4", n_frames=6, size=(48, 1), fps=10, audio=False)
    nan = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    nan[10, 10] = np.nan
    Image.fromarray(nan).save(d / "nan.tif")
    f["nan_tif"] = d / "nan.tif"
    f["pause"] = timed_video(d / "pause.mp4", [0, 40, 80, 25000, 25040, 25080], size=(240, 320))
    f["work"] = _video(d / "repro.mp4", 30, size=(240, 320), fps=10)
    f["pair"] = ROOT / "examples" / "faces" / "astronaut_pair.jpg"
    return f


def _peak_growth_mb(app, fn):
    """(fn's result, growth of the server's peak RSS in MB while fn ran)."""
    from tests.app_server import peak_rss_kb, reset_peak_rss

    pid = app[0].pid
    if not reset_peak_rss(pid):
        pytest.skip("cannot reset the server's peak RSS here (/proc/PID/clear_refs)")
    before = peak_rss_kb(pid)
    result = fn()
    return result, (peak_rss_kb(pid) - before) / 1024


@pytest.mark.parametrize("api", ["/interpolate_pair", "/face_sr", "/face_compare"])
def test_data_url_image_bombs_are_refused_before_decoding(client, app, hard_files, api):
    """A 65 KB request carrying a 20000x20000 PNG as a data: URL: refused from the header, the server's peak memory
    grows by less than 150 MB (it grew by 3.4 GB when Gradio decoded it)."""
    image = file_data(url=hard_files["bomb_url"])
    data = [image, image] if api == "/interpolate_pair" else [image]
    stream, grown = _peak_growth_mb(app, lambda: raw_call(client, app[0], api, data))
    assert "20000x20000 = 400,000,000 pixels; the limit is 16,777,216" in (error_of(stream) or "")
    print(f"{api}: server peak RSS growth {grown:.0f} MB")
    assert grown < 150, f"peak RSS grew by {grown:.0f} MB"


def test_a_long_pause_in_a_video_streams_with_bounded_memory(client, app, hard_files):
    """Frame times 0, 40, 80 ms, then 25 s later: the 750 output frames of the pause are made 16 at a time (they
    were all made and held at once: about 0.7 GB here, 9 GB for a 50 s pause at 1080p)."""
    result, grown = _peak_growth_mb(app, lambda: client.predict(
        up(hard_files["pause"]), "target fps", 2, 30, "blend", api_name="/interpolate_video"))
    out = result[0]
    from models import video_io

    assert video_io.probe(out["video"] if isinstance(out, dict) else out).frame_count == 753
    print(f"server peak RSS growth over the paused clip: {grown:.0f} MB")
    assert grown < 120, f"peak RSS grew by {grown:.0f} MB"


def test_limits_use_the_real_frame_times(client, hard_files):
    """The header says 0.2 s, the frames span 25 s: x8 would make 2001 frames (limit 1000); it made 12,020 before."""
    with pytest.raises(Exception, match="2001 frames; the limit is 1000"):
        client.predict(up(hard_files["lying"]), "factor", 8, 60, "blend", api_name="/interpolate_video")
    with pytest.raises(Exception, match="2001 frames; the limit is 1000"):
        client.predict(up(hard_files["lying"]), 1, 0, 8, "lanczos+dis", api_name="/video_sr")


STRICT = [  # (case, endpoint, inputs as the HTTP API sends them, message)
    ("aligned 'false'", "/face_sr", ["face", "face_bicubic", 2, "false"],
     r"aligned face crop.*must be true or false \(a JSON boolean\), got 'false'"),
    ("background 'no'", "/face_sr", ["face", "face_bicubic", 2, False, "no"], "must be true or false.*got 'no'"),
    ("svs 'false'", "/compress", ["bundled", 0.5, "l1", "false"],
     "Singular Value Scaling after pruning must be true or false.*got 'false'"),
    ("time factor true", "/video_sr", ["clip", 2, 0, True, "lanczos+dis"],
     "Time factor must be one of 1, 2, 4, 8; got True"),
    ("401-digit upscale", "/face_sr", ["face", "face_bicubic", 10 ** 400, False],
     "Upscale must be a finite number, got a 401-digit integer"),
]


@pytest.mark.parametrize("case,api,inputs,message", STRICT, ids=[c[0] for c in STRICT])
def test_booleans_and_numbers_are_strict_over_http(client, app, files, case, api, inputs, message):
    def value(x):
        return upload(app[0], files[x]) if isinstance(x, str) and x in files else x

    data = [value(x) for x in inputs]
    error = error_of(raw_call(client, app[0], api, data))
    assert error and __import__("re").search(message, error), error


def test_identical_interpolate_video_requests_give_identical_files(client, hard_files):
    """The same request three times gives byte-identical files (x264 without mb-tree; it differed before)."""
    digests = set()
    for _ in range(3):
        out = client.predict(up(hard_files["work"]), "factor", 2, 60, "blend", api_name="/interpolate_video")[0]
        path = Path(out["video"] if isinstance(out, dict) else out)
        digests.add(__import__("hashlib").sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


MESSAGES = [  # (case, endpoint, inputs, message)
    ("all frame times 0", "/interpolate_video", ["zero_times", "factor", 2, 60, "blend"],
     "All 10 frames of .* have the same time stamp .*0 fps"),
    ("all frame times 0 (video SR)", "/video_sr", ["zero_times", 2, 0, 2, "lanczos+dis"], "the same time stamp"),
    ("1-pixel-wide clip with DIS", "/interpolate_video", ["thin", "factor", 2, 60, "dis_flow"],
     "DIS optical flow needs frames at least 8x8 pixels; these are 1x48"),
    ("NaN in a float TIFF", "/interpolate_pair", ["nan_tif", "nan_tif", 1, "blend", 8],
     "1 NaN or infinite pixel value"),
    ("more faces than the cap", "/face_sr", ["pair", "face_bicubic", 1, False],
     "the photo has 2 faces to restore; the limit is 1 per photo .FRAMEFORGE_MAX_FACES"),
]


@pytest.mark.parametrize("case,api,inputs,message", MESSAGES, ids=[c[0] for c in MESSAGES])
def test_clear_messages_round_two(client, hard_files, case, api, inputs, message):
    args = [up(hard_files[x]) if isinstance(x, str) and x in hard_files else x for x in inputs]
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name=api)


def test_face_compare_has_the_face_cap_too(client, hard_files):
    with pytest.raises(Exception, match="2 faces to restore; the limit is 1"):
        client.predict(up(hard_files["pair"]), 1, False, api_name="/face_compare")


def test_requests_gradio_refuses_get_a_message(client, app):
    """Too few inputs and server paths that were not uploaded ({"error": null} before): the same message for a path
    that exists and one that does not."""
    error = error_of(short_call(app[0], "/interpolate_pair", [None, None]))
    assert error and "/interpolate_pair takes 5 inputs (First frame, Second frame, In-between frames" in error
    assert "the request gave 2" in error
    messages = {error_of(short_call(app[0], "/interpolate_pair", [file_data(p), file_data(p), 1, "blend", 8]))
                for p in ("/etc/passwd", "/etc/no-such-file", str(ROOT / "app.py"))}
    assert len(messages) == 1 and "not uploaded to this app" in messages.pop()


def test_svs_layers_that_are_not_names(client):
    with pytest.raises(Exception, match="layers must be layer names"):
        client.predict("bundled", 42, api_name="/svs_spectrum")
    with pytest.raises(Exception, match="no layer name in ',,,'"):
        client.predict("bundled", ",,,", api_name="/svs_spectrum")


def test_a_model_file_linked_out_of_the_models_folder_is_refused(client, models_dir):
    with pytest.raises(Exception, match="diffusion_pytorch_model.safetensors .*link to a file outside"):
        client.predict(str(models_dir / "linked"), "", api_name="/svs_spectrum")


def _mcp(url: str):
    """A minimal MCP client over streamable HTTP: rpc(method, params) -> result or error."""
    import json

    import httpx

    endpoint = f"{url}/gradio_api/mcp/"
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    http = httpx.Client(timeout=300)
    counter = iter(range(1, 1000))

    def rpc(method, params=None):
        r = http.post(endpoint, headers=headers, json={"jsonrpc": "2.0", "id": next(counter), "method": method,
                                                        "params": params or {}})
        for line in r.text.splitlines():
            if line.startswith("data:"):
                return json.loads(line[5:])
        return r.json()

    rpc("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}})
    http.post(endpoint, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return rpc


def test_mcp_takes_the_documented_sources_and_explains_refused_urls(app, models_dir):
    rpc = _mcp(app[0])
    tools = {t["name"]: t for t in rpc("tools/list")["result"]["tools"]}
    for name in ("compress", "svs_spectrum"):
        source = tools[name]["inputSchema"]["properties"]["source"]
        assert source["type"] == "string" and "enum" not in source, source
        assert "FRAMEFORGE_MODELS_DIRS" in source.get("description", "") and "Hub" in source.get("description", "")
    result = rpc("tools/call", {"name": "svs_spectrum", "arguments": {"source": str(models_dir / "tiny"),
                                                                         "layers": []}})["result"]
    assert not result.get("isError"), result
    assert any("tiny" in c.get("text", "") for c in result["content"] if c["type"] == "text")
    refused = rpc("tools/call", {"name": "interpolate_pair", "arguments": {
        "image0": f"{app[0]}/gradio_api/file=/etc/passwd", "image1": "http://10.1.2.3/b.png", "n": 1,
        "model_id": "blend", "preview_fps": 8}})["result"]
    assert refused["isError"] and "127.0.0.1 was refused: only public http(s) addresses" in \
        refused["content"][0]["text"]


def test_aborted_uploads_are_swept(tmp_path):
    """An upload the client abandons half-way leaves a part file in Gradio's temp folder (kept for ever before);
    the sweeper deletes it once it is FRAMEFORGE_TEMP_MAX_AGE old."""
    import socket

    from tests.app_server import running_app

    temp = tmp_path / "gradio"
    with running_app(tmp_path / "app.log", GRADIO_TEMP_DIR=temp, FRAMEFORGE_TEMP_MAX_AGE="6",
                     FRAMEFORGE_OUTPUT_DIR=tmp_path / "results") as url:
        host, port = url.removeprefix("http://").split(":")
        boundary = "frameforgeboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.mp4\"\r\n"
                "Content-Type: video/mp4\r\n\r\n").encode()
        with socket.create_connection((host, int(port))) as s:
            s.sendall(f"POST /gradio_api/upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                      f"boundary={boundary}\r\nContent-Length: {100_000_000}\r\n\r\n".encode() + head
                      + b"\0" * 2_000_000)
            time.sleep(1.0)
        deadline = time.time() + 10
        while not [p for p in temp.iterdir() if p.is_file() and p.name.startswith("tmp")]:
            if time.time() > deadline:
                pytest.fail(f"no part file appeared in {temp}: {sorted(p.name for p in temp.iterdir())}")
            time.sleep(0.2)
        part = next(p for p in temp.iterdir() if p.is_file() and p.name.startswith("tmp"))
        deadline = time.time() + 30
        while part.exists():
            if time.time() > deadline:
                pytest.fail(f"the aborted upload {part.name} was not swept")
            time.sleep(0.5)
        assert "swept" in (tmp_path / "app.log").read_text()
