"""The dictionary teacher (models/face/teacher.py) and distillation into the SFT student (train/face.py; registry ids
face_teacher, face_sft_student, face_sft_student_nokd: retired, built untrained for training; face_student_perceptual
ships), and bench.face_speed (the blind teacher face_realesrgan against face_student by default)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import registry
from models.face.dfdnet import TEMPLATE_BOXES_512, adain
from models.face.student import FaceStudent
from models.face.teacher import FaceTeacher, dictionary_size, kmeans, template_boxes


class _Features(torch.nn.Module):
    """A stand-in for EfficientNet-Lite0 with its channels and strides (16 / 24 / 40 at 2 / 4 / 8): fixed random
    convolutions, so the tests need no weights."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = torch.nn.ModuleDict({str(s): torch.nn.Conv2d(3, c, s, s) for s, c in ((2, 16), (4, 24), (8, 40))})

    def features(self, x, strides=(2, 4, 8)):
        return {s: self.c[str(s)](x) for s in strides}


def _teacher(**kw) -> FaceTeacher:
    return FaceTeacher(**kw).attach_features(_Features())


def test_kmeans_recovers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in truth])
    centres = kmeans(x, 3)
    order = torch.cdist(truth, centres).argmin(1)
    assert sorted(order.tolist()) == [0, 1, 2]
    assert torch.allclose(centres[order], truth, atol=0.05)
    with pytest.raises(ValueError, match="N >= k"):
        kmeans(x[:2], 3)


def test_template_boxes_scale_shift_and_mirror():
    assert torch.equal(template_boxes(512), torch.tensor(TEMPLATE_BOXES_512, dtype=torch.float32))
    assert torch.allclose(template_boxes(256), template_boxes(512) / 2)
    assert torch.allclose(template_boxes(512, (10, 20)), template_boxes(512) - torch.tensor([20.0, 10, 20, 10]))
    # the template is mirror-symmetric (the training flips rely on it): x -> 512 - x swaps the eyes, keeps the rest
    b = template_boxes(512)
    m = torch.stack([512 - b[:, 2], b[:, 1], 512 - b[:, 0], b[:, 3]], 1)
    assert torch.allclose(m[[1, 0, 2, 3]], b, atol=2.0)  # within 2 px: one feature pixel at stride 2


def test_untrained_teacher_with_dictionaries_returns_its_base():
    torch.manual_seed(0)
    net = _teacher()
    faces = [(np.random.default_rng(i).random((128, 128, 3)) * 255).astype(np.uint8) for i in range(20)]
    net.build_dictionaries(faces, log=lambda m: None)
    assert net.has_dictionaries
    assert net.dictionary("mouth", 4).shape == (16, 24, dictionary_size("mouth", 4), dictionary_size("mouth", 4))
    base = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(net(base), base)  # attention and conv_out start at zero: I = B


def test_injection_known_answer():
    """With A = 1 the part becomes R + S, S = the AdaIN'd entry that matches the region best, resized to the box;
    everything outside the part boxes is untouched."""
    torch.manual_seed(0)
    net = _teacher(entries=3)
    s, part = 4, "nose"
    n = dictionary_size(part, s)
    for p in ("left_eye", "right_eye", "nose", "mouth"):
        d = net.dictionary(p, s)
        d.copy_(torch.randn_like(d))
        att = getattr(net, f"att_{p}_{s}")[-1]
        torch.nn.init.ones_(att.bias)
    feat = torch.randn(1, 24, 128, 128)  # a 512 crop at stride 4
    boxes = template_boxes(512)[None]
    x1, y1, x2, y2 = (boxes[0, 2] / s).round().int().tolist()
    target = net.dictionary(part, s)[2].clone()  # plant entry 2 (at another scale and offset) in the nose
    feat[:, :, y1:y2, x1:x2] = F.interpolate(3 * target[None] + 1, (y2 - y1, x2 - x1), mode="bilinear",
                                             align_corners=False)
    with torch.no_grad():
        out = net.inject(feat, boxes, s)
    region = feat[:, :, y1:y2, x1:x2]
    small = F.interpolate(region, (n, n), mode="bilinear", align_corners=False)
    swap = F.interpolate(adain(net.dictionary(part, s)[2:3], small), region.shape[-2:], mode="bilinear",
                         align_corners=False)
    assert torch.allclose(out[:, :, y1:y2, x1:x2], region + swap, atol=1e-4)
    inside = torch.zeros(128, 128, dtype=torch.bool)
    for box in boxes[0]:
        a, b, c, e = (box / s).round().int().tolist()
        inside[b:e, a:c] = True
    assert torch.equal(out[..., ~inside], feat[..., ~inside])


def test_parts_outside_a_crop_are_skipped():
    net = _teacher()
    for p in ("left_eye", "right_eye", "nose", "mouth"):
        torch.nn.init.ones_(getattr(net, f"att_{p}_2")[-1].bias)
        net.dictionary(p, 2).normal_()
    feat = torch.randn(1, 16, 64, 64)
    boxes = template_boxes(512, (300, 300))[None]  # a crop of the lower right corner: no whole part inside
    with torch.no_grad():
        assert torch.equal(net.inject(feat, boxes, 2), feat)


def test_one_distillation_step_lowers_the_loss():
    from train.face import Distillation, loss_terms

    torch.manual_seed(0)
    teacher = _teacher()
    torch.nn.init.normal_(teacher.decoder.conv_out.weight, std=1e-2)  # a teacher whose SFT maps are not trivial
    student = FaceStudent().attach_features(_Features())
    kd = Distillation(teacher, student.decoder.widths, teacher.decoder.widths)
    base = torch.rand(2, 3, 64, 64)
    gt = (base + 0.05).clamp(0, 1)
    boxes = template_boxes(64)[None].expand(2, 4, 4)
    opt = torch.optim.Adam(list(student.parameters()) + list(kd.parameters()), lr=1e-4)
    before = loss_terms(student, base, gt, False, w_perceptual=0.0, boxes=boxes, kd=kd)
    assert before["kd"] > 0
    opt.zero_grad()
    before["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())  # the teacher stays frozen
    opt.step()
    after = loss_terms(student, base, gt, False, w_perceptual=0.0, boxes=boxes, kd=kd)
    assert after["kd"] < before["kd"] and after["loss"] < before["loss"]


def test_teacher_is_larger_than_the_student():
    t, s = registry.create("face_teacher", pretrained=False).net, registry.create("face_sft_student",
                                                                                  pretrained=False).net
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(t) > 3 * count(s)
    assert set(s.state_dict()) < set(t.state_dict())  # the teacher adds dictionaries and attention only
    assert any(k.startswith("dict_") for k in t.state_dict())  # the dictionaries travel in the weights file


@pytest.mark.slow  # the speed benchmark
def test_face_speed_bench_times_teacher_and_student(tmp_path):
    """The default pair is the blind teacher (face_realesrgan's RRDBNet, 16.7 M) against face_student (1.0 M), both
    from the 128 px crop; any two face networks can be timed (here the SFT pair, built untrained: random weights)."""
    import json

    from bench import face_speed

    dst = tmp_path / "speed.json"
    assert face_speed.main(["--batches", "1", "--repeats", "1", "--network-only", "--json", str(dst)]) == 0
    report = json.loads(dst.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == {"face_realesrgan", "face_student"} and report["fidelity"] == 1.0
    assert rows["face_realesrgan"]["params"] == 16_697_987 and rows["face_student"]["params"] < 1_500_000
    assert rows["face_realesrgan"]["weights"] == rows["face_student"]["weights"] == "shipped"
    ratio = report["teacher_over_student"]["net_ms_per_face_b1"]
    t, s = rows["face_realesrgan"], rows["face_student"]
    assert ratio == pytest.approx(t["net_ms_per_face_b1"] / s["net_ms_per_face_b1"])
    assert ratio > 3  # 17x fewer parameters at the same low resolution (measured 12.7x on a loaded CPU)
    assert face_speed.main(["--models", "face_teacher,face_sft_student", "--batches", "1,2", "--repeats", "1",
                            "--network-only", "--json", str(dst)]) == 0
    report = json.loads(dst.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert rows["face_sft_student"]["weights"] == "random"  # retired, no weights: timed untrained
    for r in rows.values():
        assert r["net_ms_per_face_b1"] > 0 and r["net_ms_per_face_b2"] > 0 and r["net_peak_mb_b2"] >= 0
    assert report["teacher_over_student"]["net_ms_per_face_b2"] == pytest.approx(
        rows["face_teacher"]["net_ms_per_face_b2"] / rows["face_sft_student"]["net_ms_per_face_b2"])
    assert face_speed.main(["--models", "face_bicubic", "--network-only"]) == 2
    assert face_speed.main(["--models", "nope", "--network-only"]) == 2
    assert face_speed.main(["--batches", "0"]) == 2
    assert face_speed.main(["--fidelity", "2", "--network-only"]) == 2


@pytest.mark.parametrize("model_id", ["face_teacher", "face_student_perceptual"])
def test_shipped_face_models_load_strictly_with_their_cards(model_id):
    """The bundled fp16 SFT networks load through the registry (strict), trained (last conv no longer zero), the
    teacher (retired, for bench.face and train.face) with its dictionaries; each card states its validation and
    evaluation numbers."""
    spec = registry.spec(model_id)
    assert spec.available()
    net = registry.create(model_id).net
    assert net.decoder.conv_out.weight.abs().max() > 0
    assert isinstance(net, FaceTeacher) == (model_id == "face_teacher")
    if model_id == "face_teacher":
        assert net.has_dictionaries
    card = spec.card_text()
    assert "vs base" in card and "| model | x4 PSNR / SSIM | x8 PSNR / SSIM |" in card


def test_face_network_loads_a_users_file_from_its_environment_variable(tmp_path, monkeypatch):
    """FRAMEFORGE_FACE_STUDENT_PERCEPTUAL_CKPT names a file (e.g. from train.face --export FILE): it replaces the
    bundled weights, strictly (a file with a missing key is refused); a retired SFT student without shipped weights
    loads one the same way (FRAMEFORGE_FACE_SFT_STUDENT_NOKD_CKPT)."""
    from safetensors.torch import save_file

    from models.weights import WEIGHTS_DIR, WeightsUnavailable, load_state_dict

    state = load_state_dict(WEIGHTS_DIR / registry.spec("face_student_perceptual").weights.bundled)
    state = {k: v.float() for k, v in state.items()}
    state["decoder.conv_out.bias"] = state["decoder.conv_out.bias"] + 0.25
    path = tmp_path / "mine.safetensors"
    save_file(state, str(path))
    monkeypatch.setenv("FRAMEFORGE_FACE_STUDENT_PERCEPTUAL_CKPT", str(path))
    net = registry.create("face_student_perceptual").net
    assert torch.allclose(net.decoder.conv_out.bias, state["decoder.conv_out.bias"])
    with pytest.raises(WeightsUnavailable, match="face_sft_student_nokd is retired"):
        registry.create("face_sft_student_nokd")
    monkeypatch.setenv("FRAMEFORGE_FACE_SFT_STUDENT_NOKD_CKPT", str(path))
    assert torch.allclose(registry.create("face_sft_student_nokd").net.decoder.conv_out.bias,
                          state["decoder.conv_out.bias"])
    del state["decoder.conv_out.bias"]
    save_file(state, str(path))
    with pytest.raises(RuntimeError, match="conv_out.bias"):
        registry.create("face_student_perceptual")


@pytest.mark.slow  # real faces through two restorers
def test_perceptual_student_adds_texture_to_its_base():
    """face_student_perceptual on the repository's aligned astronaut crop (128 -> 512): more fine detail (Laplacian
    variance) than its base face_basicvsr, while staying a small correction of it (not a different picture)."""
    import cv2
    from PIL import Image

    from bench.metrics import psnr

    torch.set_num_threads(1)
    lr = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "examples" / "faces" / "astronaut_aligned_128.png")
                    .convert("RGB"))
    base = registry.get("face_basicvsr").restore(lr, 512)
    ours = registry.get("face_student_perceptual").restore(lr, 512)
    detail = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert detail(ours) > 2 * detail(base)  # measured: 6.3x; the PSNR-trained students: 1.01x
    assert psnr(ours, base) > 30.0


@pytest.mark.slow  # real faces through the student and its teacher
def test_distilled_student_follows_its_teacher_on_degraded_faces(shared_data):
    """face_student (distilled from Real-ESRGAN x4plus) on two training faces degraded like old photos (preset jpeg,
    x4 down to 64 px): far closer to its teacher's output than bicubic is (measured +4.4 / +3.3 dB) and a higher SSIM
    to the truth than bicubic (measured +0.038 / +0.028)."""
    from PIL import Image

    from models import degrade
    from models.metrics import psnr, ssim

    torch.set_num_threads(1)
    paths = sorted((shared_data / "faces_train" / "celebahq_256").glob("*"))[2:4]
    student, bicubic = registry.get("face_student"), registry.get("face_bicubic")
    teacher = registry.get("realesrgan_x4plus")
    for i, p in enumerate(paths):
        gt = np.asarray(Image.open(p).convert("RGB").resize((256, 256), Image.BICUBIC))
        lr = degrade.apply_image(gt, (64, 64), "jpeg", i)
        ours, bic, target = student.restore(lr, 256), bicubic.restore(lr, 256), teacher.upscale(lr, (256, 256))
        assert psnr(ours, target) > psnr(bic, target) + 2.0
        assert ssim(ours, gt) > ssim(bic, gt) + 0.01


@pytest.mark.slow  # a whole photo of many faces through the teacher
def test_whole_photo_with_several_faces_and_a_truck_without_one(shared_data):
    """The selfie with five people: at least three faces found, each restored by the SFT network on BasicVSR
    (face_student_perceptual) sharper than its input enlarged by bicubic, and pasted back; the dump truck photo has
    no face and is refused. (The blind face_student smooths noise and JPEG blocks, so it is not always sharper.)"""
    import cv2
    from PIL import Image

    from models.pipelines.face_photo import NoFaceFound, restore_photo

    torch.set_num_threads(1)
    photo = np.asarray(Image.open(shared_data / "examples" / "faces" / "photo_selfie-many-people.jpg").convert("RGB"))
    result = restore_photo(photo, registry.get("face_student_perceptual"), upscale=1)
    assert len(result.faces) >= 3 and result.image.shape == photo.shape
    sharpness = lambda im: cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    for f in result.faces:
        enlarged = np.asarray(Image.fromarray(f.crop_input).resize(f.crop_after.shape[:2], Image.BICUBIC))
        assert sharpness(f.crop_after) > 1.2 * sharpness(enlarged)
    assert not np.array_equal(result.image, photo)
    truck = np.asarray(Image.open(shared_data / "examples" / "frame_pairs" / "Dumptruck" / "frame10.png").convert("RGB"))
    with pytest.raises(NoFaceFound):
        restore_photo(truck, registry.get("face_bicubic"))


def test_native_utkface_option_needs_a_crop_that_fits():
    from train.face import parse, train

    with pytest.raises(SystemExit, match="--crop 192"):
        train(parse(["--utk-native", "10", "--out", "/nonexistent/never-made"]))
