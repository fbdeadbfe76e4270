"""The app as users reach it: started in a subprocess, every endpoint called through gradio_client, and one tab
driven in headless Chromium (Playwright with the system browser; no browser download)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # starts the app server and a browser (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.app_server import running_app

    with running_app(tmp_path_factory.mktemp("app") / "app.log",
                     FRAMEFORGE_OUTPUT_DIR=tmp_path_factory.mktemp("out")) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from tests.video_factory import make_test_video

    folder = tmp_path_factory.mktemp("media")
    video = folder / "clip.mp4"
    make_test_video(video, n_frames=8, size=(48, 64), fps=8, audio=True)
    rng = np.random.default_rng(0)  # a smooth random texture: a shift of it is not a blend of it
    texture = rng.integers(0, 256, (12, 16, 3)).astype(np.uint8)
    a = np.asarray(Image.fromarray(texture).resize((64, 48), Image.BICUBIC))
    Image.fromarray(a).save(folder / "a.png")
    Image.fromarray(np.roll(a, 4, axis=1)).save(folder / "b.png")
    from models import video_io
    from tests.video_factory import pattern

    Image.fromarray(video_io.read_frames(video, max_frames=1)[0]).save(folder / "first.png")
    with video_io.open_writer(folder / "frames.zip", 8, codec="png-zip") as w:  # the clip's frames as PNGs
        for frame in video_io.read_frames(video):
            w.write(frame)
    assert pattern  # the frames of make_test_video
    return folder


def test_video_sr_endpoint(client, media):
    from gradio_client import handle_file

    from models import video_io

    out, slider, summary, crop, download = client.predict(handle_file(str(media / "clip.mp4")), 2.0, 0, 2,
                                                          "lanczos+dis", api_name="/video_sr")
    path = out["video"] if isinstance(out, dict) else out
    info = video_io.probe(path)
    assert (info.width, info.height) == (128, 96)
    assert info.frame_count == 15 and abs(info.fps - 16) < 0.01  # 8 frames x2 in time: 7 gaps * 2 + 1
    assert info.has_audio
    assert "audio: copy" in summary
    assert "Written: H.264 (libx264) CRF 18, preset fast, 8-bit yuv420p in mp4" in summary
    assert video_io.probe(download).frame_count == 15  # the same result, to download
    # before/after at the same instant and size: the input Lanczos-resized to the result's size, and a 1:1 crop
    before, after = (Image.open(x["path"] if isinstance(x, dict) else x) for x in slider)
    assert before.size == after.size == (128, 96)
    lanczos = np.asarray(Image.open(media / "first.png").resize((128, 96), Image.LANCZOS)).astype(int)
    assert np.abs(np.asarray(before).astype(int) - lanczos).mean() < 0.5
    assert all(Image.open(x["path"] if isinstance(x, dict) else x).size == (128, 96) for x in crop)  # < 256 px


def test_video_sr_output_settings_and_png_zip_input(client, media, tmp_path):
    """A zip of PNG frames in, H.265 CRF 30 10-bit out: the file says so; the settings are in the report."""
    from gradio_client import handle_file

    from models import video_io

    out, _, summary, _, download = client.predict(
        None, 1.0, 0, 2, "lanczos+dis", "h265", 30, "ultrafast", 10, "keep", "off",
        handle_file(str(media / "frames.zip")), 8, api_name="/video_sr")
    info = video_io.probe(download)
    assert info.codec == "hevc" and info.bit_depth == 10 and info.frame_count == 15 and not info.has_audio
    assert b"crf=30.0" in Path(download).read_bytes()
    assert "H.265/HEVC (libx265) CRF 30, preset ultrafast, 10-bit yuv420p10le" in summary
    assert "duplicate detection off" in summary


def test_compare_endpoint(client, media):
    """Two models on the first half second, side by side with their timings; the same model twice is refused."""
    from gradio_client import handle_file

    from models import video_io

    a, b, pair, table = client.predict(handle_file(str(media / "clip.mp4")), 2.0, 0, 2, "lanczos+dis",
                                       "bicubic+dis", 0.5, api_name="/compare")
    paths = [v["video"] if isinstance(v, dict) else v for v in (a, b)]
    infos = [video_io.probe(p) for p in paths]
    assert all((i.width, i.height) == (128, 96) for i in infos)
    assert infos[0].frame_count == infos[1].frame_count == 7  # 4 source frames (0.5 s at 8 fps), x2 in time
    assert len(pair) == 2 and table.count("| 7 |") == 2  # each row: 7 frames made
    with pytest.raises(Exception, match="two different models"):
        client.predict(handle_file(str(media / "clip.mp4")), 2.0, 0, 2, "lanczos+dis", "lanczos+dis", 0.5,
                       api_name="/compare")


def test_video_sr_rejects_out_of_range_scale(client, media):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="(scale must be between 1 and 8|greater than maximum value 8)"):
        client.predict(handle_file(str(media / "clip.mp4")), 100.0, 0, 2, "lanczos+dis", api_name="/video_sr")


def test_interpolate_pair_endpoint(client, media):
    from gradio_client import handle_file

    gallery, mp4, gif = client.predict(handle_file(str(media / "a.png")), handle_file(str(media / "b.png")), 3,
                                       "dis_flow", 8, api_name="/interpolate_pair")
    assert [item["caption"] for item in gallery] == ["t = 0.25", "t = 0.5", "t = 0.75"]
    middle = np.asarray(Image.open(gallery[1]["image"]["path"] if isinstance(gallery[1]["image"], dict)
                                   else gallery[1]["image"]).convert("RGB"))
    from bench.metrics import psnr

    a = np.asarray(Image.open(media / "a.png"))
    expected, blended = np.roll(a, 2, axis=1), (a.astype(float) + np.roll(a, 4, axis=1)) / 2
    inner = (slice(4, -4), slice(8, -8))
    assert psnr(middle[inner], expected[inner]) > 30
    assert psnr(middle[inner], expected[inner]) > psnr(blended.round()[inner], expected[inner]) + 5
    assert Path(gif).suffix == ".gif"


def test_interpolate_video_endpoint(client, media):
    from gradio_client import handle_file

    from models import video_io

    out, summary, download = client.predict(handle_file(str(media / "clip.mp4")), "target fps", 2, 20, "dis_flow",
                                            api_name="/interpolate_video")
    info = video_io.probe(out["video"] if isinstance(out, dict) else out)
    assert abs(info.fps - 20) < 0.01 and info.frame_count == 18  # 7/8 s at 20 fps: 18 frames
    assert info.has_audio


def test_interpolate_video_loop_to_png_zip(client, media):
    """loop + PNG-zip output: 8 frames x2 in a loop = 16 PNGs, the first ones the source frames exactly."""
    import zipfile

    from gradio_client import handle_file

    out, summary, download = client.predict(
        None, "factor", 2, 60, "blend", True, "png-zip", 18, "fast", 8, "keep", "auto",
        handle_file(str(media / "frames.zip")), 8, api_name="/interpolate_video")
    assert out is None and "Loop: the last → first transition is interpolated" in summary
    with zipfile.ZipFile(download) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 16
        first = np.asarray(Image.open(zf.open("frame_000000.png")))
    assert np.array_equal(first, np.asarray(Image.open(media / "first.png")))


def test_face_sr_endpoint(client):
    from gradio_client import handle_file

    photo = ROOT / "examples" / "faces"
    example = sorted(p for p in photo.glob("*") if p.suffix in (".png", ".jpg"))[0]
    result = client.predict(handle_file(str(example)), "face_bicubic", 2, False, api_name="/face_sr")
    restored = np.asarray(Image.open(result[0]))
    source = np.asarray(Image.open(example))
    assert restored.shape[0] == 2 * source.shape[0] and restored.shape[1] == 2 * source.shape[1]


def test_face_sr_no_face_is_a_clear_error(client, media):
    from gradio_client import handle_file

    flat = media / "flat.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(flat)
    with pytest.raises(Exception, match="(?i)no face"):
        client.predict(handle_file(str(flat)), "face_bicubic", 2, False, api_name="/face_sr")


def test_svs_spectrum_endpoint(client):
    image, table, summary = client.predict("bundled", "", api_name="/svs_spectrum")
    assert Path(image).is_file() and Image.open(image).size[0] > 200
    assert "param" in summary.lower()


def test_compress_endpoint(client, tmp_path):
    import zipfile

    from models import registry

    stats, samples, spectra, archive, students = client.predict("bundled", 0.5, "l1", True, api_name="/compress")
    assert "| parameters | 1,112,801 |" in stats and "SVS (ddpm)" in stats
    assert Image.open(samples).size[0] > 3 * 100 and Path(spectra).is_file()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    pruned = registry.create("ddpm_pruned", folder=folder)
    assert sum(p.numel() for p in pruned.parameters()) == 680_993  # the 50 % widths


def _visible_uploads(page):
    uploads = page.locator("input[type=file]")
    return [uploads.nth(i) for i in range(uploads.count()) if uploads.nth(i).evaluate(
        "e => !!e.closest('.block') && e.closest('.block').offsetParent !== null")]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (apt-get install chromium)")
def test_browser_runs_one_job_per_tab(server, media, tmp_path):
    """Each tab as a person uses it: upload, press the button, see the result (and the before/after views)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server, wait_until="networkidle")
            # Video SR: the estimate shows before the run, the report and the before/after slider after it
            page.get_by_text("Input video", exact=True).first.wait_for()
            _visible_uploads(page)[0].set_input_files(str(media / "clip.mp4"))
            page.get_by_text("Estimated time").first.wait_for(timeout=60_000)
            page.get_by_text("Output, HDR, duplicates, PNG frames").first.click()  # the output settings
            page.locator(".block", has_text="Bits per sample").last.get_by_text("10", exact=True).click()
            page.get_by_role("button", name="Upscale", exact=True).click()
            page.get_by_text("output frames/s").first.wait_for(timeout=180_000)
            page.get_by_text("10-bit yuv420p10le in mp4").first.wait_for(timeout=30_000)  # what was written
            page.screenshot(path=str(tmp_path / "video_sr.png"), full_page=True)
            slider = page.locator(".block", has_text="same instant and size: input (Lanczos resize) / result").last
            slider.locator("img").nth(1).wait_for(timeout=30_000)  # the two sides of the before/after view
            crop = page.locator(".block", has_text="1:1 crop (central 256 px)").last
            crop.locator("img").nth(1).wait_for(timeout=30_000)
            # Frame interpolation, image pair: the gallery with each frame's t and the GIF shown inline
            page.get_by_role("tab", name="Frame interpolation").click()
            page.get_by_text("First frame", exact=True).first.wait_for()
            pair = _visible_uploads(page)
            pair[0].set_input_files(str(media / "a.png"))
            pair[1].set_input_files(str(media / "b.png"))
            page.get_by_role("button", name="Interpolate", exact=True).click()
            page.get_by_text("t = 0.5").first.wait_for(timeout=120_000)
            page.locator("img[src*='.gif']").first.wait_for(timeout=60_000)
            # Frame interpolation, video: a seamless loop (a new control), the report says so
            page.get_by_role("tab", name="Video", exact=True).click()
            page.get_by_text("Input video", exact=True).last.wait_for()
            _visible_uploads(page)[0].set_input_files(str(media / "clip.mp4"))
            page.get_by_text("Output, HDR, duplicates, PNG frames").last.click()
            page.get_by_text("Loop: close the clip", exact=False).last.click()
            page.get_by_role("button", name="Interpolate video", exact=True).click()
            page.get_by_text("Loop: the last → first transition is interpolated").first.wait_for(timeout=180_000)
            # Face SR: the faces found are ticked with an estimate; unticking one leaves it out of the result
            page.get_by_role("tab", name="Face SR").click()
            page.get_by_text("Photo or aligned face crop", exact=True).first.wait_for()
            _visible_uploads(page)[0].set_input_files(str(ROOT / "examples" / "faces" / "astronaut_pair.jpg"))
            page.get_by_text("2 of 2 faces will be restored").first.wait_for(timeout=60_000)
            page.get_by_text("face 2: ", exact=False).first.click()
            page.get_by_text("1 of 2 faces will be restored").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="Restore faces", exact=True).click()
            page.get_by_text("face 1: restored").first.wait_for(timeout=180_000)
            page.get_by_text("face 1: input (pixels enlarged)").first.wait_for()
            assert page.get_by_text("face 2: restored").count() == 0
            # Compression: prune the bundled generator at 50 % + SVS
            page.get_by_role("tab", name="Compression (SVS)").click()
            page.get_by_role("button", name="Compress", exact=True).click()
            page.get_by_text("MACs per sample").first.wait_for(timeout=120_000)
            page.screenshot(path=str(tmp_path / "compression.png"), full_page=True)
        finally:
            browser.close()


def test_handlers_name_the_choices_for_an_unknown_model():
    import gradio as gr

    from demos import interpolation, video_sr
    from demos.common import load_model

    assert load_model("vfi", None)[0] == "rife"  # no choice: the tab's default
    with pytest.raises(gr.Error, match="Unknown vfi model 'nope'; choose one of rife, blend, dis_flow"):
        interpolation.interpolate_pair(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8), 1, "nope")
    with pytest.raises(gr.Error, match="Unknown stvsr model 'dis_flow'"):  # a model of another task
        video_sr.video_sr(str(ROOT / "examples" / "videos" / "bounce_sync_320x240.mp4"), 2.0, 0, 2, "dis_flow")


def test_mcp_lists_the_tools(server):
    """The app is an MCP server: the schema and a real MCP client both list the five tools with their docs."""
    import asyncio

    import httpx

    schema = httpx.get(f"{server}/gradio_api/mcp/schema", timeout=30).json()
    assert {"video_sr", "compare", "interpolate_pair", "interpolate_video", "face_sr", "svs_spectrum", "compress"} <= {
        t["name"] for t in schema}

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def tools():
        async with streamable_http_client(f"{server}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return (await session.list_tools()).tools

    listed = asyncio.run(tools())
    by_name = {t.name: t for t in listed}
    wanted = {"video_sr", "interpolate_pair", "interpolate_video", "face_sr", "svs_spectrum", "compress"}
    assert wanted <= set(by_name), sorted(by_name)
    tool = by_name["video_sr"]
    assert "any scale from 1 to 8" in tool.description
    assert "spatial scale" in tool.inputSchema["properties"]["scale"]["description"]
    assert "load_layers" not in by_name and "model_card" not in by_name


def test_mcp_schema_reads_whole_and_types_numbers(server):
    """The running app's MCP schema: every argument described in full (wrapped docstring lines included), one
    returns sentence without stray commas, numeric choices typed as numbers, each tool named as its endpoint."""
    import httpx

    schema = {t["name"]: t for t in httpx.get(f"{server}/gradio_api/mcp/schema", timeout=30).json()}
    assert "face_compare" in schema and "compare_teacher_student" not in schema
    assert {"video_sr_batch", "interpolate_video_batch", "face_sr_batch"} <= set(schema)
    for name, tool in schema.items():
        assert ", ," not in tool["description"] and ",," not in tool["description"], name
        for arg, prop in tool["inputSchema"]["properties"].items():
            text = prop.get("description", "")
            assert text and text.rstrip()[-1] in ".)\"'", (name, arg, text)
    props = schema["video_sr"]["inputSchema"]["properties"]
    assert props["time_factor"]["type"] in ("integer", "number")
    assert schema["interpolate_video"]["inputSchema"]["properties"]["factor"]["type"] in ("integer", "number")
    assert schema["face_sr"]["inputSchema"]["properties"]["background"]["description"].endswith("False for Lanczos.")
    assert "enlarged without smoothing) and after" in schema["face_sr"]["description"]


def test_face_sr_batch_endpoint(client):
    """Three photos uploaded at once: three restored photos and one zip (them + report.md)."""
    import zipfile

    from gradio_client import handle_file

    photos = [ROOT / "examples" / "faces" / n for n in ("astronaut_256.jpg", "astronaut_pair.jpg", "astronaut_256.jpg")]
    results, archive, report = client.predict([handle_file(str(p)) for p in photos], "face_bicubic", 2, False, False,
                                              0, 0.9, 45, False, api_name="/face_sr_batch")
    paths = [r["path"] if isinstance(r, dict) else r for r in results]
    assert len(paths) == 3
    for photo, path in zip(photos, paths):
        assert Image.open(path).size == tuple(2 * s for s in Image.open(photo).size)
    with zipfile.ZipFile(archive["path"] if isinstance(archive, dict) else archive) as zf:
        assert len(zf.namelist()) == 4 and "report.md" in zf.namelist()
    assert report.startswith("**3 of 3 files done**")
