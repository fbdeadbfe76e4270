"""Face selection (issue 33, items 6 and 11): yaw from the five landmarks, minimum size and confidence, the chosen
faces restored and no others, faces large enough already left as the plain resize — on the real example photos."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.face.align import similarity_to_template
from models.face.paste import lanczos_upscale
from models.face.pose import MAX_YAW, NOSE_DEPTH, Selection, estimate_yaw
from models.pipelines.face_photo import find_faces, restore_photo

ROOT = Path(__file__).resolve().parents[1]
SHARED_FACES = ROOT.parent / "shared" / "data" / "examples" / "faces"


def _photo(name: str) -> np.ndarray:
    for folder in (SHARED_FACES, ROOT / "examples" / "faces"):
        if (folder / name).is_file():
            return np.asarray(Image.open(folder / name).convert("RGB"))
    pytest.skip(f"example photo {name} not found (../shared/data/examples/faces)")


class ColourRestorer:
    """Every restored face is one flat colour: shows exactly which faces were pasted."""

    def restore(self, face, out_size):
        return np.full((out_size, out_size, 3), (255, 0, 255), np.uint8)


def _head(yaw_deg: float, roll_deg: float = 0.0, scale: float = 40.0, shift=(300.0, 200.0)) -> np.ndarray:
    """The five landmarks of a generic head (half interocular distance 1, nose NOSE_DEPTH in front of the eye-mouth
    plane) turned by ``yaw_deg``, rolled by ``roll_deg`` and projected orthographically."""
    pts = np.array([[-1.0, 0, 0], [1.0, 0, 0], [0, 0.8, NOSE_DEPTH], [-0.75, 1.5, 0], [0.75, 1.5, 0]])
    t, r = math.radians(yaw_deg), math.radians(roll_deg)
    x = pts[:, 0] * math.cos(t) + pts[:, 2] * math.sin(t)  # turning the head: the nose moves towards +x
    xy = np.stack([x, pts[:, 1]], 1)
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    return xy @ rot.T * scale + np.asarray(shift)


@pytest.mark.parametrize("yaw", [-70, -45, -20, 0, 10, 30, 60])
@pytest.mark.parametrize("roll", [0, 25, -40])
def test_yaw_known_answer_on_a_turned_and_rolled_head(yaw, roll):
    assert estimate_yaw(_head(yaw, roll)) == pytest.approx(yaw, abs=1e-6)


def test_yaw_undefined_without_landmarks():
    assert math.isnan(estimate_yaw(np.full((5, 2), np.nan)))
    assert math.isnan(estimate_yaw(np.zeros((5, 2))))


def test_yaw_on_real_photos_frontal_and_mirrored():
    """Near-frontal portraits read small yaws; a mirrored photo reads the opposite yaw."""
    for name in ("Adele_crop.png", "Julia_Roberts_crop.png", "photo_img1.jpg", "photo_img2.jpg"):
        (face,) = find_faces(_photo(name))
        assert abs(face.yaw) < 15, (name, face.yaw)
    couple = _photo("photo_couple.jpg")
    yaws = [f.yaw for f in find_faces(couple)]
    mirrored = [f.yaw for f in find_faces(couple[:, ::-1].copy())]
    assert len(yaws) == len(mirrored) == 2 and all(y > 10 for y in yaws)  # both turned the same way
    assert np.allclose(sorted(yaws), sorted(-m for m in mirrored), atol=5)


def test_faces_are_numbered_largest_first_with_their_sizes():
    faces = find_faces(_photo("photo_selfie-many-people.jpg"), upscale=2)
    assert [f.number for f in faces] == [1, 2, 3, 4, 5]
    sizes = [f.size for f in faces]
    assert sizes[0] > 100 and all(f.score >= 0.9 for f in faces)
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert all(f.skipped is None for f in faces)  # no selection: nothing skipped


def _pasted(result, photo, u) -> set[int]:
    """Numbers of the faces whose centre carries the flat restorer colour in the output."""
    out = []
    for d in result.detected:
        cx, cy = np.mean(d.landmarks[[0, 1, 3, 4]], axis=0) * u
        y, x = int(round(cy)), int(round(cx))
        patch = result.image[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
        if np.all(patch == (255, 0, 255)):
            out.append(d.number)
    return set(out)


def test_selection_restores_exactly_the_chosen_faces():
    photo = _photo("photo_selfie-many-people.jpg")
    plain = lanczos_upscale(photo, photo.shape[:2])
    checked = 0
    for chosen in [(1, 3), (2,), (1, 2, 3, 4, 5)]:
        res = restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection(faces=chosen))
        assert {f.number for f in res.faces} == set(chosen)
        assert _pasted(res, photo, 1) == set(chosen)
        skipped = {d.number for d in res.skipped}
        assert skipped == {1, 2, 3, 4, 5} - set(chosen)
        assert all(d.skipped == "not chosen" for d in res.skipped)
        for d in res.skipped:  # an unchosen face's middle is exactly the plain resize, unless a chosen one's crop
            x, y = np.round(np.mean(d.landmarks[[0, 1, 3, 4]], axis=0)).astype(int)  # (pasted whole) covers it
            covered = False
            for f in res.faces:
                cx, cy = similarity_to_template(f.landmarks, 512) @ np.array([x, y, 1.0])
                covered |= bool(-20 <= cx <= 532 and -20 <= cy <= 532)
            if not covered:
                assert np.array_equal(res.image[y - 5:y + 6, x - 5:x + 6], plain[y - 5:y + 6, x - 5:x + 6])
                checked += 1
    assert checked >= 3
    with pytest.raises(ValueError, match="face 6 does not exist: the photo has 5 face"):
        restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection(faces=(1, 6)))
    with pytest.raises(ValueError, match="tick at least one face"):
        restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection(faces=()))


def test_default_selection_skips_the_strong_profile_and_filters_size_and_confidence():
    photo = _photo("photo_selfie-many-people.jpg")
    faces = find_faces(photo, upscale=1)
    profile = [f.number for f in faces if abs(f.yaw) > MAX_YAW]
    assert len(profile) == 1  # the man cut by the right edge, turned away: the template cannot fit him
    res = restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection())
    assert {d.number for d in res.skipped} == set(profile)
    assert "profile (yaw" in res.skipped[0].skipped and f"Face {profile[0]} left as the plain resize" in res.notes[0]
    assert _pasted(res, photo, 1) == {1, 2, 3, 4, 5} - set(profile)
    # explicitly chosen, the profile is restored all the same
    assert profile[0] in _pasted(restore_photo(photo, ColourRestorer(), upscale=1,
                                               selection=Selection(faces=tuple(profile))), photo, 1)
    sizes = {f.number: f.size for f in faces}
    big = restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection(min_size=100, max_yaw=90))
    assert {f.number for f in big.faces} == {n for n, s in sizes.items() if s >= 100}
    assert 0 < len(big.faces) < 5
    scores = {f.number: f.score for f in faces}
    sure = restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection(min_score=0.99, max_yaw=90))
    assert {f.number for f in sure.faces} == {n for n, s in scores.items() if s >= 0.99}
    assert 0 < len(sure.faces) < 5


def test_no_selection_restores_every_face_as_before():
    photo = _photo("photo_selfie-many-people.jpg")
    res = restore_photo(photo, ColourRestorer(), upscale=1)
    assert len(res.faces) == 5 and not res.skipped and not res.notes


@pytest.mark.parametrize("bad", [dict(min_size=-1), dict(min_score=1.5), dict(max_yaw=120), dict(max_yaw=True),
                                 dict(faces=(0,)), dict(faces=("1",)), dict(min_score=float("nan"))])
def test_bad_selection_values_say_which(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Selection(**bad)


def test_large_faces_are_left_as_the_plain_resize_unless_asked():
    """A face whose aligned crop would exceed the restorer's 512 px in the output is not restored by default:
    the output is then exactly the plain resize; asked for, it is restored."""
    photo = _photo("photo_img17.jpg")  # 1000x541, one 210 px face
    (face,) = find_faces(photo, upscale=4)
    assert face.output_px > 512
    (small,) = find_faces(photo, upscale=1)
    assert small.output_px <= 512
    res = restore_photo(photo, ColourRestorer(), upscale=4, selection=Selection())
    assert not res.faces and "large enough already" in res.skipped[0].skipped and "softer" in res.notes[0]
    assert np.array_equal(res.image, lanczos_upscale(photo, res.image.shape[:2]))
    forced = restore_photo(photo, ColourRestorer(), upscale=4, selection=Selection(large_faces=True))
    assert _pasted(forced, photo, 4) == {1}
    assert _pasted(restore_photo(photo, ColourRestorer(), upscale=1, selection=Selection()), photo, 1) == {1}


def _selfie_path() -> str:
    path = SHARED_FACES / "photo_selfie-many-people.jpg"
    if not path.is_file():
        pytest.skip("../shared/data/examples/faces not found")
    return str(path)


def test_tab_preview_ticks_the_faces_that_pass_and_estimates():
    from demos import face_sr

    path = _selfie_path()
    update, boxes, estimate = face_sr.preview(path, "face_basicvsr", 2, False, False, 0, 0.9, 45, False)
    numbers = [v for _, v in update["choices"]]
    assert numbers == [1, 2, 3, 4, 5]
    profile = [v for label, v in update["choices"] if "left alone: profile" in label]
    assert len(profile) == 1 and update["value"] == [n for n in numbers if n not in profile]
    assert Path(boxes).is_file() and Image.open(boxes).size == (600, 604)
    assert estimate.startswith("4 of 5 faces will be restored") and "Estimated time" in estimate
    # ticking only face 2 halves nothing but the face count; an unmeasured model says so
    text = face_sr.estimate_text(path, "face_basicvsr", 2, False, False, 0, 0.9, 45, [2], False)
    assert text.startswith("1 of 5 faces")
    assert face_sr.preview(path, "face_basicvsr", 2, False, False, 110, 0.9, 90, False)[0]["value"] == [
        n for n in numbers if find_faces(_photo("photo_selfie-many-people.jpg"))[n - 1].size >= 110]


@pytest.mark.slow  # restores real faces through the tab
def test_tab_handler_restores_the_ticked_faces_only():
    from demos import face_sr

    path = _selfie_path()
    quiet = lambda *a, **k: None  # noqa: E731
    photo, gallery, pair, info = face_sr.face_sr(path, "face_bicubic", 1, False, False, 0, 0.9, 45, [2, 4], False,
                                                 progress=quiet)
    assert [f["number"] for f in info["faces"]] == [2, 4]
    assert sorted(d["number"] for d in info["left_alone"]) == [1, 3, 5]
    assert all(d["reason"] == "not chosen" for d in info["left_alone"])
    assert [c for _, c in gallery] == ["face 2: input (pixels enlarged)", "face 2: restored (score 1.000)",
                                       "face 4: input (pixels enlarged)", "face 4: restored (score 1.000)"]
    # the defaults (no numbers): every face but the strong profile, which the JSON names with its yaw
    _, _, _, info = face_sr.face_sr(path, "face_bicubic", 1, False, progress=quiet)
    assert len(info["faces"]) == 4 and len(info["left_alone"]) == 1
    assert info["left_alone"][0]["reason"].startswith("profile") and abs(info["left_alone"][0]["yaw"]) > 45
    # an empty list (what an API call sends by default, or every box unticked) means the same
    _, _, _, same = face_sr.face_sr(path, "face_bicubic", 1, False, False, 0, 0.9, 45, [], False, progress=quiet)
    assert [f["number"] for f in same["faces"]] == [f["number"] for f in info["faces"]]
    assert face_sr.estimate_text(path, "face_basicvsr", 1, False, False, 0, 0.9, 45, [], False).startswith(
        "No face ticked: the filters decide. 4 of 5 faces")
    import gradio as gr

    with pytest.raises(gr.Error, match="face 9 does not exist"):
        face_sr.face_sr(path, "face_bicubic", 1, False, False, 0, 0.9, 45, [9], False, progress=quiet)
    numbers = face_sr.FaceNumbers([], value=[], label="Faces to restore")
    assert numbers.preprocess([1, "3", 2.0]) == [1, 3, 2] and numbers.preprocess(None) is None
    for bad in (["x"], [0], [True], "1,2"):
        with pytest.raises(gr.Error, match="Faces to restore"):
            numbers.preprocess(bad)


def test_progress_shows_the_time_left():
    from demos.face_sr import eta_progress

    seen = []
    tick = eta_progress(lambda f, desc=None: seen.append((f, desc)), estimate=30.0)
    tick(0.05, desc="Detecting faces")
    tick(1.0, desc="Done")
    assert "about 30 s left" in seen[0][1] and seen[1][1] == "Done"


def test_cli_face_selection(tmp_path, capsys):
    from frameforge.__main__ import main

    path = _selfie_path()
    out = tmp_path / "out"
    assert main(["face-sr", path, "-o", str(out), "--upscale", "1", "--model", "face_bicubic", "--faces", "2,4"]) == 0
    captured = capsys.readouterr()
    assert "(2 face(s), 3 left alone)" in captured.out and "Face 1 left as the plain resize: not chosen" in captured.err
    assert main(["face-sr", path, "-o", str(out), "--upscale", "1", "--model", "face_bicubic"]) == 0
    captured = capsys.readouterr()
    assert "(4 face(s), 1 left alone)" in captured.out and "profile (yaw" in captured.err
    assert main(["face-sr", path, "-o", str(out), "--model", "face_bicubic", "--max-yaw", "100"]) == 2
    assert "max_yaw must be a number between 0 and 90" in capsys.readouterr().err
    assert main(["face-sr", path, "-o", str(out), "--model", "face_bicubic", "--faces", "7"]) == 1
    assert "face 7 does not exist" in capsys.readouterr().err


def test_face_time_estimate_grows_with_the_crop():
    from models.pipelines.face_photo import BASE_SECONDS, estimate_photo_seconds, face_seconds

    for side, seconds in BASE_SECONDS.items():
        if side >= 16:
            assert face_seconds("face_basicvsr", side) == pytest.approx(seconds)
    sides = [16, 64, 100, 128, 200, 256, 300, 384, 450, 512, 900]
    times = [face_seconds("face_basicvsr", s) for s in sides]
    assert times == sorted(times) and times[-1] == face_seconds("face_basicvsr", 512)  # crops stop at 512 px
    assert face_seconds("face_teacher", 200) > face_seconds("face_student_perceptual", 200) > face_seconds(
        "face_basicvsr", 200)  # the SFT networks run on the BasicVSR base
    assert face_seconds("face_realesrgan", 200) > 10 * face_seconds("face_student", 200)  # the distilled student
    assert face_seconds("face_student", 64) == face_seconds("face_student", 512) < face_seconds("face_basicvsr", 64)
    assert face_seconds("face_bicubic", 400) < 0.1 and face_seconds("no_such_model", 100) is None
    assert face_seconds("face_realesrgan", 64) == face_seconds("face_realesrgan", 512) > face_seconds(
        "face_basicvsr", 128)  # every crop shrunk to 128 px first
    two = estimate_photo_seconds("face_basicvsr", [128, 256])
    assert two == pytest.approx(5.7 + 13.1 + 0.5)
    assert estimate_photo_seconds("face_basicvsr", [128], 1_000_000, "basicvsr") > two
    # the tab's per-face estimate for a real photo follows its faces' crops
    faces = find_faces(_photo("photo_selfie-many-people.jpg"), upscale=2, selection=Selection())
    kept = [f.crop_side for f in faces if not f.skipped]
    assert estimate_photo_seconds("face_basicvsr", kept) == pytest.approx(
        sum(face_seconds("face_basicvsr", s) for s in kept) + 0.5)


def test_selection_on_the_bundled_two_face_example():
    """Without ../shared: the repository's own two-face photo, each face chosen alone, then both."""
    photo = np.asarray(Image.open(ROOT / "examples" / "faces" / "astronaut_pair.jpg").convert("RGB"))
    for chosen in [(1,), (2,), (1, 2)]:
        res = restore_photo(photo, ColourRestorer(), upscale=2, selection=Selection(faces=chosen))
        assert _pasted(res, photo, 2) == set(chosen) and {f.number for f in res.faces} == set(chosen)


def test_aligned_crop_estimate_is_one_face():
    from demos import face_sr
    from models.pipelines.face_photo import estimate_photo_seconds

    crop = str(ROOT / "examples" / "faces" / "astronaut_aligned_128.png")
    text = face_sr.estimate_text(crop, "face_basicvsr", 4, True, False, 0, 0.9, 45, [], False)
    assert text.startswith("One aligned face (128 px). Estimated time: about")
    assert face_sr.preview(crop, "face_basicvsr", 4, True, False, 0, 0.9, 45, False)[2] == text
    assert estimate_photo_seconds("face_basicvsr", [128], 128 * 128, upscale=4) > estimate_photo_seconds(
        "face_basicvsr", [128], 128 * 128, upscale=1)
