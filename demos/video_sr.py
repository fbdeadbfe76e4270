"""Tab 1 — Video SR at any scale, in space and time (C-STVSR)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from models import registry
from models.device import gpu, gpu_seconds
from models.pipelines.video_sr import MAX_SCALE, MIN_SCALE, upscale_video

from .common import load_model, model_choices, output_file, user_errors, video_work

TITLE = "Video SR (space-time)"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "videos"
TRAINED_SCALES = (2.0, 4.0)  # spatial scales the learned continuous models (tag "arbitrary_scale") are trained on


def _duration(video, scale, target_fps, time_factor, model_id, progress=None) -> int:
    frames, w, h = video_work(video)
    factor = (target_fps / 30.0) if target_fps else (time_factor or 1)
    out_megapixels = frames * max(1.0, factor) * w * h * (scale or 1) ** 2 / 1e6
    return gpu_seconds(out_megapixels, seconds_per_unit=0.5)


@gpu(duration=_duration)
def run_video_sr(video, scale, target_fps, time_factor, model_id, progress=gr.Progress()):
    """Upscale a video by a float spatial scale (1–8) and to a target fps or time factor; keeps the audio.

    Returns the output mp4, a before/after frame pair and a short report.
    """
    if not video:
        raise gr.Error("Upload a video first.")
    model_id, model = load_model("stvsr", model_id)
    with user_errors():
        dst = output_file(".mp4")
        report = upscale_video(model, video, dst, float(scale), fps=float(target_fps) if target_fps else None,
                               time_factor=float(time_factor or 1),
                               progress=lambda f, d: progress(f, desc=d))
    note = ""
    learned = "arbitrary_scale" in registry.spec(model_id).tags
    if learned and not TRAINED_SCALES[0] <= float(scale) <= TRAINED_SCALES[1]:
        note = f" Scale x{scale:g} is outside the training range x{TRAINED_SCALES[0]:g}–x{TRAINED_SCALES[1]:g}."
    summary = (f"**{registry.spec(model_id).label or model_id}**: {report.in_size[0]}x{report.in_size[1]} @ "
               f"{report.in_fps:.3g} fps ({report.in_frames} frames) → {report.out_size[0]}x{report.out_size[1]} @ "
               f"{report.out_fps:.3g} fps ({report.out_frames} frames); audio: {report.audio}; "
               f"scene cuts held: {len(report.scene_cuts)}.{note}")
    return dst, (report.before, report.after), summary


def build() -> None:
    gr.Markdown("Upload a video, pick any spatial scale (x1–x8, fractions allowed) and a target frame rate "
                "(or a time factor). The original audio is copied into the result.")
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Input video", sources=["upload"])
            scale = gr.Slider(MIN_SCALE, MAX_SCALE, value=2.0, step=0.1, label="Spatial scale")
            with gr.Row():
                target_fps = gr.Number(value=0, label="Target fps (0 = use the time factor)", minimum=0,
                                       maximum=240)
                time_factor = gr.Dropdown([1, 2, 4, 8], value=2, label="Time factor")
            choices = model_choices("stvsr")
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model")
            run = gr.Button("Upscale", variant="primary")
        with gr.Column():
            out_video = gr.Video(label="Result")
            slider = gr.ImageSlider(label="Before (bicubic) / after", format="png", type="numpy")
            summary = gr.Markdown()
    inputs = [video, scale, target_fps, time_factor, model]
    outputs = [out_video, slider, summary]
    run.click(run_video_sr, inputs, outputs, api_name="video_sr", concurrency_id="gpu")
    examples = sorted(EXAMPLES.glob("*.mp4"))
    if examples:
        gr.Examples([[str(examples[0]), 2.0, 0, 2, choices[0][1] if choices else None]], inputs, outputs,
                    fn=run_video_sr, cache_examples=True, cache_mode="lazy")
