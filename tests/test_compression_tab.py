"""The Compression tab as issue 33 item 12 found it: the importance choice follows a StyleGAN2 source (L1), the
samples' caption names the right sampler, the pruned samples say why they look like noise, the students carry
captions, the curves draw plain and SVS differently; and no misleading "pip install accelerate" (item 14)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_importance_and_caption_follow_the_source():
    from demos import compression

    radio, samples = compression.follow_source("bundled-stylegan2", "taylor")
    assert radio["value"] == "l1" and radio["interactive"] is False and "L1" in radio["info"]
    assert "DDIM" not in samples["label"] and "fixed z" in samples["label"]
    radio, samples = compression.follow_source("bundled", "l1")
    assert radio["interactive"] is True and "value" not in radio  # the user's choice stays
    assert "DDIM-20" in samples["label"] and "before fine-tuning" in samples["label"]


def test_gan_result_names_its_sampler_and_the_students_have_captions(tmp_path, monkeypatch):
    from demos import compression
    from models import settings

    monkeypatch.setenv("FRAMEFORGE_OUTPUT_DIR", str(tmp_path))
    settings.reload()
    stats, samples, spectra, archive, students = compression.compress("bundled-stylegan2", 0.5, "taylor", True,
                                                                      progress=lambda *a, **k: None)
    assert "l1 pruning at 50%" in stats and "fixed z, stored noise" in stats and "DDIM" not in stats
    assert "look like noise" in stats and "Fine-tuning recovers them" in stats
    captions = [c for _, c in students]
    assert all(isinstance(c, str) and "50 % pruned, fine-tuned" in c for c in captions)
    if (ROOT / "weights" / "svs_stylegan2").is_dir() and any((ROOT / "weights" / "svs_stylegan2").glob("*p50*.png")):
        assert sorted(captions) == ["50 % pruned, fine-tuned after SVS", "50 % pruned, fine-tuned without SVS (plain)"]


def test_ddpm_students_captions():
    from demos import compression

    students = compression._students("bundled", 0.5)
    assert sorted(students) == ["50 % pruned, fine-tuned after SVS", "50 % pruned, fine-tuned without SVS (plain)"]
    assert all(Path(p).is_file() for p in students.values())


def test_curves_draw_plain_dashed_and_svs_solid(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from models.pipelines.compress import convergence_plot, read_results

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    results = read_results(ROOT / "bench" / "results" / "svs_ddpm.json")
    convergence_plot(results, tmp_path / "curves.png")
    (ax,) = figures[0].axes
    lines = {line.get_label(): line for line in ax.get_lines() if "pruned" in line.get_label()}
    assert len(lines) == len(results["runs"]) == 6
    for label, line in lines.items():
        svs = "SVS" in label
        assert (line.get_linestyle() == "-") == svs and line.get_marker() == ("o" if svs else "s")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "30% pruned, plain (dashed)" in legend and "30% pruned, SVS (solid)" in legend
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_no_accelerate_warning_when_loading_a_generator(capfd, tmp_path):
    import importlib.util

    from models.svs.generators import from_folder, tiny_unet

    if importlib.util.find_spec("accelerate"):
        pytest.skip("accelerate is installed: diffusers has nothing to warn about")
    tiny_unet().save_pretrained(tmp_path / "generator")  # a diffusers folder: the from_pretrained path
    capfd.readouterr()
    from_folder(str(tmp_path / "generator"), roots=[tmp_path])
    out, err = capfd.readouterr()
    assert "accelerate" not in out + err
