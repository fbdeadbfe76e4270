"""Many files at once (issue 33 item 7): each tab's multi-file handler on real files — one result per file, one zip
with every result and the report, a failed file reported with its reason while the others are done, the limits."""
from __future__ import annotations

import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
QUIET = dict(progress=lambda *a, **k: None)


@pytest.fixture
def clips(tmp_path, monkeypatch):
    from tests.video_factory import make_test_video

    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(tmp_path / "out"))
    from models import settings

    settings.reload()
    paths = [make_test_video(tmp_path / f"clip{i}.mp4", n_frames=4 + i, size=(32, 48), fps=8, audio=i == 0)
             for i in range(3)]
    return [str(p) for p in paths]


def _zip_names(archive) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return sorted(zf.namelist())


def test_video_sr_batch_three_files_three_results_one_zip(clips):
    from demos import video_sr
    from models import video_io

    results, archive, report = video_sr.video_sr_batch(clips, 2.0, 0, 2, "lanczos+dis", **QUIET)
    assert len(results) == 3
    for clip, result in zip(clips, results):
        src, out = video_io.probe(clip), video_io.probe(result)
        assert (out.width, out.height) == (2 * src.width, 2 * src.height)
        assert out.frame_count == 2 * (src.frame_count - 1) + 1
        assert Path(result).name.startswith(Path(clip).stem)
    names = _zip_names(archive)
    assert names == sorted([Path(r).name for r in results] + ["report.md"])
    assert report.startswith("**3 of 3 files done**") and report.count("→ 96x64") == 3  # each file's own report
    assert [line.split(" | ")[1] for line in report.splitlines()[4:]] == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("report.md").decode().strip() == report.strip()


def test_interpolation_batch_reports_a_bad_file_and_does_the_others(clips, tmp_path):
    from demos import interpolation
    from models import video_io

    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    files = [clips[0], str(bad), clips[2]]
    results, archive, report = interpolation.interpolate_video_batch(files, "factor", 2, 60, "dis_flow", **QUIET)
    assert len(results) == 2 and len(_zip_names(archive)) == 3
    assert all(abs(video_io.probe(r).fps - 16) < 0.01 for r in results)
    rows = report.splitlines()[4:]
    assert report.startswith("**2 of 3 files done**")
    assert "| notes.mp4 | failed |" in rows[1] and len(rows[1].split(" | ")[-1]) > 5  # the reason is given


def test_face_batch_three_photos(tmp_path, monkeypatch):
    from demos import face_sr

    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(tmp_path / "out"))
    from models import settings

    settings.reload()
    photos = sorted(str(p) for p in (ROOT / "examples" / "faces").glob("astronaut_*.jpg"))
    photos.append(str(ROOT / "examples" / "faces" / "astronaut_256.jpg"))  # the same photo twice: two results
    results, archive, report = face_sr.face_sr_batch(photos, "face_bicubic", 2, False, **QUIET)
    assert len(results) == 3 and len(set(results)) == 3
    for photo, result in zip(photos, results):
        w, h = Image.open(photo).size
        assert Image.open(result).size == (2 * w, 2 * h)
    assert len(_zip_names(archive)) == 4
    assert "2 face(s) restored" in report and report.count("1 face(s) restored") == 2


def test_batch_limits_come_from_the_settings(clips, monkeypatch):
    from demos import video_sr
    from models import settings

    monkeypatch.setenv("FRAMEFORGE_BATCH_FILES", "2")
    settings.reload()
    with pytest.raises(gr.Error, match=r"3 files is more than the 2 .*FRAMEFORGE_BATCH_FILES"):
        video_sr.video_sr_batch(clips, 2.0, 0, 2, "lanczos+dis", **QUIET)
    monkeypatch.setenv("FRAMEFORGE_BATCH_FILES", "10")
    monkeypatch.setenv("FRAMEFORGE_BATCH_MB", "0.001")
    settings.reload()
    with pytest.raises(gr.Error, match="FRAMEFORGE_BATCH_MB"):
        video_sr.video_sr_batch(clips, 2.0, 0, 2, "lanczos+dis", **QUIET)
    with pytest.raises(gr.Error, match="Upload one or more files"):
        video_sr.video_sr_batch([], 2.0, 0, 2, "lanczos+dis", **QUIET)
    monkeypatch.setenv("FRAMEFORGE_BATCH_FILES", "0")
    with pytest.raises(settings.SettingsError, match="FRAMEFORGE_BATCH_FILES"):
        settings.reload()
