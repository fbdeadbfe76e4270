"""Tab 1 — Video SR at any scale, in space and time (C-STVSR)."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np

from models import registry, video_io
from models.device import gpu, gpu_seconds
from models.pipelines.estimate import estimate_video_sr
from models.pipelines.video_sr import MAX_SCALE, MIN_SCALE, compare_models, upscale_video

from .common import endpoint, image_file, load_model, model_picker, output_path, progress_checker
from . import batch, video_options
from .components import Dropdown, Number, Radio, Slider

TITLE = "Video SR (space-time)"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "videos"
TRAINED_SCALES = (2.0, 4.0)  # spatial scales the learned continuous models (tag "arbitrary_scale") are trained on
HIGH_FPS = 120  # above this the report warns that few players show every frame


def nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` enlarged to (height, width) without smoothing: each input pixel becomes a block."""
    h, w = image.shape[:2]
    ys = (np.arange(size[0]) * h // size[0]).clip(0, h - 1)
    xs = (np.arange(size[1]) * w // size[1]).clip(0, w - 1)
    return image[ys][:, xs]


def _job(video, scale, target_fps, time_factor, model_id, info=None) -> dict | None:
    """The cost model's estimate of a job on ``video`` (a path or the job's VideoSource; ``info``: probed already)."""
    info = info or video_options.info_or_none(video)
    if info is None:
        return None
    return estimate_video_sr(model_id or registry.default_id("stvsr"), info.frame_count, (info.width, info.height),
                             float(scale or 1), float(target_fps or 0), float(time_factor or 1), info.fps)


@gpu(duration=video_options.segment_seconds)
def video_sr_segment(job, seg, origin, model_id, part):
    """One segment of a Video SR job as its own ZeroGPU call; its frames go, raw, to the file ``part`` (the call
    runs in another process) and the app stitches them with the audio (models.pipelines.segments)."""
    from models.pipelines.segments import run_segment_to_part

    return run_segment_to_part(registry.get(model_id), job, seg, origin, part)


def upscale(model_id, model, video, dst, scale, target_fps, time_factor, progress=None, **opts):
    """The job on ``video`` (a path or the job's VideoSource), through :func:`video_options.run`: in one piece, or on
    ZeroGPU in segments, each its own GPU call (:func:`video_sr_segment`). ``opts``: the output, HDR, duplicate and
    PNG-input settings of :func:`~models.pipelines.video_sr.upscale_video` (one piece only)."""
    from models.pipelines.segments import upscale_video_in_segments

    fps, time_factor = (float(target_fps) if target_fps else None), float(time_factor or 1)
    with video_io.VideoSource.of(video) as source:
        return video_options.run(
            source, opts, lambda **kw: upscale_video(model, source, dst, float(scale), fps=fps,
                                                     time_factor=time_factor, **kw),
            lambda **kw: upscale_video_in_segments(
                model, source, dst, float(scale), fps=fps, time_factor=time_factor,
                call=lambda job, seg, origin, part: video_sr_segment(job, seg, origin, model_id, part), **kw),
            lambda src: _job(src, scale, target_fps, time_factor, model_id), progress)


def estimate_text(video, scale, target_fps, time_factor, model_id) -> str:
    """What the job will make and about how long it takes on this machine (shown before it runs)."""
    try:
        return video_options.estimate_text(_job(video, scale, target_fps, time_factor, model_id))
    except (ValueError, KeyError):
        return ""


@endpoint("video_sr")
def video_sr(video, scale, target_fps, time_factor, model_id, codec="h264", crf=18, preset="fast", bit_depth=8,
             hdr="keep", dedup="auto", frames_zip=None, input_fps=0, progress=gr.Progress()):
    """Upscale a video in space (any scale from 1 to 8) and in time (a target frame rate, or a time factor); the audio
    is kept and scene cuts are held rather than morphed.

    Args:
        video: the input video file (mp4, mov, webm, ...).
        scale: spatial scale, 1 to 8 (fractions allowed, e.g. 2.5).
        target_fps: output frames per second; 0 uses the time factor instead.
        time_factor: output fps = input fps x this factor (1, 2, 4 or 8) when target_fps is 0.
        model_id: space-time model id, e.g. "basicvsr+rife", "lanczos+rife" or "lanczos+dis".
        codec: output codec: "h264" (default, mp4), "h265" (mp4), "vp9" (webm), "ffv1" (lossless mkv) or
            "png-zip" (lossless PNG frames in a zip).
        crf: constant quality, 0 (best) to 51 (63 for VP9); default 18. Ignored by the lossless codecs.
        preset: encoder speed, "ultrafast" ... "veryslow" (default "fast").
        bit_depth: 8 (default) or 10 bits per sample (H.264 High 10, H.265 Main 10, FFV1, 16-bit PNG).
        hdr: for an HDR input (PQ/HLG): "keep" (default: 10-bit with its BT.2020 tags) or "tonemap" (SDR BT.709).
        dedup: duplicate frames: "auto" (default: on when the frame rate goes up), "on" or "off".
        frames_zip: a zip of PNG frames to use instead of the video (the frame rate is input_fps).
        input_fps: the frame rate of frames_zip (frames per second).

    Returns:
        The upscaled video (mp4/webm; None for the download-only mkv and zip), a before/after pair of the first frame
        (before = the input frame Lanczos-resized to the output size, the same instant), a short report saying what
        was written, a 1:1 crop of the same pair (the central 256 x 256 output pixels) and the result file to
        download.
    """
    source, in_fps = video_options.open_source(video, frames_zip, input_fps)
    src = source.path
    opts = video_options.options(codec, crf, preset, bit_depth, hdr, dedup)
    model_id, model = load_model("stvsr", model_id)
    dst = output_path(video_io.output_suffix(opts["codec"]), src, f"x{float(scale):g}")
    started = time.perf_counter()
    report = upscale(model_id, model, source, dst, scale, target_fps, time_factor, video_options.TimeLeft(progress),
                     **opts, **({"input_fps": in_fps} if in_fps else {}))
    took = time.perf_counter() - started
    notes = list(report.warnings)
    if "arbitrary_scale" in registry.spec(model_id).tags and not TRAINED_SCALES[0] <= float(scale) <= TRAINED_SCALES[1]:
        notes.append(f"Scale x{scale:g} is outside the training range x{TRAINED_SCALES[0]:g}–x{TRAINED_SCALES[1]:g}.")
    if report.out_fps > HIGH_FPS:
        notes.append(f"{report.out_fps:.4g} fps is more than most screens show ({HIGH_FPS}); players drop frames.")
    summary = (f"**{registry.spec(model_id).label or model_id}**: {report.in_size[0]}x{report.in_size[1]} @ "
               f"{report.in_fps:.3g} fps ({report.in_frames} frames) → {report.out_size[0]}x{report.out_size[1]} @ "
               f"{report.out_fps:.3g} fps ({report.out_frames} frames) in {took:.1f} s "
               f"({report.out_frames / max(took, 1e-6):.2f} output frames/s); audio: {report.audio}; "
               f"scene cuts held: {len(report.scene_cuts)}." + "".join(f"\n\n⚠ {n}" for n in notes)
               + video_options.report_lines(report))
    before, after, before_crop, after_crop = video_options.before_after(report.before, report.after)
    pair = (image_file(before, src, "first_frame_input_lanczos"), image_file(after, src, "first_frame_result"))
    crops = (image_file(before_crop, src, "crop_input_lanczos"), image_file(after_crop, src, "crop_result"))
    return video_options.playable(dst), pair, summary, crops, dst


def _compare_duration(video, scale, target_fps, time_factor, model_a, model_b, seconds, progress=None) -> int:
    """ZeroGPU seconds for a comparison: both models' estimates, scaled to the first ``seconds`` of the video."""
    info = video_options.info_or_none(video)  # once for both estimates
    length = info.duration if info is not None else 0.0
    share = min(1.0, float(seconds or 2) / length) if length > 0 else 1.0
    total = 0.0
    for model_id in (model_a, model_b):
        try:
            est = _job(video, scale, target_fps, time_factor, model_id, info)
        except (ValueError, KeyError):
            est = None
        total += (est["gpu_seconds"] if est else 15.0) * share
    return gpu_seconds(total, seconds_per_unit=1.5, floor=20, cap=300)


@gpu(duration=_compare_duration)
@endpoint("compare")
def compare(video, scale, target_fps, time_factor, model_a, model_b, seconds, progress=gr.Progress()):
    """Run two space-time models on the first seconds of a video with the same settings and show them side by side.

    Args:
        video: the input video file.
        scale: spatial scale, 1 to 8.
        target_fps: output frames per second; 0 uses the time factor instead.
        time_factor: output fps = input fps x this factor when target_fps is 0.
        model_a: the first model id (e.g. "basicvsr+rife").
        model_b: the second model id (e.g. "lanczos+dis").
        seconds: how much of the video's start to use, 0.5 to 10 seconds.

    Returns:
        The two results, their second frames side by side (an in-between frame when the frame rate goes up) and a
        table of their timings.
    """
    if not video:
        raise gr.Error("Upload a video first.", print_exception=False)
    if model_a == model_b:
        raise gr.Error("Choose two different models to compare.", print_exception=False)
    if not isinstance(seconds, (int, float)) or not 0.5 <= seconds <= 10:
        raise gr.Error(f"Seconds to compare must be between 0.5 and 10, got {seconds!r}.", print_exception=False)
    loaded = [load_model("stvsr", m) for m in (model_a, model_b)]
    dsts = [output_path(".mp4", video, f"compare_{i}") for i in "ab"]
    with video_io.VideoSource(video) as source:  # probed once; each model's run then reads the cut clip
        runs = compare_models(loaded, source, dsts, float(scale), fps=float(target_fps) if target_fps else None,
                              time_factor=float(time_factor or 1), seconds=float(seconds),
                              progress=progress_checker(progress))
    rows = "\n".join(f"| {registry.spec(r.model_id).label or r.model_id} | {r.report.out_frames} | {r.seconds:.1f} | "
                      f"{r.report.out_frames / max(r.seconds, 1e-6):.2f} |" for r in runs)
    a, b = runs
    table = (f"First {seconds:g} s at x{float(scale):g}, {a.report.out_fps:.3g} fps "
             f"({a.report.out_size[0]}x{a.report.out_size[1]}):\n\n| model | frames | seconds | frames/s |\n"
             f"|---|---|---|---|\n{rows}")
    pair = (image_file(a.frame, video, "compare_a_frame"), image_file(b.frame, video, "compare_b_frame"))
    return a.out_path, b.out_path, pair, table


@endpoint("video_sr_batch")
def video_sr_batch(files, scale, target_fps, time_factor, model_id, progress=gr.Progress()):
    """Upscale several videos with the same settings, one after another; one zip with every result.

    Args:
        files: the input videos (a list of files; at most FRAMEFORGE_BATCH_FILES, FRAMEFORGE_BATCH_MB in all).
        scale: spatial scale, 1 to 8.
        target_fps: output frames per second; 0 uses the time factor instead.
        time_factor: output fps = input fps x this factor (1, 2, 4 or 8) when target_fps is 0.
        model_id: space-time model id, e.g. "lanczos+dis" or "basicvsr+rife".

    Returns:
        The result videos, one zip holding them and report.md, and the per-file report (markdown).
    """
    def one(path, step):
        out = video_sr(path, scale, target_fps, time_factor, model_id, progress=step)
        return [batch.video_path(out[0])], out[2].split("\n")[0]

    return batch.run_batch(files, one, "video_sr", progress)


def build() -> None:
    gr.Markdown("Upload a video, pick any spatial scale (x1–x8, fractions allowed) and a frame rate: a time factor "
                "or a target fps. The original audio is copied into the result; scene cuts are held. The estimate "
                "below updates before you run.")
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Input video", sources=["upload"])
            scale = Slider(MIN_SCALE, MAX_SCALE, value=2.0, step=0.1, label="Spatial scale")
            rate = Radio(["time factor", "target fps"], value="time factor", label="Frame rate by")
            with gr.Row():
                time_factor = Dropdown([1, 2, 4, 8], value=2, label="Time factor")
                target_fps = Number(value=0, label="Target fps", minimum=0, maximum=240, visible=False)
            model = model_picker("stvsr")
            extra = video_options.controls()
            estimate = gr.Markdown()
            with gr.Row():
                run = gr.Button("Upscale", variant="primary")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column():
            out_video = gr.Video(label="Result")
            slider = gr.ImageSlider(label="First frame, same instant and size: input (Lanczos resize) / result",
                                    format="png", type="filepath")
            crop = gr.ImageSlider(label="1:1 crop (central 256 px): input (Lanczos resize) / result", format="png",
                                  type="filepath")
            summary = gr.Markdown()
            download = gr.File(label="Result file (any codec)")
    with gr.Accordion("Compare two models on the first seconds", open=False):
        with gr.Row():
            model_b = model_picker("stvsr", label="Second model")
            seconds = Slider(0.5, 10, value=2, step=0.5, label="Seconds from the start")
            cmp_run = gr.Button("Compare")
        with gr.Row():
            video_a = gr.Video(label="First model")
            video_b = gr.Video(label="Second model")
        cmp_slider = gr.ImageSlider(label="Second output frame: first model / second model", format="png",
                                    type="filepath")
        cmp_table = gr.Markdown()
    inputs = [video, scale, target_fps, time_factor, model]
    outputs = [out_video, slider, summary]
    rate.change(lambda r: (gr.update(visible=r == "time factor"),
                           gr.update(visible=r == "target fps", value=60 if r == "target fps" else 0)),
                rate, [time_factor, target_fps], api_visibility="private", show_progress="hidden")
    for trigger in inputs:
        trigger.change(estimate_text, inputs, estimate, api_visibility="private", show_progress="hidden")
    event = run.click(video_sr, inputs + extra, outputs + [crop, download], api_name="video_sr",
                      concurrency_id="gpu")
    cmp_event = cmp_run.click(compare, [video, scale, target_fps, time_factor, model, model_b, seconds],
                              [video_a, video_b, cmp_slider, cmp_table], api_name="compare", concurrency_id="gpu")
    video_options.stop_button(stop, summary, [event, cmp_event])
    batch.build("video_sr", inputs[1:], video_sr_batch)  # many files: scale, target fps, time factor, model
    examples = sorted(EXAMPLES.glob("*.mp4"))
    if examples:
        gr.Examples([[str(examples[0]), 2.0, 0, 2, model.value]], inputs, outputs + [crop, download], fn=video_sr,
                    cache_examples=True, cache_mode="lazy")
