"""Face SR: MTCNN detection, FFHQ alignment, paste-back, the whole-photo pipeline, the benchmark and the tab handler."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.metrics import psnr
from models import registry
from models.face.align import BORDER_GREY, align_face, template
from models.face.baselines import BicubicFaceRestorer, LanczosFaceRestorer
from models.face.mtcnn import detect_faces, weight_files
from models.face.paste import face_mask, inverse_affine, lanczos_upscale, paste_faces
from models.pipelines.face_photo import NoFaceFound, restore_photo
from models.weights import WeightsUnavailable

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FACES = SHARED / "data" / "faces_train" / "celebahq_b"  # 512 px aligned training faces (never an *_eval folder)
# bicubic on the first 2 faces of faces_train/celebahq_b, measured with bench.face (x4 / x8)
BICUBIC_2FACES = {4: 30.90, 8: 27.97}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skdata = pytest.importorskip("skimage.data")
    return skdata.astronaut()  # 512x512 RGB, one face


@pytest.fixture(scope="module")
def face_models():
    """The two weight-free face restorers, from the registry."""
    have = registry.ids("face")
    assert {"face_bicubic", "face_lanczos"} <= set(have), have
    return ["face_bicubic", "face_lanczos"]


class ConstantRestorer:
    """Returns a flat colour: shows exactly where a restored face lands."""

    def __init__(self, colour=(255, 0, 0)):
        self.colour = np.array(colour, np.uint8)

    def restore(self, face, out_size):
        return np.broadcast_to(self.colour, (out_size, out_size, 3)).copy()


# ------------------------------------------------------------------------------------------------- detector --
def test_detector_finds_the_astronaut_with_plausible_landmarks(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.95
    x1, y1, x2, y2 = f.box
    assert 165 < x1 < 200 and 45 < y1 < 80 and 250 < x2 < 290 and 160 < y2 < 200  # her face, by eye
    le, re, nose, ml, mr = f.landmarks
    assert le[0] < re[0] and ml[0] < mr[0]  # left features left of right ones
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])  # eyes above nose above mouth
    assert np.all((f.landmarks[:, 0] > x1) & (f.landmarks[:, 0] < x2))
    assert np.all((f.landmarks[:, 1] > y1) & (f.landmarks[:, 1] < y2))
    assert 35 < re[0] - le[0] < 55  # interocular distance in pixels


def test_detector_no_face_in_flat_or_noise_and_tiny_images():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((120, 160, 3), 128, np.uint8)) == []
    assert detect_faces(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)) == []
    assert detect_faces(np.zeros((8, 8, 3), np.uint8)) == []  # below P-Net's 12 px window


def test_detector_weights_come_through_the_weight_loader(monkeypatch, tmp_path):
    import shutil

    monkeypatch.setenv("FRAMEFORGE_MTCNN_DIR", str(tmp_path))
    files = weight_files()  # an empty folder: falls back to the installed package
    assert [f.name for f in files] == ["pnet.onnx", "rnet.onnx", "onet.onnx"] and tmp_path not in files[0].parents
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    assert weight_files()[2] == tmp_path / "onet.onnx"  # the folder named by the variable comes first
    (tmp_path / "onet.onnx").unlink()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(WeightsUnavailable, match="FRAMEFORGE_MTCNN_DIR"):
        weight_files()


# ------------------------------------------------------------------------------------------------ alignment --
def test_alignment_recovers_a_known_similarity():
    """Warp a crop into a 'photo' by a known similarity; aligning the photo must give the crop back."""
    yy, xx = np.mgrid[0:512, 0:512] / 512.0
    crop = np.stack([128 + 100 * np.sin(6 * xx + 2 * yy), 128 + 100 * np.cos(5 * yy - xx),
                     128 + 80 * np.sin(3 * (xx + yy))], axis=2).astype(np.uint8)  # smooth texture
    angle, scale, t = math.radians(25.0), 0.7, np.array([180.0, 60.0])
    m = np.array([[scale * math.cos(angle), -scale * math.sin(angle), t[0]],
                  [scale * math.sin(angle), scale * math.cos(angle), t[1]]])  # crop -> photo
    photo = cv2.warpAffine(crop, m, (640, 560), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    landmarks = template(512) @ m[:, :2].T + m[:, 2]
    back, affine = align_face(photo, landmarks, 256)
    expected = cv2.invertAffineTransform(m) * 0.5  # photo -> 256 crop
    np.testing.assert_allclose(affine, expected, atol=1e-3 * 256)
    ref = np.asarray(Image.fromarray(crop).resize((256, 256), Image.Resampling.BILINEAR))
    assert psnr(back[16:-16, 16:-16], ref[16:-16, 16:-16]) > 30


def test_alignment_fills_the_border_grey(astronaut):
    face = detect_faces(astronaut)[0]
    crop, _ = align_face(astronaut[:150], face.landmarks, 128)  # cut below the mouth: the chin is off-image
    assert tuple(crop[-1, 64]) == BORDER_GREY


# ------------------------------------------------------------------------------------------------ paste-back --
def test_mask_is_one_on_the_face_and_zero_outside():
    affine = np.array([[2.0, 0.0, -100.0], [0.0, 2.0, -60.0]])  # photo -> 128 crop: crop covers photo [50,114)x[30,94)
    inv = inverse_affine(affine, 2.0)
    mask = face_mask(128, inv, (300, 400), 2.0)
    assert mask.shape == (300, 400)
    assert mask[124, 164] == pytest.approx(1.0)  # centre of the face (photo 82, 62) x2
    assert mask[:55].max() == 0 and mask[:, :95].max() == 0  # outside the face square at x2 (60..188, 100..228)
    assert mask[195:].max() == 0 and mask[:, 235:].max() == 0


def test_paste_back_lands_on_the_face_and_leaves_the_rest(astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    face = detect_faces(small)[0]
    crop, affine = align_face(small, face.landmarks, 64)
    out = paste_faces(small, [(np.full((512, 512, 3), (255, 0, 0), np.uint8), affine * 8)], 2.0)
    plain = lanczos_upscale(small, (512, 512))
    nose = np.round(face.landmarks[2] * 2 + 0.5).astype(int)
    assert tuple(out[nose[1], nose[0]]) == (255, 0, 0)
    np.testing.assert_array_equal(out[400:], plain[400:])  # far from the face: the plain upscale


def test_paste_back_of_a_plain_resize_is_close_to_the_plain_upscale(astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    result = restore_photo(small, BicubicFaceRestorer(), upscale=2)
    assert result.image.shape == (512, 512, 3)
    assert psnr(result.image, lanczos_upscale(small, (512, 512))) > 33


# ------------------------------------------------------------------------------------------------ pipeline --
def test_pipeline_finds_the_face_and_returns_crops(astronaut):
    result = restore_photo(astronaut, ConstantRestorer(), upscale=1.5, face_size=256)
    assert result.image.shape == (768, 768, 3) and not result.aligned
    assert len(result.faces) == 1
    f = result.faces[0]
    assert f.crop_after.shape == (256, 256, 3)
    side = f.crop_input.shape[0]  # the face's own resolution in the photo (about 200 px in the 512 px astronaut)
    assert f.crop_input.shape == (side, side, 3) and 100 <= side <= 256
    nose = np.round(f.landmarks[2] * 1.5 + 0.25).astype(int)
    assert tuple(result.image[nose[1], nose[0]]) == (255, 0, 0)


def test_no_face_raises_no_face_found():
    rng = np.random.default_rng(1)
    with pytest.raises(NoFaceFound):
        restore_photo(np.full((200, 300, 3), 90, np.uint8), BicubicFaceRestorer())
    with pytest.raises(NoFaceFound):
        restore_photo(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8), BicubicFaceRestorer())
    with pytest.raises(NoFaceFound):
        restore_photo(np.full((128, 128, 3), 90, np.uint8), BicubicFaceRestorer(), aligned=False)
    with pytest.raises(ValueError, match="blank"):  # and a flat square is no face, even when called a crop
        restore_photo(np.full((128, 128, 3), 90, np.uint8), BicubicFaceRestorer(), aligned=True)


def test_aligned_mode_only_when_asked():
    rng = np.random.default_rng(2)
    crop = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (128, 128))  # no detectable face
    with pytest.raises(NoFaceFound):  # unticked means "detect": no face, no result
        restore_photo(crop, BicubicFaceRestorer(), upscale=4)
    explicit = restore_photo(crop, ConstantRestorer(), upscale=2, aligned=True)
    assert explicit.aligned and explicit.image.shape == (256, 256, 3) and np.all(explicit.image == (255, 0, 0))


def test_grayscale_and_rgba_photos(astronaut):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    r = restore_photo(gray, BicubicFaceRestorer(), upscale=1)
    assert r.image.shape == (512, 512, 3) and len(r.faces) == 1
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 200, np.uint8)])
    r = restore_photo(rgba, BicubicFaceRestorer(), upscale=1)
    assert r.image.shape == (512, 512, 3) and len(r.faces) == 1


@pytest.mark.parametrize("upscale", [0, 0.5, 10, float("nan"), "x"])
def test_bad_upscale_raises(upscale):
    with pytest.raises(ValueError, match="upscale"):
        restore_photo(np.full((64, 64, 3), 90, np.uint8), BicubicFaceRestorer(), upscale=upscale)


def test_size_guards():
    with pytest.raises(ValueError, match="too small"):
        restore_photo(np.zeros((10, 40, 3), np.uint8), BicubicFaceRestorer())
    with pytest.raises(ValueError, match="MP"):
        restore_photo(np.zeros((3000, 4100, 3), np.uint8), BicubicFaceRestorer())
    with pytest.raises(ValueError, match="uint8"):
        restore_photo(np.zeros((64, 64, 3), np.float32), BicubicFaceRestorer())


# ------------------------------------------------------------------------------------------------- baselines --
def test_baseline_restorers_match_pil():
    rng = np.random.default_rng(2)
    face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(face).resize((256, 256), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(BicubicFaceRestorer().restore(face, 256), ref)
    assert LanczosFaceRestorer().restore(face, 256).shape == (256, 256, 3)


# ------------------------------------------------------------------------------------------------ benchmark --
@pytest.mark.slow  # the benchmark
@pytest.mark.parametrize("scale", [4, 8])
def test_bench_face_on_two_faces(scale, face_models):
    if not FACES.is_dir():
        pytest.skip(f"training faces not found at {FACES}")
    from bench import face as bench_face

    report = bench_face.run(str(FACES), scale, face_models, threads=1, limit=2, isolate=(scale == 4))
    rows = {r["model"]: r for r in report["results"]}
    assert report["data"]["lr_size"] == 512 // scale and report["data"]["faces"] == 2
    assert abs(rows["face_bicubic"]["psnr"] - BICUBIC_2FACES[scale]) < 0.5
    assert rows["face_lanczos"]["psnr"] > rows["face_bicubic"]["psnr"]  # Lanczos is sharper on faces
    assert 0 < rows["face_bicubic"]["ssim"] < 1 and rows["face_bicubic"]["peak_mb"] >= 0
    assert rows["face_bicubic"]["fd_effnet"] > 0


@pytest.mark.slow  # the benchmark command
def test_bench_face_cli_writes_json(face_models, tmp_path):
    if not FACES.is_dir():
        pytest.skip(f"training faces not found at {FACES}")
    import json

    from bench import face as bench_face

    out = tmp_path / "r.json"
    assert bench_face.main(["--data", str(FACES), "--scale", "8", "--models", "face_bicubic", "--limit", "1",
                            "--in-process", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert set(payload) >= {"protocol", "machine", "results"}
    assert set(payload["results"][0]) >= {"model", "psnr", "ssim", "fd_effnet", "identity", "ms_per_face", "peak_mb"}


# ------------------------------------------------------------------------------------------------------ tab --
def test_tab_handler(astronaut, face_models):
    gr = pytest.importorskip("gradio")
    from demos import face_sr

    small = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)
    photo, gallery, slider, info = face_sr.face_sr(small, "face_bicubic", 2, False, progress=lambda *a, **k: None)
    assert np.asarray(Image.open(photo)).shape == (400, 400, 3) and len(info["faces"]) == 1
    assert [c for _, c in gallery] == ["face 1: input (pixels enlarged)", "face 1: restored (score "
                                       f"{info['faces'][0]['score']:.3f})"]
    before, after = (np.asarray(Image.open(p)) for p in slider)
    assert before.shape == after.shape == (512, 512, 3)
    assert len(np.unique(before.reshape(-1, 3)[:64], axis=0)) < 64  # nearest enlargement: blocks of equal pixels
    with pytest.raises(gr.Error):
        face_sr.face_sr(None, "face_bicubic", 2, False, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="upscale"):
        face_sr.face_sr(small, "face_bicubic", 9, False, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="no face"):
        face_sr.face_sr(np.full((100, 300, 3), 7, np.uint8), "face_bicubic", 2, False,
                            progress=lambda *a, **k: None)


def test_tab_builds(face_models):
    gr = pytest.importorskip("gradio")
    from demos import face_sr

    assert getattr(face_sr.face_sr, "__wrapped__", None) is not face_sr.face_sr  # would hang gradio
    with gr.Blocks() as demo:
        face_sr.build()
    names = [d.api_name for d in demo.fns.values()]
    assert "face_sr" in names and "face_compare" in names


def test_pretrained_background_upscaler_and_its_limit():
    from models.pipelines.face_photo import (MAX_PRETRAINED_BACKGROUND_PIXELS, background_upscaler,
                                             pretrained_background)

    assert background_upscaler("lanczos") is lanczos_upscale
    with pytest.raises(ValueError, match="background must be one of lanczos, basicvsr"):
        background_upscaler("bicubic")

    class Upscaler:
        def __init__(self):
            self.calls = []

        def upscale(self, image, size):
            self.calls.append((image.shape, size))
            return np.zeros((*size, 3), np.uint8)

    up = Upscaler()
    run = pretrained_background(up)
    assert run(np.zeros((20, 30, 3), np.uint8), (40, 60)).shape == (40, 60, 3)
    assert up.calls == [((20, 30, 3), (40, 60))]
    side = int(MAX_PRETRAINED_BACKGROUND_PIXELS ** 0.5) + 1
    with pytest.raises(ValueError, match="up to 1 MP"):
        run(np.zeros((side, side, 3), np.uint8), (2 * side, 2 * side))
    # through the pipeline (an aligned crop): the restored 512 face is brought to 2x the input by the upscaler
    crop = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    photo = restore_photo(crop, ConstantRestorer(), upscale=2, aligned=True, background_upscaler=run)
    assert photo.image.shape == (128, 128, 3) and up.calls[-1] == ((512, 512, 3), (128, 128))


def test_compare_teacher_and_student_reports_time_and_memory(astronaut):
    pytest.importorskip("gradio")
    from demos import face_sr

    small = cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)
    pair, table = face_sr.compare_teacher_student(small, 1, False, progress=lambda *a, **k: None)
    teacher, student = (np.asarray(Image.open(p)) for p in pair)
    assert teacher.shape == student.shape == (512, 512, 3)
    lines = table.splitlines()
    assert lines[0] == "| model | time (s) | peak memory | faces |"
    for line, mid in zip(lines[2:4], face_sr.COMPARE):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == registry.spec(mid).label and float(cells[1]) > 0 and cells[3] == "1"


def test_pretrained_face_restorer_beats_bicubic_on_real_faces(shared_data):
    """face_basicvsr (the pretrained BasicVSR on the crop) against bicubic, x4, on two training faces."""
    import torch

    from bench.face import degrade
    from models import registry

    torch.set_num_threads(1)
    paths = sorted((shared_data / "faces_train" / "celebahq_256").glob("*"))[:2]
    model, bicubic = registry.get("face_basicvsr"), registry.get("face_bicubic")
    for p in paths:
        gt, lr = degrade(np.asarray(Image.open(p).convert("RGB")), 4)
        assert psnr(model.restore(lr, 512), gt) > psnr(bicubic.restore(lr, 512), gt) + 1.0


def test_sft_student_starts_at_its_base_and_learns():
    """Untrained, the SFT student (face_sft_student_nokd, train.face's network) returns the pretrained base exactly; a
    few training steps lower the loss."""
    import torch

    from train.face import loss_terms

    torch.manual_seed(0)
    torch.set_num_threads(1)
    restorer = registry.create("face_sft_student_nokd", pretrained=False)
    lr = cv2.resize(np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "faces" /
                                          "astronaut_aligned_128.png").convert("RGB")), (32, 32),
                    interpolation=cv2.INTER_AREA)
    base = registry.get("face_basicvsr").restore(lr, 128)
    assert np.array_equal(restorer.restore(lr, 128), base)
    net = restorer.net
    b = torch.from_numpy(base).permute(2, 0, 1)[None].float() / 255
    gt = (b + 0.05).clamp(0, 1)  # a brightness shift the base does not have: learnable from the first steps
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        terms = loss_terms(net, b, gt, False, w_perceptual=0.0)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(terms["loss"].item())
    assert losses[-1] < losses[0], losses


def test_compare_restorers_reports_progress_inside_each_run(astronaut):
    """The comparison passes its progress callback into every restore (where the app checks for Stop and the time
    budget), as rising fractions of the whole comparison."""
    from models.pipelines.face_photo import compare_restorers

    seen = []
    runs = compare_restorers(astronaut, {"a": BicubicFaceRestorer(), "b": LanczosFaceRestorer()}, upscale=1,
                             progress=lambda f, desc=None: seen.append((f, desc)))
    assert [r.model_id for r in runs] == ["a", "b"] and all(len(r.result.faces) == 1 for r in runs)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(d and d.startswith("a: Restoring face") for _, d in seen)
    assert any(d and d.startswith("b: Restoring face") for _, d in seen)
    with pytest.raises(ValueError, match="at least two"):
        compare_restorers(astronaut, {"a": BicubicFaceRestorer()})
