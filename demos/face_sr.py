"""Tab 3 — Face super-resolution: a whole photo (or an aligned face crop) -> the photo upscaled with every face
restored (detect with MTCNN -> align to the FFHQ template -> restore -> paste back, as facexlib does)."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np

from models import registry
from models.device import accelerated, gpu, gpu_seconds
from models.imageio import read_image
from models.face.blind import DEFAULT_FIDELITY, at_fidelity
from models.face.pose import MAX_YAW, Selection
from models.pipelines.face_photo import (MAX_UPSCALE, MIN_UPSCALE, background_upscaler, compare_restorers,
                                         estimate_photo_seconds, find_faces, restore_photo)

from . import batch
from .common import endpoint, image_file, load_model, model_picker, progress_checker
from .components import Checkbox, ImageUpload, Slider
from .video_sr import nearest

TITLE = "Face SR"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "faces"
NOTE = ("Faces are found with MTCNN, aligned to the FFHQ 5-point template at their own resolution, restored to "
        "512x512 and blended back into the photo, whose background is upscaled with Lanczos or, when ticked, the "
        "pretrained BasicVSR. Tick *aligned face "
        "crop* only for an input that is already one face on the FFHQ template (as in CelebA-HQ / FFHQ); "
        "unticked, faces are detected and a photo without one is refused.")


SELECT_NOTE = ("Faces are numbered largest first. Left alone (kept as the plain resize): faces smaller than the "
               "minimum size or below the minimum confidence (MTCNN's own threshold is 0.9), profiles turned more "
               "than the largest yaw (estimated from the five landmarks; 45° by default: beyond it the 5-point "
               "template mangles the face), and faces already large enough — whose aligned crop would exceed the "
               "restorer's 512 px in the output, so restoring them would make them softer than the plain resize. "
               "Ticked faces are restored whatever the filters say.")


class FaceNumbers(gr.CheckboxGroup):
    """The per-face checkboxes: their choices come from detecting the uploaded photo, so an API call may send any face
    numbers (1 = largest), or [] / null for every face that passes the filters (the default; in the app, unticking
    every face means the same); the photo's own count is checked later."""

    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        if not isinstance(payload, (list, tuple)):
            raise gr.Error(f"{self.label}: expected a list of face numbers, got {payload!r}.", print_exception=False)
        out = []
        for v in payload:
            if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())
                                           or (isinstance(v, str) and v.strip().isdigit())) or int(v) < 1:
                raise gr.Error(f"{self.label}: face numbers are 1, 2, ... (largest face first), got {v!r}.",
                               print_exception=False)
            out.append(int(v))
        return out

    def api_info(self) -> dict:
        return {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 1}}, {"type": "null"}],
                "title": "Face numbers"}


def _selection(min_face, min_score, max_yaw, faces, large_faces) -> Selection:
    return Selection(faces=tuple(faces) if faces else None, min_size=float(min_face or 0),
                     min_score=float(0.9 if min_score is None else min_score),
                     max_yaw=float(MAX_YAW if max_yaw is None else max_yaw), large_faces=bool(large_faces))


def _human(seconds: float) -> str:
    return f"{max(1, round(seconds))} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _estimate(model_id, detected, photo_pixels: int, background: bool, upscale: float = 2.0) -> float | None:
    """This machine's estimate for the faces that will be restored (seconds): the per-face times measured here,
    times the machine's speed now (models.pipelines.estimate.speed_factor: other processes' load); on a GPU divided
    by the assumed speed-up of models.pipelines.estimate."""
    from models.pipelines import estimate as costs

    est = estimate_photo_seconds(model_id or registry.default_id("face"),
                                 [d.crop_side for d in detected if not d.skipped], photo_pixels,
                                 "basicvsr" if background else "lanczos", float(upscale or 2))
    if est is None:
        return None
    return est / costs.GPU_SPEEDUP if accelerated() else est * costs.speed_factor()


def eta_progress(progress, estimate: float | None):
    """``progress(fraction, desc)`` that adds the time left to the description: before the first measured step the
    estimate less the time spent, then the time spent so far scaled to the fraction still to do."""
    import time

    start = time.monotonic()

    def tick(fraction: float, desc: str | None = None) -> None:
        spent = time.monotonic() - start
        if fraction >= 1:
            left = None
        elif fraction > 0.15:
            left = spent * (1 - fraction) / fraction
        else:
            left = None if estimate is None else max(1.0, estimate - spent)
        text = desc or ""
        if left is not None:
            text = f"{text} · about {_human(left)} left" if text else f"about {_human(left)} left"
        progress(fraction, desc=text)

    return tick


def _duration(image, model_id, upscale, aligned, background=False, *rest, progress=None, **kwargs) -> int:
    return gpu_seconds(float(upscale or 2) ** 2 * (3 if background else 1), seconds_per_unit=2.0)


@gpu(duration=_duration)
@endpoint("face_sr")
def face_sr(image, model_id, upscale, aligned, background=False, min_face=0, min_score=0.9, max_yaw=MAX_YAW,
            faces=None, large_faces=False, fidelity=DEFAULT_FIDELITY, progress=gr.Progress()):
    """Restore the faces of a photo and upscale the whole photo.

    Args:
        image: the photo (an image file), or one aligned face crop.
        model_id: face model id, e.g. "face_bicubic".
        upscale: how much larger the output photo is, 1 to 4.
        aligned: True when the image is a face already aligned to the FFHQ template; False to detect faces.
        background: True to upscale the background with the pretrained BasicVSR (photos up to 1 MP; slow on a
            CPU), False for Lanczos.
        min_face: leave faces whose box is smaller than this many pixels (shorter side) alone; 0 = no limit.
        min_score: leave faces detected with a lower confidence alone, 0.9 (MTCNN's own threshold) to 1.
        max_yaw: leave profiles turned more than this many degrees (estimated from the landmarks) alone, 0 to 90.
        faces: the face numbers to restore (1 = the largest face), e.g. [1, 3]; these are restored whatever the
            filters say. An empty list or null restores every face that passes the filters.
        large_faces: True also restores faces already large enough (aligned crop above 512 px in the output),
            which come out softer than the plain resize; False leaves them as the resize.
        fidelity: 0 to 1, for models with the control (face_realesrgan): 1 = fully restored, 0 = faithful to the
            input (face_basicvsr), between = a blend of the two; default 0.7 (chosen on training faces: the most
            restoration that keeps the identity distance at the faithful path's). Other models ignore it (null in
            the JSON).

    Returns:
        The restored photo (PNG), a gallery with each restored face before (the input pixels, enlarged without
        smoothing) and after, the first restored face as a before/after slider, and the faces' numbers, boxes,
        scores, yaws and landmarks as JSON, with the faces left alone and why.
    """
    img = read_image(image, "photo", min_side=16)
    model_id, restorer = load_model("face", model_id)
    restorer = at_fidelity(restorer, fidelity)
    u = upscale if upscale is not None else 2
    selection = _selection(min_face, min_score, max_yaw, faces, large_faces)
    estimate = None
    if not aligned:
        try:
            estimate = _estimate(model_id, find_faces(img, float(u), selection=selection), img.shape[0] * img.shape[1],
                                 bool(background), float(u))
        except ValueError:
            estimate = None  # restore_photo says why
    tick = progress_checker(progress)
    result = restore_photo(img, restorer, upscale=u, aligned=bool(aligned),
                           progress=eta_progress(tick, estimate),
                           background_upscaler=background_upscaler("basicvsr" if background else "lanczos",
                                                                   partial(registry.get, "basicvsr")),
                           selection=selection)
    gallery, pairs = [], []
    for i, f in enumerate(result.faces):
        n = f.number if not result.aligned else i + 1
        before = image_file(nearest(f.crop_input, f.crop_after.shape[:2]), image, f"face{n}_input", "photo")
        after = image_file(f.crop_after, image, f"face{n}_restored", "photo")
        gallery += [(before, f"face {n}: input (pixels enlarged)"),
                    (after, f"face {n}: restored (score {f.score:.3f})")]
        pairs.append((before, after))
    info = {
        "model": registry.spec(model_id).label or model_id,
        "model_id": model_id,
        "upscale": float(upscale if upscale is not None else 2),
        "treated_as_aligned_crop": result.aligned,
        "background": "BasicVSR" if background else "Lanczos",
        "fidelity": getattr(restorer, "fidelity", None),
        "input_size": [int(img.shape[1]), int(img.shape[0])],
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                   "landmarks": None if np.isnan(f.landmarks).any() else np.round(f.landmarks, 1).tolist(),
                   **({} if result.aligned else {"number": f.number, "yaw": _round(f.yaw)})}
                  for f in result.faces],
    }
    if not result.aligned:
        info["left_alone"] = [{"number": d.number, "box": [round(v, 1) for v in d.box], "score": round(d.score, 4),
                               "yaw": _round(d.yaw), "reason": d.skipped} for d in result.skipped]
    if result.notes:
        info["notes"] = result.notes
    if estimate is not None:
        info["estimated_seconds"] = round(estimate, 1)
    photo = image_file(result.image, image, f"faces_x{float(upscale or 2):g}", "photo")
    return photo, gallery, pairs[0] if pairs else None, info


def _round(v: float):
    return None if v is None or np.isnan(v) else round(float(v), 1)


_FOUND: dict = {}


def _found(image, upscale, selection: Selection):
    """The faces of an uploaded photo (cached by path, size and upscale: the controls re-run this on every change)."""
    import os

    key = (str(image), os.path.getmtime(image), float(upscale or 2), selection)
    if key not in _FOUND:
        img = read_image(image, "photo", min_side=16)
        _FOUND.clear()
        _FOUND[key] = (img, find_faces(img, float(upscale or 2), selection=selection))
    return _FOUND[key]


def preview(image, model_id, upscale, aligned, background, min_face, min_score, max_yaw, large_faces):
    """After an upload or a filter change: the numbered faces (ticked = will be restored), the photo with the
    numbered boxes, and the estimate. Not an API endpoint."""
    empty = (gr.update(choices=[], value=[]), None, "")
    if not image:
        return empty
    if aligned:
        return empty[0], None, _aligned_estimate(image, model_id, upscale)
    try:
        img, detected = _found(image, upscale, _selection(min_face, min_score, max_yaw, None, large_faces))
    except Exception as exc:  # noqa: BLE001 - the job itself reports a bad upload
        return empty[0], None, f"Could not read the photo: {exc}"
    choices = [(d.label() + (f" — left alone: {d.skipped}" if d.skipped else ""), d.number) for d in detected]
    ticked = [d.number for d in detected if not d.skipped]
    return (gr.update(choices=choices, value=ticked), _boxes(img, detected, image),
            _estimate_text(model_id, img, detected, ticked, background, upscale))


def _aligned_estimate(image, model_id, upscale) -> str:
    """The estimate for an aligned crop: one face, its crop the image's shorter side (at most 512 px)."""
    from dataclasses import replace

    from models.pipelines.face_photo import DetectedFace

    try:
        img = read_image(image, "photo", min_side=16)
    except Exception:  # noqa: BLE001 - the job itself reports a bad upload
        return ""
    side = int(min(512, min(img.shape[:2])))
    face = replace(DetectedFace(1, (0, 0, 0, 0), 1.0, np.zeros((5, 2)), 0.0, side, side), crop_side=side)
    est = _estimate(model_id, [face], img.shape[0] * img.shape[1], False, upscale)
    return f"One aligned face ({side} px). Estimated time: about {_human(est)}." if est is not None else ""


def _estimate_text(model_id, img, detected, ticked, background, upscale=2.0) -> str:
    if not detected:
        return "No face found in this photo."
    note = ""
    if not ticked:  # nothing ticked: the filters decide, as for an API call without face numbers
        ticked = [d.number for d in detected if not d.skipped]
        note = "No face ticked: the filters decide. "
    chosen = [d for d in detected if d.number in set(ticked)]
    from dataclasses import replace

    # ticked faces are restored whatever the filters said
    est = _estimate(model_id, [replace(d, skipped=None) for d in chosen], img.shape[0] * img.shape[1],
                    bool(background), upscale)
    sides = ", ".join(f"{d.crop_side}" for d in chosen) or "none"
    where = "the GPU (assumed 25x this 2-core CPU)" if accelerated() else "this 2-core CPU"
    time_text = f"about {_human(est)}" if est is not None else "not measured for this model"
    return (f"{note}{len(chosen)} of {len(detected)} faces will be restored (aligned crops of {sides} px). Estimated time "
            f"on {where}: {time_text} (measured per face here, growing with the crop's area, scaled by this machine's "
            "load now).")


def estimate_text(image, model_id, upscale, aligned, background, min_face, min_score, max_yaw, faces, large_faces):
    """The estimate for the ticked faces (after a tick, a model or a background change). Not an API endpoint."""
    if not image:
        return ""
    if aligned:
        return _aligned_estimate(image, model_id, upscale)
    try:
        img, detected = _found(image, upscale, _selection(min_face, min_score, max_yaw, None, large_faces))
    except Exception:  # noqa: BLE001
        return ""
    return _estimate_text(model_id, img, detected, faces, background, upscale)


def _boxes(img, detected, source) -> str:
    """The photo with each face's box and number drawn (green: restored, grey: left alone)."""
    from PIL import Image, ImageDraw

    scale = min(1.0, 1024 / max(img.shape[:2]))
    pic = Image.fromarray(img)
    if scale < 1:
        pic = pic.resize((round(img.shape[1] * scale), round(img.shape[0] * scale)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(pic)
    width = max(2, round(max(pic.size) / 300))
    for d in detected:
        box = [v * scale for v in d.box]
        colour = (40, 220, 40) if not d.skipped else (160, 160, 160)
        draw.rectangle(box, outline=colour, width=width)
        draw.text((box[0] + width + 1, box[1] + width), str(d.number), fill=colour,
                  font_size=max(12, round((box[3] - box[1]) / 4)))
    return image_file(np.asarray(pic), source, "faces_found", "photo")


#: the blind teacher and its distilled student; the teacher at fidelity 1 (Real-ESRGAN x4plus alone): the outputs the
#: student was trained to reproduce
COMPARE = ("face_realesrgan", "face_student")
COMPARE_FIDELITY = 1.0


def _compare_duration(image, upscale, aligned, progress=None) -> int:
    return gpu_seconds(2 * float(upscale or 2) ** 2, seconds_per_unit=2.0)


@gpu(duration=_compare_duration)
@endpoint("face_compare")
def compare_teacher_student(image, upscale, aligned, progress=gr.Progress()):
    """Restore the same photo with the blind teacher (face_realesrgan at fidelity 1: Real-ESRGAN x4plus alone) and
    the student distilled from it (face_student); report each one's time and peak memory on this photo.

    Args:
        image: the photo (an image file), or one aligned face crop.
        upscale: how much larger the output photo is, 1 to 4.
        aligned: True when the image is a face already aligned to the FFHQ template; False to detect faces.

    Returns:
        The first face restored by the teacher and by the student (a before/after slider) and a markdown table of
        time, peak memory and faces found per model.
    """
    img = read_image(image, "photo", min_side=16)
    loaded = {mid: at_fidelity(load_model("face", mid)[1], COMPARE_FIDELITY) for mid in COMPARE}
    runs = compare_restorers(img, loaded, upscale=upscale if upscale is not None else 2, aligned=bool(aligned),
                             progress=progress_checker(progress))
    pair = tuple(image_file(r.result.faces[0].crop_after, image, f"face1_{r.model_id}", "photo") for r in runs)
    unit = "MB (GPU allocator)" if runs[0].memory_method == "cuda" else "MB (process RSS)"
    rows = ["| model | time (s) | peak memory | faces |", "|---|---|---|---|"]
    rows += [f"| {registry.spec(r.model_id).label} | {r.seconds:.2f} | {r.peak_mb:.0f} {unit} | "
             f"{len(r.result.faces)} |" for r in runs]
    t, s = runs
    rows.append(f"\nOn this photo the teacher took {t.seconds / max(s.seconds, 1e-9):.2f}x the student's time (both "
                "include face detection and pasting). The teacher is Real-ESRGAN x4plus (16.7 M parameters) at "
                "fidelity 1; the student, 1.0 M parameters, was trained to reproduce its outputs.")
    return pair, "\n".join(rows)


@endpoint("face_sr_batch")
def face_sr_batch(files, model_id, upscale, aligned, background=False, min_face=0, min_score=0.9, max_yaw=45,
                  large_faces=False, progress=gr.Progress()):
    """Restore the faces of several photos with the same settings, one after another; one zip with every result.

    Args:
        files: the photos (a list of image files; at most FRAMEFORGE_BATCH_FILES, FRAMEFORGE_BATCH_MB in all).
        model_id: face model id, e.g. "face_bicubic".
        upscale: how much larger each output photo is, 1 to 4.
        aligned: True when every image is a face already aligned to the FFHQ template; False to detect faces.
        background: True to upscale the background with the pretrained BasicVSR, False for Lanczos.
        min_face: leave faces whose box is smaller than this many pixels alone; 0 = no limit.
        min_score: leave faces detected with a lower confidence alone, 0.9 to 1.
        max_yaw: leave profiles turned more than this many degrees alone, 0 to 90.
        large_faces: True also restores faces already large enough (softer than the plain resize).

    Returns:
        The restored photos, one zip holding them and report.md, and the per-file report (markdown).
    """
    def one(path, step):
        photo, _, _, info = face_sr(path, model_id, upscale, aligned, background, min_face, min_score,
                                    max_yaw, None, large_faces, progress=step)
        left = info.get("left_alone") or []
        text = f"{len(info['faces'])} face(s) restored" + (
            f", {len(left)} left alone (" + "; ".join(f"face {d['number']}: {d['reason']}" for d in left) + ")"
            if left else "")
        return [photo], text

    return batch.run_batch(files, one, "face_sr", progress)


def build() -> None:
    gr.Markdown(NOTE)
    with gr.Row():
        with gr.Column():
            image = ImageUpload(label="Photo or aligned face crop", type="filepath")
            model = model_picker("face")
            upscale = Slider(MIN_UPSCALE, MAX_UPSCALE, value=2, step=0.5, label="Upscale")
            aligned = Checkbox(False, label="Input is an aligned face crop (skip detection)")
            background = Checkbox(accelerated(), label="Upscale the background with BasicVSR (sharper; slow on a "
                                                          "CPU; photos up to 1 MP), else Lanczos")
            fidelity = Slider(0.0, 1.0, value=DEFAULT_FIDELITY, step=0.05,
                              label="Fidelity (Real-ESRGAN): 0 = faithful to the input, 1 = fully restored")
            with gr.Accordion("Which faces", open=True):
                gr.Markdown(SELECT_NOTE)
                with gr.Row():
                    min_face = Slider(0, 1024, value=0, step=8, label="Minimum face size (px)")
                    min_score = Slider(0.9, 1.0, value=0.9, step=0.005, label="Minimum detection confidence")
                    max_yaw = Slider(0, 90, value=MAX_YAW, step=5, label="Largest yaw (degrees)")
                large_faces = Checkbox(False, label="Also restore faces already large enough (softer than the "
                                                    "plain resize)")
                faces = FaceNumbers([], value=[], label="Faces to restore", type="value")
                found = gr.Image(label="Faces found (numbered; grey = left alone)", type="filepath", format="png",
                                 interactive=False, height=320)
            estimate = gr.Markdown()
            run = gr.Button("Restore faces", variant="primary")
        with gr.Column():
            photo = gr.Image(label="Restored photo", type="filepath", format="png", interactive=False)
            slider = gr.ImageSlider(label="First face: input (pixels enlarged) / restored", format="png",
                                    type="filepath", interactive=False)
            gallery = gr.Gallery(label="Every face: input | restored", format="png", columns=2,
                                 object_fit="contain", height="auto")
            boxes = gr.JSON(label="Faces (boxes, scores, landmarks)")
    inputs = [image, model, upscale, aligned, background, min_face, min_score, max_yaw, faces, large_faces]
    outputs = [photo, gallery, slider, boxes]
    run.click(face_sr, [*inputs, fidelity], outputs, api_name="face_sr", concurrency_id="gpu")
    detect_inputs = [image, model, upscale, aligned, background, min_face, min_score, max_yaw, large_faces]
    for trigger in (image, upscale, aligned, min_face, min_score, max_yaw, large_faces):
        trigger.change(preview, detect_inputs, [faces, found, estimate], api_visibility="private",
                       show_progress="hidden")
    for trigger in (model, background, faces):
        trigger.change(estimate_text, inputs, estimate, api_visibility="private", show_progress="hidden")
    batch.build("face_sr", [model, upscale, aligned, background, min_face, min_score, max_yaw, large_faces],
                face_sr_batch)
    with gr.Accordion("Compare teacher and student", open=False):
        gr.Markdown("Runs this photo through the blind teacher `face_realesrgan` at fidelity 1 (Real-ESRGAN x4plus, "
                    "16.7 M parameters) and `face_student` (1.0 M parameters, distilled from its outputs) and prints "
                    "each one's time and peak memory here.")
        cmp_run = gr.Button("Compare teacher and student")
        cmp_slider = gr.ImageSlider(label="First face: teacher / student", format="png", type="filepath",
                                    interactive=False)
        cmp_table = gr.Markdown()
    cmp_run.click(compare_teacher_student, [image, upscale, aligned], [cmp_slider, cmp_table],
                  api_name="face_compare", concurrency_id="gpu")
    rows = []
    for name, is_aligned in (("astronaut_256.jpg", False), ("astronaut_pair.jpg", False),
                             ("astronaut_aligned_128.png", True)):
        if (EXAMPLES / name).is_file():
            rows.append([str(EXAMPLES / name), model.value, 2 if not is_aligned else 4, is_aligned, False, 0, 0.9,
                         MAX_YAW, None, False, DEFAULT_FIDELITY])
    if rows:
        gr.Examples(rows, [*inputs, fidelity], outputs, fn=face_sr, cache_examples=True, cache_mode="lazy")
