"""Tab 2 — Video frame interpolation: an image pair -> in-between frames, or a video -> x2/x4/x8 / target fps."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from models import registry, video_io
from models.device import gpu, gpu_seconds
from models.pipelines.interpolate import interpolate_pair, interpolate_video, save_gif

from .common import load_model, model_choices, output_file, user_errors, video_work

TITLE = "Frame interpolation"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXACT_T_NOTE = ("Kernel models (AdaCoF, SF-AdaCoF) make only the midpoint: other times are built by recursion "
                "(1/2, then 1/4 and 3/4, …) and each frame is labelled with the t it really has. For exact times use "
                "DIS flow, or BF-STVSR at scale 1 when its weights are installed.")


def _pair_duration(image0, image1, n, model_id, preview_fps=8) -> int:
    pixels = (image0.shape[0] * image0.shape[1]) if hasattr(image0, "shape") else 0
    return gpu_seconds((n or 1) * pixels / 1e6, seconds_per_unit=0.5)


@gpu(duration=_pair_duration)
def run_pair(image0, image1, n, model_id, preview_fps=8):
    """N in-between frames of two images: a gallery (each frame with its t), an mp4 and a looping GIF."""
    if image0 is None or image1 is None:
        raise gr.Error("Upload two images.")
    model_id, model = load_model("vfi", model_id)
    with user_errors():
        result = interpolate_pair(model, image0, image1, int(n))
        sequence = result.sequence()
        mp4 = output_file(".mp4")
        with video_io.VideoWriter(mp4, float(preview_fps or 8)) as writer:
            for frame in sequence:
                writer.write(frame)
        gif = save_gif(sequence, output_file(".gif"), float(preview_fps or 8))
    gallery = [(f, f"t = {t:.4g}") for f, t in zip(result.frames, result.times)]
    return gallery, mp4, gif


def _video_duration(video, mode, factor, target_fps, model_id, progress=None) -> int:
    frames, w, h = video_work(video)
    mult = (target_fps / 24.0) if mode == "target fps" and target_fps else float(factor or 2)
    return gpu_seconds(frames * mult * w * h / 1e6, seconds_per_unit=0.3)


@gpu(duration=_video_duration)
def run_video(video, mode, factor, target_fps, model_id, progress=gr.Progress()):
    """Raise a video's frame rate by x2/x4/x8 or to a target fps; scene cuts are held, audio is kept."""
    if not video:
        raise gr.Error("Upload a video first.")
    if mode == "target fps" and not target_fps:
        raise gr.Error("Enter a target fps, e.g. 60.")
    model_id, model = load_model("vfi", model_id)
    with user_errors():
        dst = output_file(".mp4")
        rate = {"fps": float(target_fps)} if mode == "target fps" else {"factor": float(factor or 2)}
        report = interpolate_video(model, video, dst, progress=lambda f, d: progress(f, desc=d), **rate)
    summary = (f"**{registry.spec(model_id).label or model_id}**: {report.in_fps:.4g} fps ({report.in_frames} "
               f"frames) → {report.out_fps:.4g} fps ({report.out_frames} frames); scene cuts held: "
               f"{len(report.scene_cuts)}; largest time snap: {report.max_time_error:.3f}; audio: {report.audio}.")
    return dst, summary


def build() -> None:
    choices = model_choices("vfi")
    default = choices[0][1] if choices else None
    gr.Markdown(EXACT_T_NOTE)
    with gr.Tab("Image pair"):
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    image0 = gr.Image(label="First frame", type="numpy", image_mode="RGB")
                    image1 = gr.Image(label="Second frame", type="numpy", image_mode="RGB")
                n = gr.Slider(1, 31, value=3, step=1, label="In-between frames")
                model = gr.Dropdown(choices, value=default, label="Model")
                fps = gr.Slider(1, 30, value=8, step=1, label="Preview fps")
                run = gr.Button("Interpolate", variant="primary")
            with gr.Column():
                gallery = gr.Gallery(label="In-between frames", format="png", columns=4)
                preview = gr.Video(label="Preview (mp4)")
                gif = gr.File(label="Preview (GIF)")
        pair_inputs = [image0, image1, n, model, fps]
        run.click(run_pair, pair_inputs, [gallery, preview, gif], api_name="interpolate_pair",
                  concurrency_id="gpu")
        pairs = sorted(p for p in (EXAMPLES / "pairs").glob("*") if (p / "frame0.png").is_file())
        if pairs:
            gr.Examples([[str(p / "frame0.png"), str(p / "frame1.png"), 3, default, 8] for p in pairs],
                        pair_inputs, [gallery, preview, gif], fn=run_pair, cache_examples=True,
                        cache_mode="lazy")
    with gr.Tab("Video"):
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Input video", sources=["upload"])
                mode = gr.Radio(["factor", "target fps"], value="factor", label="Mode")
                factor = gr.Dropdown([2, 4, 8], value=2, label="Factor")
                target_fps = gr.Number(value=60, label="Target fps", minimum=1, maximum=240)
                vmodel = gr.Dropdown(choices, value=default, label="Model")
                vrun = gr.Button("Interpolate video", variant="primary")
            with gr.Column():
                out_video = gr.Video(label="Result")
                summary = gr.Markdown()
        video_inputs = [video, mode, factor, target_fps, vmodel]
        vrun.click(run_video, video_inputs, [out_video, summary], api_name="interpolate_video",
                   concurrency_id="gpu")
        clips = sorted((EXAMPLES / "videos").glob("*.mp4"))
        if clips:
            gr.Examples([[str(clips[-1]), "factor", 2, 60, default]], video_inputs, [out_video, summary],
                        fn=run_video, cache_examples=True, cache_mode="lazy")
