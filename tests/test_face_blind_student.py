"""The light blind face student (models/face/blind.py BlindStudent; registry ids face_student / face_student_nokd, first
shipped as face_blind_student / face_blind_student_nokd) and its distillation script (train/face_blind.py) on a tiny
cache written here."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.face.blind import BlindStudent, BlindStudentRestorer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_student_is_light_works_at_low_resolution_and_starts_as_bicubic():
    net = BlindStudent().eval()
    assert sum(p.numel() for p in net.parameters()) <= 1_500_000
    x = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 3, 48, 80)
    bicubic = torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.equal(y, bicubic)  # zero tail: step 0 is the bicubic skip


def test_restorer_reduces_large_crops_and_returns_the_size_asked():
    r = BlindStudentRestorer().eval()
    face = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert r.restore(face, 64).shape == (64, 64, 3)
    big = np.asarray(Image.fromarray(face).resize((64, 64), Image.Resampling.NEAREST))
    assert np.array_equal(r.restore(big, 64), r.restore(face, 64))  # box 64 -> 16 gives the face back
    assert r.restore(face, 100).shape == (100, 100, 3)


def _tiny_cache(path, n=18):
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (n, 40, 40, 3), dtype=np.uint8)
    hr = lr.repeat(4, 1).repeat(4, 2)  # the target is the nearest x4 of the input
    np.savez(path, names=np.array([f"f{i}" for i in range(n)]), sides=np.full(n, 160), lr_160=lr, teacher_160=hr,
             truth_160=255 - hr, index_160=np.arange(n))


def test_batches_pair_each_low_res_crop_with_its_target(tmp_path):
    from train.face_blind import _batch, _load

    _tiny_cache(tmp_path / "c.npz")
    train, val = _load(tmp_path / "c.npz", "teacher")
    assert len(val) == 2 and len(train) == 16  # faces 0 and 16 held out
    x, y = _batch(train, np.random.default_rng(1), size=4, crop=32)
    assert x.shape == (4, 3, 32, 32) and y.shape == (4, 3, 128, 128)
    assert torch.equal(x.repeat_interleave(4, 2).repeat_interleave(4, 3), y)  # crops aligned (flips included)
    _, val_truth = _load(tmp_path / "c.npz", "truth")
    assert np.array_equal(val_truth[0][1], 255 - val[0][1])


@pytest.mark.slow  # a training command end to end
def test_a_short_training_run_learns_and_exports_a_loadable_student(tmp_path, monkeypatch):
    import train.face_blind as fb
    from models import weights

    _tiny_cache(tmp_path / "c.npz")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    first = fb.train(tmp_path / "c.npz", "teacher", 1, tmp_path / "run", val_every=1, batch=2)
    later = fb.train(tmp_path / "c.npz", "teacher", 30, tmp_path / "run2", export="tiny", val_every=30, batch=2)
    assert later["best_val_l1"] < first["best_val_l1"]
    r = BlindStudentRestorer()
    r.load_state_dict(weights.load_state_dict(tmp_path / "tiny.safetensors"), strict=True)


def test_face_student_ids_are_the_blind_student_and_the_old_ids_are_retired_aliases(capsys, tmp_path):
    """face_student / face_student_nokd load the BlindStudent weights strictly, with cards that keep the data terms,
    licence and commands; face_blind_student / face_blind_student_nokd are retired (not offered, the CLI says why)
    and load the same files; the SFT student and the dictionary teacher are retired, perceptual SFT stays offered."""
    from frameforge.__main__ import main as cli
    from models import registry
    from models.weights import WEIGHTS_DIR, load_state_dict

    offered = registry.ids("face")
    assert {"face_student", "face_student_nokd", "face_student_perceptual", "dfdnet_official"} <= set(offered)
    for mid in ("face_blind_student", "face_blind_student_nokd", "face_teacher", "face_sft_student",
                "face_sft_student_nokd"):
        assert mid not in offered and registry.retired_reason(mid)
    assert "renamed face_student" in registry.retired_reason("face_blind_student")
    for new, old in (("face_student", "face_blind_student"), ("face_student_nokd", "face_blind_student_nokd")):
        spec = registry.spec(new)
        assert spec.weights == registry.spec(old).weights and spec.card == registry.spec(old).card == f"{new}.md"
        state = load_state_dict(WEIGHTS_DIR / spec.weights.bundled)
        a, b = registry.create(new), registry.create(old)
        assert isinstance(a, BlindStudentRestorer) and isinstance(b, BlindStudentRestorer)
        for k, v in a.net.state_dict().items():
            assert torch.equal(v, state[k].float()) and torch.equal(v, b.net.state_dict()[k])
        card = spec.card_text()
        assert "non-commercial" in card and "BSD-3" in card.replace("BSD-3-Clause", "BSD-3")
        assert "python -m train.face_blind" in card and "python -m bench.face" in card
    a, b = registry.create("face_student"), registry.create("face_student_nokd")
    assert any(not torch.equal(v, b.net.state_dict()[k]) for k, v in a.net.state_dict().items())  # two trainings
    photo = str(tmp_path / "none.png")
    assert cli(["face-sr", photo, "-o", str(tmp_path / "out"), "--model", "face_blind_student"]) == 2
    assert "'face_blind_student' is retired (renamed face_student" in capsys.readouterr().err
