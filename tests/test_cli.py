"""The batch command line (``python -m frameforge``) on real files, and the ZeroGPU durations the app asks for."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(*argv) -> int:
    from frameforge.__main__ import main

    return main([str(a) for a in argv])


@pytest.fixture
def clips(tmp_path):
    from tests.video_factory import make_test_video

    folder = tmp_path / "clips"
    folder.mkdir()
    make_test_video(folder / "a.mp4", n_frames=6, size=(48, 64), fps=10, audio=True)
    make_test_video(folder / "b.mp4", n_frames=4, size=(32, 48), fps=10, audio=False)
    return folder


def test_help_works_as_a_module():
    out = subprocess.run([sys.executable, "-m", "frameforge", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "video-sr" in out.stdout and "face-sr" in out.stdout


def test_video_sr_on_a_folder(clips, tmp_path, capsys):
    from models import video_io

    assert run("video-sr", clips, "-o", tmp_path / "out", "--scale", 2, "--time-factor", 2, "--model",
               "lanczos+dis") == 0
    a = video_io.probe(tmp_path / "out" / "a_x2_lanczos-dis.mp4")
    b = video_io.probe(tmp_path / "out" / "b_x2_lanczos-dis.mp4")
    assert (a.width, a.height, a.frame_count) == (128, 96, 11) and a.has_audio
    assert (b.width, b.height, b.frame_count) == (96, 64, 7)
    assert "a_x2_lanczos-dis.mp4" in capsys.readouterr().out


def test_a_bad_file_is_reported_and_the_others_done(clips, tmp_path, capsys):
    (clips / "broken.mp4").write_text("not a video")
    assert run("interpolate", clips, "-o", tmp_path / "out", "--fps", 20, "--model", "dis_flow") == 1
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err and "not a video file" in captured.err
    assert "1 of 3 input(s) failed" in captured.out
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == ["a_20fps_dis_flow.mp4", "b_20fps_dis_flow.mp4"]


def test_face_sr_and_svs_and_models(tmp_path, capsys):
    photo = ROOT / "examples" / "faces" / "astronaut_256.jpg"
    assert run("face-sr", photo, "-o", tmp_path / "faces", "--upscale", 2, "--model", "face_bicubic") == 0
    out = Image.open(tmp_path / "faces" / "astronaut_256_faces_x2.png")
    assert out.size == tuple(2 * s for s in Image.open(photo).size)
    assert run("svs-spectrum", "bundled", "-o", tmp_path / "svs") == 0
    assert (tmp_path / "svs" / "bundled_svs_spectrum.png").is_file()
    rows = (tmp_path / "svs" / "bundled_svs_spectrum.csv").read_text().splitlines()
    assert rows[0].startswith("layer,") and len(rows) > 2
    assert run("compress", "bundled", "-o", tmp_path / "c", "--ratio", 0.3, "--method", "l1") == 0
    from models import registry
    import zipfile

    with zipfile.ZipFile(tmp_path / "c" / "bundled_pruned30_svs.zip") as zf:
        zf.extractall(tmp_path / "c")
    pruned = registry.create("ddpm_pruned", folder=tmp_path / "c" / "bundled_pruned30_svs")
    assert 0.7 < sum(p.numel() for p in pruned.parameters()) / 1_112_801 < 0.9
    with pytest.raises(SystemExit) as info:  # a bad value is a bad argument: exit 2 (issue 35)
        run("compress", "bundled", "-o", tmp_path / "c", "--ratio", 0.99)
    assert info.value.code == 2
    capsys.readouterr()
    assert run("models", "vfi") == 0
    listing = capsys.readouterr().out
    assert "* vfi      rife" in listing and "MIT" in listing


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert run("video-sr", tmp_path / "missing.mp4", "-o", tmp_path / "out") == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert run("face-sr", tmp_path, "-o", tmp_path / "out") == 2  # a folder with no image
    assert run("interpolate", ROOT / "examples" / "videos", "-o", tmp_path / "o", "--model", "nope") == 2
    assert "unknown vfi model 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        run("video-sr", "--scale", "two")
    assert info.value.code == 2


def test_bad_values_exit_2_before_any_model_loads(tmp_path, capsys, monkeypatch):
    """Every bad number exits 2 while the arguments are parsed (the app's rule, models.checks.number): nothing is
    loaded, nothing written."""
    from models import registry

    loaded = []
    monkeypatch.setattr(registry, "get", lambda *a, **k: loaded.append(a) or pytest.fail("a model was loaded"))
    clip = ROOT / "examples" / "videos" / "bounce_sync_320x240.mp4"
    cases = [("compress", "bundled", "--ratio", "nan"), ("compress", "bundled", "--ratio", "inf"),
             ("video-sr", clip, "--scale", "0"), ("video-sr", clip, "--scale", "nan"),
             ("video-sr", clip, "--fps", "-5"), ("interpolate", clip, "--factor", "1e400"),
             ("interpolate", clip, "--fps", "999"), ("face-sr", clip, "--upscale", "9")]
    for command, *rest in cases:
        with pytest.raises(SystemExit) as info:
            run(command, *rest[:1], "-o", tmp_path / "out", *rest[1:])
        assert info.value.code == 2, (command, rest)
        err = capsys.readouterr().err
        assert f"argument {rest[1]}" in err and ("must be" in err), err
    assert "must be a finite number, got 'nan'" in (run_err := _err(capsys, "compress", "bundled", "-o",
                                                                      tmp_path / "o", "--ratio", "nan"))
    assert not loaded and not (tmp_path / "out").exists(), run_err


def _err(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        run(*argv)
    return capsys.readouterr().err


def test_output_that_is_a_file_exits_2(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    clip = ROOT / "examples" / "videos" / "bounce_sync_320x240.mp4"
    assert run("interpolate", clip, "-o", tmp_path / "taken", "--model", "blend") == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "x"


def test_result_names_same_stems_long_names_and_bidi(tmp_path, capsys):
    """Two inputs with the same stem keep both results; a 250-byte stem gives a name of at most 255 bytes; a
    right-to-left override never reaches a result's name; running again with -o = the input folder does not
    process the results of the first run."""
    from tests.video_factory import make_test_video

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    make_test_video(a / "clip.mp4", n_frames=4, size=(32, 48), fps=10, audio=False)
    make_test_video(b / "clip.mp4", n_frames=5, size=(32, 48), fps=10, audio=False)
    long = "é" * 125  # 250 bytes of UTF-8: the input name fits in 255 bytes, its result name would not
    make_test_video(a / f"{long}.mp4", n_frames=4, size=(32, 48), fps=10, audio=False)
    make_test_video(a / "evil\u202egnp.mp4", n_frames=4, size=(32, 48), fps=10, audio=False)
    out = tmp_path / "out"
    assert run("interpolate", a / "clip.mp4", b / "clip.mp4", a / f"{long}.mp4", a / "evil\u202egnp.mp4", "-o", out,
               "--factor", 2, "--model", "blend") == 0
    names = sorted(p.name for p in out.iterdir())
    assert "clip_x2_blend.mp4" in names and "clip_2_x2_blend.mp4" in names
    from models import video_io

    assert {video_io.probe(out / n).frame_count for n in ("clip_x2_blend.mp4", "clip_2_x2_blend.mp4")} == {7, 9}
    assert all(len(n.encode()) <= 255 for n in names) and any(n.startswith("é" * 100) for n in names)
    assert "evilgnp_x2_blend.mp4" in names and not any("\u202e" in n for n in names)
    capsys.readouterr()
    # -o = the input folder, twice: the second run does not take the first run's results as inputs
    solo = tmp_path / "solo"
    solo.mkdir()
    make_test_video(solo / "s.mp4", n_frames=4, size=(32, 48), fps=10, audio=False)
    assert run("interpolate", solo, "-o", solo, "--factor", 2, "--model", "blend") == 0
    assert run("interpolate", solo, "-o", solo, "--factor", 2, "--model", "blend") == 0
    assert sorted(p.name for p in solo.iterdir()) == ["s.mp4", "s_x2_blend.mp4"]
    assert "skipping" in capsys.readouterr().err


def test_limits_follow_the_real_frame_times_and_the_encoder(tmp_path, capsys):
    """A clip whose header says 0.2 s while its frames span 25 s is held to the output-frame limit by its real
    length; a result wider than the encoder takes is refused by name (not a library error)."""
    from tests.test_hardening import short_header
    from tests.video_factory import make_test_video

    clip = make_test_video(tmp_path / "long.mp4", n_frames=250, fps=10, audio=False)
    lying = short_header(clip, tmp_path / "lying.mp4")
    assert run("interpolate", lying, "-o", tmp_path / "out", "--factor", 8, "--model", "blend") == 1
    err = capsys.readouterr().err
    assert "2001 frames; the limit is 1800" in err and not list((tmp_path / "out").iterdir())
    wide = make_test_video(tmp_path / "wide.mp4", n_frames=3, size=(16, 4000), fps=10, audio=False)
    assert run("video-sr", wide, "-o", tmp_path / "w", "--scale", 8, "--time-factor", 1, "--model",
               "lanczos+dis") == 1
    assert "32000x128 pixels; the video encoder takes at most 16384" in capsys.readouterr().err


def test_zerogpu_durations_follow_the_job(monkeypatch):
    """With the `spaces` package in ZeroGPU mode every handler asks for a duration computed from its inputs: small
    jobs the floor, long ones more, never above the cap."""
    from models import device

    recorded = {}

    class FakeSpaces:
        @staticmethod
        def GPU(duration):  # noqa: N802 (the spaces API)
            def wrap(fn):
                recorded[fn.__name__] = duration

                def run(*a, **k):
                    return fn(*a, **k)

                return run

            return wrap

    monkeypatch.setattr(device, "_spaces", FakeSpaces)
    import demos.face_sr
    import demos.interpolation
    import demos.video_sr

    for mod in (demos.video_sr, demos.interpolation, demos.face_sr):
        importlib.reload(mod)
    try:
        assert set(recorded) == {"video_sr_segment", "compare", "interpolate_pair", "interpolate_video_segment",
                                 "face_sr", "face_compare"}  # the handlers are named after their endpoints
        short = ROOT / "examples" / "videos" / "bounce_sync_320x240.mp4"
        # video jobs run in segments, one call each, asking for the duration planned from the cost model (the plans
        # and the calls themselves: tests/test_segments.py)
        from types import SimpleNamespace

        from demos.common import segment_duration

        assert segment_duration(0.1) == 20 and segment_duration(40.0) == 70 and segment_duration(1e4) == 300
        for name in ("video_sr_segment", "interpolate_video_segment"):
            seg = SimpleNamespace(gpu_duration=segment_duration(40.0))
            assert recorded[name](None, seg, 0.0, "rife", "part") == 70
        c = recorded["compare"]
        pair = c(str(short), 8.0, 0, 8, "basicvsr+rife", "lanczos+dis", 10)
        assert 20 <= c(str(short), 8.0, 0, 8, "basicvsr+rife", "lanczos+dis", 0.5) <= pair <= 300
        assert c(None, 2.0, 0, 2, "basicvsr+rife", "lanczos+dis", 2) >= 20
        f = recorded["face_sr"]
        assert 20 <= f(np.zeros((10, 10, 3)), "face_bicubic", 1, False) <= f(None, "face_bicubic", 4, False) <= 120
        assert f(None, "face_bicubic", 2, False) < f(None, "face_bicubic", 2, False, True) <= 120  # BasicVSR background
        fc = recorded["face_compare"]
        assert 20 <= fc(None, 1, False) <= fc(None, 4, False) <= 120
    finally:
        monkeypatch.undo()
        for mod in (demos.video_sr, demos.interpolation, demos.face_sr):
            importlib.reload(mod)
