"""Tab 3 — Face super-resolution: a whole photo (or an aligned face crop) -> the photo upscaled with every face
restored (detect with MTCNN -> align to the FFHQ template -> restore -> paste back, as facexlib does)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from models import registry
from models.device import accelerated, gpu, gpu_seconds
from models.imageio import read_image
from models.pipelines.face_photo import (MAX_UPSCALE, MIN_UPSCALE, background_upscaler, compare_restorers,
                                         restore_photo)

from .common import endpoint, image_file, load_model, model_picker, progress_checker
from .components import ImageUpload, Slider
from .video_sr import nearest

TITLE = "Face SR"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "faces"
NOTE = ("Faces are found with MTCNN, aligned to the FFHQ 5-point template at their own resolution, restored to "
        "512x512 and blended back into the photo, whose background is upscaled with Lanczos or, when ticked, the "
        "pretrained BasicVSR. Tick *aligned face "
        "crop* only for an input that is already one face on the FFHQ template (as in CelebA-HQ / FFHQ); "
        "unticked, faces are detected and a photo without one is refused.")


def _duration(image, model_id, upscale, aligned, background=False, progress=None) -> int:
    return gpu_seconds(float(upscale or 2) ** 2 * (3 if background else 1), seconds_per_unit=2.0)


@gpu(duration=_duration)
@endpoint("face_sr")
def face_sr(image, model_id, upscale, aligned, background=False, progress=gr.Progress()):
    """Restore every face of a photo and upscale the whole photo.

    Args:
        image: the photo (an image file), or one aligned face crop.
        model_id: face model id, e.g. "face_bicubic".
        upscale: how much larger the output photo is, 1 to 4.
        aligned: True when the image is a face already aligned to the FFHQ template; False to detect faces.
        background: True to upscale the background with the pretrained BasicVSR (photos up to 1 MP; slow on a
            CPU), False for Lanczos.

    Returns:
        The restored photo (PNG), a gallery with each face before (the input pixels, enlarged without smoothing)
        and after, the first face as a before/after slider, and the faces' boxes, scores and landmarks as JSON.
    """
    img = read_image(image, "photo", min_side=16)
    model_id, restorer = load_model("face", model_id)
    result = restore_photo(img, restorer, upscale=upscale if upscale is not None else 2, aligned=bool(aligned),
                           progress=progress_checker(progress),
                           background_upscaler=background_upscaler("basicvsr" if background else "lanczos"))
    gallery, pairs = [], []
    for i, f in enumerate(result.faces):
        before = image_file(nearest(f.crop_input, f.crop_after.shape[:2]), image, f"face{i + 1}_input", "photo")
        after = image_file(f.crop_after, image, f"face{i + 1}_restored", "photo")
        gallery += [(before, f"face {i + 1}: input (pixels enlarged)"),
                    (after, f"face {i + 1}: restored (score {f.score:.3f})")]
        pairs.append((before, after))
    info = {
        "model": registry.spec(model_id).label or model_id,
        "model_id": model_id,
        "upscale": float(upscale if upscale is not None else 2),
        "treated_as_aligned_crop": result.aligned,
        "background": "BasicVSR" if background else "Lanczos",
        "input_size": [int(img.shape[1]), int(img.shape[0])],
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                   "landmarks": None if np.isnan(f.landmarks).any() else np.round(f.landmarks, 1).tolist()}
                  for f in result.faces],
    }
    photo = image_file(result.image, image, f"faces_x{float(upscale or 2):g}", "photo")
    return photo, gallery, pairs[0], info


COMPARE = ("face_teacher", "face_student")


def _compare_duration(image, upscale, aligned, progress=None) -> int:
    return gpu_seconds(2 * float(upscale or 2) ** 2, seconds_per_unit=2.0)


@gpu(duration=_compare_duration)
@endpoint("face_compare")
def compare_teacher_student(image, upscale, aligned, progress=gr.Progress()):
    """Restore the same photo with the dictionary teacher and the distilled student; report each one's time and
    peak memory on this photo.

    Args:
        image: the photo (an image file), or one aligned face crop.
        upscale: how much larger the output photo is, 1 to 4.
        aligned: True when the image is a face already aligned to the FFHQ template; False to detect faces.

    Returns:
        The first face restored by the teacher and by the student (a before/after slider) and a markdown table of
        time, peak memory and faces found per model.
    """
    img = read_image(image, "photo", min_side=16)
    loaded = {mid: load_model("face", mid)[1] for mid in COMPARE}
    runs = compare_restorers(img, loaded, upscale=upscale if upscale is not None else 2, aligned=bool(aligned),
                             progress=progress_checker(progress))
    pair = tuple(image_file(r.result.faces[0].crop_after, image, f"face1_{r.model_id}", "photo") for r in runs)
    unit = "MB (GPU allocator)" if runs[0].memory_method == "cuda" else "MB (process RSS)"
    rows = ["| model | time (s) | peak memory | faces |", "|---|---|---|---|"]
    rows += [f"| {registry.spec(r.model_id).label} | {r.seconds:.2f} | {r.peak_mb:.0f} {unit} | "
             f"{len(r.result.faces)} |" for r in runs]
    t, s = runs
    rows.append(f"\nOn this photo the teacher took {t.seconds / max(s.seconds, 1e-9):.2f}x the student's time. Both "
                "run the same pretrained BasicVSR base first, which dominates on a CPU.")
    return pair, "\n".join(rows)


def build() -> None:
    gr.Markdown(NOTE)
    with gr.Row():
        with gr.Column():
            image = ImageUpload(label="Photo or aligned face crop", type="filepath")
            model = model_picker("face")
            upscale = Slider(MIN_UPSCALE, MAX_UPSCALE, value=2, step=0.5, label="Upscale")
            aligned = gr.Checkbox(False, label="Input is an aligned face crop (skip detection)")
            background = gr.Checkbox(accelerated(), label="Upscale the background with BasicVSR (sharper; slow on a "
                                                          "CPU; photos up to 1 MP), else Lanczos")
            run = gr.Button("Restore faces", variant="primary")
        with gr.Column():
            photo = gr.Image(label="Restored photo", type="filepath", format="png", interactive=False)
            slider = gr.ImageSlider(label="First face: input (pixels enlarged) / restored", format="png",
                                    type="filepath", interactive=False)
            gallery = gr.Gallery(label="Every face: input | restored", format="png", columns=2,
                                 object_fit="contain", height="auto")
            boxes = gr.JSON(label="Faces (boxes, scores, landmarks)")
    inputs = [image, model, upscale, aligned, background]
    outputs = [photo, gallery, slider, boxes]
    run.click(face_sr, inputs, outputs, api_name="face_sr", concurrency_id="gpu")
    with gr.Accordion("Compare teacher and student", open=False):
        gr.Markdown("Runs this photo through `face_teacher` (component dictionaries) and `face_student` (distilled, "
                    "no dictionaries) and prints each one's time and peak memory here.")
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
            rows.append([str(EXAMPLES / name), model.value, 2 if not is_aligned else 4, is_aligned, False])
    if rows:
        gr.Examples(rows, inputs, outputs, fn=face_sr, cache_examples=True, cache_mode="lazy")
