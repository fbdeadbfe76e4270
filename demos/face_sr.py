"""Tab 3 — Face super-resolution: a whole photo (or an aligned face crop) -> the photo upscaled with every face
restored (detect with MTCNN -> align to the FFHQ template -> restore -> paste back, as facexlib does)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from models import registry
from models.device import gpu, gpu_seconds
from models.pipelines.face_photo import MAX_UPSCALE, MIN_UPSCALE, restore_photo

from .common import load_model, model_choices, user_errors

TITLE = "Face SR"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "faces"
NOTE = ("Faces are found with MTCNN, aligned to the FFHQ 5-point template at their own resolution, restored to "
        "512x512 and blended back into the photo, whose background is upscaled with Lanczos. Tick *aligned face "
        "crop* for an input that is already one face on the FFHQ template (as in CelebA-HQ / FFHQ).")


def _duration(image, model_id, upscale, aligned, progress=None) -> int:
    shape = getattr(image, "shape", None)
    pixels = shape[0] * shape[1] if shape is not None and len(shape) >= 2 else 1e6
    u = float(upscale or 2)
    return gpu_seconds(pixels * u * u / 1e6, seconds_per_unit=2.0)


def _side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    gap = np.full((before.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([before, gap, after], axis=1)


def _check_image(image) -> np.ndarray:
    if image is None:
        raise gr.Error("Upload a photo (or an aligned face crop) first.")
    if isinstance(image, (str, Path)):  # API callers may send a path
        from PIL import Image

        try:
            with Image.open(image) as im:
                image = np.asarray(im.convert("RGB")).copy()
        except Exception as exc:
            raise gr.Error(f"Could not read the image: {exc}") from exc
    image = np.asarray(image)
    if image.dtype != np.uint8:
        if image.dtype.kind not in "uif":
            raise gr.Error(f"Unsupported image data type {image.dtype}.")
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


@gpu(duration=_duration)
def run_face_sr(image, model_id, upscale, aligned, progress=gr.Progress()):
    """Restore every face of a photo and upscale it (1-4x); returns the photo, per-face before/after, the first
    face as a before/after slider and the boxes/scores as JSON."""
    image = _check_image(image)
    model_id, restorer = load_model("face", model_id)
    with user_errors():
        result = restore_photo(image, restorer, upscale=upscale if upscale is not None else 2,
                               aligned=True if aligned else None,
                               progress=lambda f, desc=None: progress(f, desc=desc))
    gallery = [(_side_by_side(f.crop_before, f.crop_after),
                f"face {i + 1} (score {f.score:.3f}): before | after") for i, f in enumerate(result.faces)]
    first = result.faces[0]
    info = {
        "model": registry.spec(model_id).label or model_id,
        "model_id": model_id,
        "upscale": float(upscale if upscale is not None else 2),
        "treated_as_aligned_crop": result.aligned,
        "input_size": [int(image.shape[1]), int(image.shape[0])],
        "output_size": [int(result.image.shape[1]), int(result.image.shape[0])],
        "faces": [{"box": [round(v, 1) for v in f.box], "score": round(f.score, 4),
                   "landmarks": None if np.isnan(f.landmarks).any() else np.round(f.landmarks, 1).tolist()}
                  for f in result.faces],
    }
    return result.image, gallery, (first.crop_before, first.crop_after), info


def build() -> None:
    choices = model_choices("face")
    default = choices[0][1] if choices else None
    gr.Markdown(NOTE)
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Photo or aligned face crop", type="numpy", image_mode="RGB")
            model = gr.Dropdown(choices, value=default, label="Model")
            upscale = gr.Slider(MIN_UPSCALE, MAX_UPSCALE, value=2, step=0.5, label="Upscale")
            aligned = gr.Checkbox(False, label="Input is an aligned face crop")
            run = gr.Button("Restore faces", variant="primary")
        with gr.Column():
            photo = gr.Image(label="Restored photo", format="png", interactive=False)
            slider = gr.ImageSlider(label="First face: before / after", format="png", interactive=False)
            gallery = gr.Gallery(label="Every face: before | after", format="png", columns=2)
            boxes = gr.JSON(label="Faces (boxes, scores, landmarks)")
    inputs = [image, model, upscale, aligned]
    outputs = [photo, gallery, slider, boxes]
    run.click(run_face_sr, inputs, outputs, api_name="face_sr", concurrency_id="gpu")
    rows = []
    for name, is_aligned in (("astronaut_256.jpg", False), ("astronaut_pair.jpg", False),
                             ("astronaut_aligned_128.png", True)):
        if (EXAMPLES / name).is_file():
            rows.append([str(EXAMPLES / name), default, 2 if not is_aligned else 4, is_aligned])
    if rows:
        gr.Examples(rows, inputs, outputs, fn=run_face_sr, cache_examples=True, cache_mode="lazy")
