"""The benchmark commands on tiny synthetic data: data discovery, known-answer scores and the JSON fields."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import common, stvsr, vfi

pytestmark = pytest.mark.slow  # runs the benchmark commands (conftest.py)


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _flat(v, h=24, w=32):
    return np.full((h, w, 3), v, np.uint8)


def _make_vfi(root, layout):
    # frame0 = 0, frame1 = 100, truth = 60: blend gives 50, so MSE = 100 and PSNR = 10 log10(255^2 / 100)
    for k in range(2):
        if layout == "middlebury":
            _save(root / "input" / f"seq{k}" / "frame10.png", _flat(0))
            _save(root / "input" / f"seq{k}" / "frame11.png", _flat(100))
            _save(root / "gt" / f"seq{k}" / "frame10i11.png", _flat(60))
        else:
            _save(root / str(k + 1) / "frame0.png", _flat(0))
            _save(root / str(k + 1) / "frame1.png", _flat(60))
            _save(root / str(k + 1) / "frame2.png", _flat(100))


@pytest.mark.parametrize("layout", ["middlebury", "numbered"])
def test_bench_vfi_both_layouts(tmp_path, layout, capsys):
    data = tmp_path / "data"
    _make_vfi(data, layout)
    assert len(common.vfi_triplets(data)) == 2
    out = tmp_path / "r.json"
    assert vfi.main(["--data", str(data), "--models", "blend,dis_flow", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert {"protocol", "machine", "data", "results"} <= set(rep)
    assert [r["model"] for r in rep["results"]] == ["blend", "dis_flow"]
    for r in rep["results"]:
        assert {"model", "psnr", "ssim", "ms_per_frame", "n"} <= set(r)
        assert r["n"] == 2 and r["ms_per_frame"] > 0
    blend = rep["results"][0]
    assert blend["psnr"] == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-9)
    assert "| blend |" in capsys.readouterr().out


def test_bench_vfi_bad_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(common.DataError):
        common.vfi_triplets(tmp_path / "empty")
    assert vfi.main(["--data", str(tmp_path / "empty"), "--models", "blend"]) == 2


def test_bench_vfi_skips_wrong_task(tmp_path, capsys):
    data = tmp_path / "data"
    _make_vfi(data, "numbered")
    rep = vfi.run(str(data), ["lanczos", "no-such-model", "blend"])
    assert [r["model"] for r in rep["results"]] == ["blend"]
    assert "skip lanczos" in capsys.readouterr().out


def test_stvsr_plan():
    assert stvsr.plan(6, 2) == [(0, 2, [0.0, 0.5]), (2, 4, [0.0, 0.5, 1.0])]  # frame 5 is after the last anchor
    assert stvsr.plan(9, 4) == [(0, 4, [0.0, 0.25, 0.5, 0.75]), (4, 8, [0.0, 0.25, 0.5, 0.75, 1.0])]
    assert stvsr.plan(1, 2) == [(0, 0, [0.0])]
    assert stvsr.plan(3, 1) == [(0, 1, [0.0]), (1, 2, [0.0, 1.0])]


def test_stvsr_crop_and_degrade():
    f = np.zeros((50, 43, 3), np.uint8)
    assert stvsr.hr_crop(f, 4).shape == (48, 40, 3)
    assert stvsr.hr_crop(f, 2.5).shape == f.shape
    assert stvsr.degrade(stvsr.hr_crop(f, 4), 4).shape == (12, 10, 3)
    assert stvsr.lr_size((50, 40), 2.5) == (20, 16)


def _make_video(root, n, h=40, w=56):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h + 20, w + 20, 3)).astype(np.float32)
    import cv2

    base = cv2.GaussianBlur(base, (0, 0), 3)
    base = np.clip((base - base.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    for seq in ("a", "b"):
        for i in range(n):  # a pan of one pixel per frame
            _save(root / seq / f"{i:05d}.png", base[5:5 + h, i:i + w])


@pytest.mark.parametrize("space,time_scale,n,unscored", [(4, 2, 6, 1), (2.5, 4, 9, 0)])
def test_bench_stvsr_json(tmp_path, space, time_scale, n, unscored):
    data = tmp_path / "video"
    _make_video(data, n)
    out = tmp_path / "s.json"
    argv = ["--data", str(data), "--space", str(space), "--time", str(time_scale), "--models", "lanczos+dis",
            "--json", str(out)]
    assert stvsr.main(argv) == 0
    rep = json.loads(out.read_text())
    assert {"protocol", "machine", "data", "space", "time", "results"} <= set(rep)
    assert rep["space"] == space and rep["time"] == time_scale
    (r,) = rep["results"]
    assert {"model", "psnr_y", "psnr_y_anchor", "psnr_y_interp", "ssim_y", "ms_per_output_frame"} <= set(r)
    scored = n - unscored
    assert r["frames"] == 2 * scored and r["unscored"] == 2 * unscored
    seq = r["sequences"][0]
    assert seq["anchors"] == len(range(0, n, time_scale))
    assert seq["size"] == list(stvsr.hr_crop(np.zeros((40, 56, 3)), space).shape[:2])
    assert 15 < r["psnr_y_interp"] < 60 and 15 < r["psnr_y_anchor"] < 60 and 0 < r["ssim_y"] <= 1
    assert min(r["psnr_y_anchor"], r["psnr_y_interp"]) <= r["psnr_y"] <= max(r["psnr_y_anchor"], r["psnr_y_interp"])


def test_bench_stvsr_max_frames(tmp_path):
    data = tmp_path / "video"
    _make_video(data, 7)
    rep = stvsr.run(str(data), 2, 2, ["lanczos+dis"], max_frames=3)
    assert rep["data"]["frames"] == [3, 3] and rep["results"][0]["frames"] == 6


def test_bench_stvsr_table_runs_every_setting_in_one_report(tmp_path):
    """bench.stvsr_table: one JSON with each setting's full bench.stvsr report (same models), one markdown table with
    a row per model and a cell per setting; malformed settings are refused with the reason."""
    from bench import stvsr_table

    data = tmp_path / "video"
    _make_video(data, 5)
    out = tmp_path / "t.json"
    argv = ["--settings", f"{data}:2:2,{data}:4:4", "--models", "lanczos+dis,bicubic+dis", "--max-frames", "5",
            "--threads", "1", "--json", str(out)]
    assert stvsr_table.main(argv) == 0
    rep = json.loads(out.read_text())
    assert [(r["space"], r["time"]) for r in rep["settings"]] == [(2, 2), (4, 4)]
    for r in rep["settings"]:
        assert [x["model"] for x in r["results"]] == ["lanczos+dis", "bicubic+dis"]
        assert r == {**r, "protocol": stvsr.PROTOCOL}
    md = out.with_suffix(".md").read_text()
    assert "video x2/x2" in md and "video x4/x4" in md
    row = next(line for line in md.splitlines() if line.startswith("| lanczos+dis"))
    first = rep["settings"][0]["results"][0]
    assert f"{first['psnr_y']:.2f} / {first['psnr_y_interp']:.2f}" in row
    for bad in (f"{data}:2", f"{data}:x:2", f"{data}:2:0"):
        assert stvsr_table.main(["--settings", bad, "--models", "lanczos+dis", "--json", str(out)]) == 2


def test_vfi_speed_builds_widths_and_rejects_unknown_ids():
    """bench.vfi_speed: name@W builds that network at width W (random weights); bad ids give the reason."""
    import numpy as np

    from bench.vfi_speed import build

    model = build("sf_adacof@0.25")
    assert model.net.get_kernel.moduleConv1[0].out_channels == 2  # 16 * 0.25 - 2
    f = np.zeros((40, 56, 3), np.uint8)
    assert model.interpolate(f, f, [0.5])[0].shape == (40, 56, 3)
    assert build("blend").interpolate(f, f, [0.5])[0].shape == (40, 56, 3)
    with pytest.raises(ValueError, match="only adacof@W and sf_adacof@W"):
        build("dis_flow@1.0")
    with pytest.raises(ValueError, match="not available"):
        build("no_such_model")


def test_pipeline_speed_child_streams_a_clip():
    from bench.stvsr_pipeline_speed import child

    res = child({"model": "lanczos+dis", "size": "480p", "anchors": 3})
    assert res["frames"] == 5 and res["ms_per_frame"] > 0 and res["rss_growth_mb"] >= 0


def test_readme_documents_every_setting():
    from models import settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for var in settings.VARIABLES:
        assert f"| `{var.name}` | {var.default} |" in readme, var.name
