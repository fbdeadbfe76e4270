"""The command line's video side of issue 33 on real files: an image pair from two PNGs, PNG sequences (zip and
folder) in and out, output settings, loop, and the Video SR time factor defaulting to the tab's (2)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models import video_io


def run(*argv) -> int:
    from frameforge.__main__ import main

    return main([str(a) for a in argv])


def frames(n=5, h=48, w=64):
    rng = np.random.default_rng(0)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (h // 4, w // 4, 3)).astype(np.uint8)).resize((w, h)))
    return [np.roll(base, 2 * i, axis=1) for i in range(n)]


def test_image_pair_from_two_pngs(tmp_path, capsys):
    a, b = frames(2)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    assert run("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out", "--frames", 3,
               "--model", "blend") == 0
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["a_b_3frames_blend.mp4", "a_b_t0.2500_blend.png", "a_b_t0.5000_blend.png",
                   "a_b_t0.7500_blend.png"]
    middle = np.asarray(Image.open(tmp_path / "out" / "a_b_t0.5000_blend.png")).astype(int)
    assert np.abs(middle - (a.astype(int) + b) / 2).max() <= 1  # the blend's midpoint
    assert video_io.probe(tmp_path / "out" / "a_b_3frames_blend.mp4").frame_count == 5
    assert "t = 0.5" in capsys.readouterr().out


def test_png_folder_in_and_out_is_frame_exact_and_zip_in_h265(tmp_path, capsys):
    seq = frames(5)
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, f in enumerate(seq):
        Image.fromarray(f).save(folder / f"img{i + 1}.png")  # natural order: img1 ... img5
    assert run("interpolate", folder, "-o", tmp_path / "out", "--factor", 1, "--input-fps", 10,
               "--codec", "png-folder", "--model", "blend") == 0
    (made,) = [p for p in (tmp_path / "out").iterdir()]
    back = [f.image for f in video_io.iter_frames(made)]  # the folder's frameforge.json has the rate
    assert len(back) == 5 and all(np.array_equal(x, y) for x, y in zip(seq, back))
    # a zip of PNG frames through video-sr, H.265 CRF 30, 10-bit
    with video_io.open_writer(tmp_path / "seq.zip", 10, codec="png-zip") as w:
        for f in seq:
            w.write(f)
    assert run("video-sr", tmp_path / "seq.zip", "-o", tmp_path / "sr", "--input-fps", 10, "--codec", "h265",
               "--crf", 30, "--bit-depth", 10, "--model", "lanczos+dis") == 0
    (out,) = [p for p in (tmp_path / "sr").iterdir()]
    info = video_io.probe(out)
    assert (info.codec, info.bit_depth, info.width, info.frame_count) == ("hevc", 10, 128, 9)  # x2 time: default
    assert b"crf=30.0" in out.read_bytes()
    assert "H.265/HEVC (libx265) CRF 30" in capsys.readouterr().out


def test_video_sr_time_factor_default_is_the_tabs(tmp_path):
    from tests.video_factory import make_test_video

    make_test_video(tmp_path / "c.mp4", n_frames=6, size=(32, 48), fps=10, audio=False)
    assert run("video-sr", tmp_path / "c.mp4", "-o", tmp_path / "o", "--model", "lanczos+dis") == 0
    assert video_io.probe(tmp_path / "o" / "c_x2_lanczos-dis.mp4").frame_count == 11  # x2 in time, as the tab
    from demos import video_sr  # noqa: F401  (the tab's default lives in its Dropdown: value=2)
    from frameforge.__main__ import parser

    assert parser().parse_args(["video-sr", "x.mp4", "-o", "o"]).time_factor == 2.0


def test_loop_and_bad_settings(tmp_path, capsys):
    from tests.video_factory import make_test_video

    make_test_video(tmp_path / "c.mp4", n_frames=6, size=(32, 48), fps=10, audio=False)
    assert run("interpolate", tmp_path / "c.mp4", "-o", tmp_path / "o", "--loop", "--codec", "ffv1",
               "--model", "blend") == 0
    (out,) = [p for p in (tmp_path / "o").iterdir()]
    assert out.name == "c_x2_loop_blend.mkv" and video_io.probe(out).frame_count == 12
    assert run("interpolate", tmp_path / "c.mp4", "-o", tmp_path / "o2", "--crf", 70, "--model", "blend") == 1
    assert "crf must be in 0..51" in capsys.readouterr().err
