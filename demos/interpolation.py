"""Tab 2 — Video frame interpolation: an image pair -> in-between frames, or a video -> x2/x4/x8 / target fps."""
from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from models import registry, video_io
from models.device import gpu, gpu_seconds
from models.imageio import read_image
from models.pipelines.estimate import estimate_interpolation
from models.pipelines import interpolate as pipeline
from models.pipelines.interpolate import MAX_PAIR_FRAMES, save_gif

from .common import endpoint, image_file, load_model, model_picker, output_path
from . import batch, video_options
from .components import Dropdown, ImageUpload, Number, Radio, Slider

TITLE = "Frame interpolation"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXACT_T_NOTE = ("RIFE (the default) and DIS flow make frames at any time t. The kernel models (AdaCoF, SF-AdaCoF) "
                "make only the midpoint: other times are built by recursion (1/2, then 1/4 and 3/4, …) and each "
                "frame is labelled with the t it really has.")
HIGH_FPS = 120


def _pair_duration(image0, image1, n, model_id, preview_fps=8) -> int:
    return gpu_seconds(float(n or 1), seconds_per_unit=1.0)


@gpu(duration=_pair_duration)
@endpoint("interpolate_pair")
def interpolate_pair(image0, image1, n, model_id, preview_fps=8):
    """N in-between frames of two images, evenly spaced in time.

    Args:
        image0: the first frame (an image file).
        image1: the second frame (resized to the first one's size if it differs).
        n: how many in-between frames, 1 to 31.
        model_id: interpolation model id, e.g. "rife", "dis_flow" or "blend".
        preview_fps: frame rate of the preview mp4 and GIF.

    Returns:
        A gallery of the in-between frames (each captioned with its t), a preview mp4 and a looping GIF of
        first frame, in-betweens and second frame.
    """
    if image0 is None or image1 is None:
        raise gr.Error("Upload two images.", print_exception=False)
    a, b = read_image(image0, "first image"), read_image(image1, "second image")
    model_id, model = load_model("vfi", model_id)
    result = pipeline.interpolate_pair(model, a, b, int(n))
    sequence = result.sequence()
    fps = float(preview_fps or 8)
    mp4 = output_path(".mp4", image0, f"{n}frames")
    with video_io.VideoWriter(mp4, fps) as writer:
        for frame in sequence:
            writer.write(frame)
    gif = save_gif(sequence, output_path(".gif", image0, f"{n}frames"), fps)
    gallery = [(image_file(f, image0, f"t{t:.4g}"), f"t = {t:.4g}") for f, t in zip(result.frames, result.times)]
    return gallery, mp4, gif


def _factor(mode, factor, target_fps, in_fps: float = 30.0) -> float:
    return (float(target_fps) / in_fps) if mode == "target fps" and target_fps else float(factor or 2)


def _video_estimate(video, mode, factor, target_fps, model_id) -> dict | None:
    """The cost model's estimate of a job on ``video`` (a path or the job's VideoSource, probed once)."""
    info = video_options.info_or_none(video)
    if info is None:
        return None
    return estimate_interpolation(model_id or registry.default_id("vfi"), info.frame_count, (info.width, info.height),
                                  _factor(mode, factor, target_fps, info.fps))


@gpu(duration=video_options.segment_seconds)
def interpolate_video_segment(job, seg, origin, model_id, part):
    """One segment of a video interpolation job as its own ZeroGPU call; its frames go, raw, to the file ``part``
    and the app stitches them with the audio (models.pipelines.segments)."""
    from models.pipelines.segments import run_segment_to_part

    return run_segment_to_part(registry.get(model_id), job, seg, origin, part)


def interpolate(model_id, model, video, dst, mode, factor, target_fps, progress=None, **opts):
    """The job on ``video`` (a path or the job's VideoSource), through :func:`video_options.run`: in one piece, or on
    ZeroGPU in segments, each its own GPU call (:func:`interpolate_video_segment`). ``opts``: the loop, output, HDR,
    duplicate and PNG-input settings of :func:`~models.pipelines.interpolate.interpolate_video` (one piece only)."""
    from models.pipelines.segments import interpolate_video_in_segments

    rate = {"fps": float(target_fps)} if mode == "target fps" else {"factor": float(factor or 2)}
    with video_io.VideoSource.of(video) as source:
        return video_options.run(
            source, opts, lambda **kw: pipeline.interpolate_video(model, source, dst, **rate, **kw),
            lambda **kw: interpolate_video_in_segments(
                model, source, dst, call=lambda job, seg, origin, part: interpolate_video_segment(
                    job, seg, origin, model_id, part), **rate, **kw),
            lambda src: _video_estimate(src, mode, factor, target_fps, model_id), progress, loop=True)


def estimate_text(video, mode, factor, target_fps, model_id) -> str:
    """What the job will make and about how long it takes on this machine (shown before it runs)."""
    return video_options.estimate_text(_video_estimate(video, mode, factor, target_fps, model_id))


@endpoint("interpolate_video")
def interpolate_video(video, mode, factor, target_fps, model_id, loop=False, codec="h264", crf=18, preset="fast",
                      bit_depth=8, hdr="keep", dedup="auto", frames_zip=None, input_fps=0, progress=gr.Progress()):
    """Raise a video's frame rate by x2/x4/x8 or to a target fps (also lower: 30 -> 25, each frame made at its exact
    time); scene cuts are held, the audio is kept; optionally a seamless loop.

    Args:
        video: the input video file.
        mode: "factor" (multiply the frame rate) or "target fps".
        factor: 1, 2, 4 or 8 (mode "factor"; 1 keeps the rate, e.g. for a loop or another codec).
        target_fps: the output frame rate, 1 to 240 (mode "target fps"); below the input's it reduces the rate.
        model_id: interpolation model id, e.g. "rife" or "dis_flow".
        loop: close the clip seamlessly: the last frame is interpolated into the first (default false).
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
        The interpolated video (mp4/webm; None for the download-only mkv and zip), a short report saying what was
        written, and the result file to download.
    """
    source, in_fps = video_options.open_source(video, frames_zip, input_fps)
    video = source.path
    opts = video_options.options(codec, crf, preset, bit_depth, hdr, dedup)
    if not isinstance(loop, bool):
        raise gr.Error(f"loop must be true or false, got {loop!r}.", print_exception=False)
    if mode not in ("factor", "target fps"):
        raise gr.Error(f"Mode must be 'factor' or 'target fps', got {mode!r}.", print_exception=False)
    if mode == "target fps" and not target_fps:
        raise gr.Error("Enter a target fps, e.g. 60.", print_exception=False)
    model_id, model = load_model("vfi", model_id)
    tag = f"{target_fps:g}fps" if mode == "target fps" else f"x{float(factor or 2):g}"
    dst = output_path(video_io.output_suffix(opts["codec"]), video, tag + ("_loop" if loop else ""))
    started = time.perf_counter()
    report = interpolate(model_id, model, source, dst, mode, factor, target_fps, video_options.TimeLeft(progress),
                         **opts, **({"loop": True} if loop else {}), **({"input_fps": in_fps} if in_fps else {}))
    took = time.perf_counter() - started
    notes = list(report.warnings)
    if report.out_fps > HIGH_FPS:
        notes.append(f"{report.out_fps:.4g} fps is more than most screens show ({HIGH_FPS}); players drop frames.")
    summary = (f"**{registry.spec(model_id).label or model_id}**: {report.in_fps:.4g} fps ({report.in_frames} "
               f"frames) → {report.out_fps:.4g} fps ({report.out_frames} frames) in {took:.1f} s "
               f"({report.out_frames / max(took, 1e-6):.2f} frames/s); scene cuts held: {len(report.scene_cuts)}; "
               f"largest time snap: {report.max_time_error:.3f}; audio: {report.audio}."
               + (" Loop: the last → first transition is interpolated." if report.loop else "")
               + "".join(f"\n\n⚠ {n}" for n in notes) + video_options.report_lines(report))
    return video_options.playable(dst), summary, dst


@endpoint("interpolate_video_batch")
def interpolate_video_batch(files, mode, factor, target_fps, model_id, progress=gr.Progress()):
    """Raise several videos' frame rate with the same settings, one after another; one zip with every result.

    Args:
        files: the input videos (a list of files; at most FRAMEFORGE_BATCH_FILES, FRAMEFORGE_BATCH_MB in all).
        mode: "factor" (multiply the frame rate) or "target fps".
        factor: 2, 4 or 8 (mode "factor").
        target_fps: the output frame rate, 1 to 240 (mode "target fps").
        model_id: interpolation model id, e.g. "rife" or "dis_flow".

    Returns:
        The result videos, one zip holding them and report.md, and the per-file report (markdown).
    """
    def one(path, step):
        out = interpolate_video(path, mode, factor, target_fps, model_id, progress=step)
        return [batch.video_path(out[0])], out[1].split("\n")[0]

    return batch.run_batch(files, one, "interpolate_video", progress)


def build() -> None:
    gr.Markdown(EXACT_T_NOTE)
    with gr.Tab("Image pair"):
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    image0 = ImageUpload(label="First frame", type="filepath")
                    image1 = ImageUpload(label="Second frame", type="filepath")
                n = Slider(1, MAX_PAIR_FRAMES, value=3, step=1, precision=0, label="In-between frames")
                model = model_picker("vfi")
                fps = Slider(1, 30, value=8, step=1, precision=0, label="Preview fps")
                run = gr.Button("Interpolate", variant="primary")
            with gr.Column():
                gallery = gr.Gallery(label="In-between frames", format="png", columns=4, object_fit="contain")
                gif = gr.Image(label="Preview (GIF, looping)", type="filepath", format="gif", interactive=False)
                preview = gr.Video(label="Preview (mp4)")
        pair_inputs = [image0, image1, n, model, fps]
        run.click(interpolate_pair, pair_inputs, [gallery, preview, gif], api_name="interpolate_pair", concurrency_id="gpu")
        pairs = sorted(p for p in (EXAMPLES / "pairs").glob("*") if (p / "frame0.png").is_file())
        if pairs:
            gr.Examples([[str(p / "frame0.png"), str(p / "frame1.png"), 3, model.value, 8] for p in pairs],
                        pair_inputs, [gallery, preview, gif], fn=interpolate_pair, cache_examples=True, cache_mode="lazy")
    with gr.Tab("Video"):
        with gr.Row():
            with gr.Column():
                video = gr.Video(label="Input video", sources=["upload"])
                mode = Radio(["factor", "target fps"], value="factor", label="Mode")
                factor = Dropdown([1, 2, 4, 8], value=2, label="Factor")
                target_fps = Number(value=60, label="Target fps", minimum=1, maximum=240, visible=False,
                                    info="Below the input's it reduces the rate (e.g. 30 → 25), each frame made at "
                                         "its exact time")
                vmodel = model_picker("vfi")
                extra = video_options.controls(loop=True)
                estimate = gr.Markdown()
                with gr.Row():
                    vrun = gr.Button("Interpolate video", variant="primary")
                    stop = gr.Button("Stop", variant="stop")
            with gr.Column():
                out_video = gr.Video(label="Result")
                summary = gr.Markdown()
                download = gr.File(label="Result file (any codec)")
        video_inputs = [video, mode, factor, target_fps, vmodel]
        mode.change(lambda m: (gr.update(visible=m == "factor"), gr.update(visible=m == "target fps")), mode,
                    [factor, target_fps], api_visibility="private", show_progress="hidden")
        for trigger in video_inputs:
            trigger.change(estimate_text, video_inputs, estimate, api_visibility="private", show_progress="hidden")
        event = vrun.click(interpolate_video, video_inputs + extra, [out_video, summary, download],
                           api_name="interpolate_video", concurrency_id="gpu")
        video_options.stop_button(stop, summary, [event])
        # many files: mode, factor, target fps, model
        batch.build("interpolate_video", video_inputs[1:], interpolate_video_batch)
        clips = sorted((EXAMPLES / "videos").glob("*.mp4"))
        if clips:
            gr.Examples([[str(clips[-1]), "factor", 2, 60, vmodel.value]], video_inputs, [out_video, summary, download],
                        fn=interpolate_video, cache_examples=True, cache_mode="lazy")
