"""What the two video tabs share: the output settings (codec, CRF, preset, bit depth), HDR handling, duplicate
frames, a zip of PNG frames as input, the job's one :class:`~models.video_io.VideoSource` (probed once, handed to the
estimate, the ZeroGPU duration and the pipeline), the job itself (in one piece, or in ZeroGPU segments), the result
to download, the before/after views, the time left in the progress bar and Stop."""
from __future__ import annotations

import time

import gradio as gr
import numpy as np
from PIL import Image

from models import video_io
from models.pipelines.dedup import DUP_THRESHOLD
from models.pipelines.output import DEDUP_MODES, HDR_MODES, check_output_settings

from .components import Dropdown, Number, Radio, Slider

#: Results a browser plays in the Result player; the others (FFV1 .mkv, PNG .zip) are only offered for download.
PLAYABLE = (".mp4", ".webm")
#: Side of the 1:1 crop view (output pixels).
CROP = 256
STOPPED = ("⏹ **Stopped.** The job was cancelled at your request; its partial result was deleted, so there is "
           "nothing to show. Run it again to start over.")

DEFAULTS = dict(codec="h264", crf=18, preset="fast", bit_depth=8, hdr="keep", dedup="auto")


def controls(loop: bool = False) -> list:
    """The tab's extra inputs in a closed accordion, in the API order: [loop], codec, crf, preset, bit_depth, hdr,
    dedup, frames_zip, input_fps."""
    out = []
    with gr.Accordion("Output, HDR, duplicates, PNG frames", open=False):
        if loop:
            out.append(gr.Checkbox(value=False, label="Loop: close the clip (the last frame is interpolated into "
                                                     "the first)"))
        with gr.Row():
            out.append(Dropdown(video_io.available_codecs(), value="h264", label="Codec"))
            out.append(Slider(0, 63, value=18, step=1, precision=0, label="CRF (quality: lower is better)"))
            out.append(Dropdown(list(video_io.PRESETS), value="fast", label="Encoder preset"))
            out.append(Radio([8, 10], value=8, label="Bits per sample"))
        with gr.Row():
            out.append(Radio(list(HDR_MODES), value="keep", label="HDR input: keep (10-bit, tagged) or tone-map "
                                                                  "to SDR"))
            out.append(Radio(list(DEDUP_MODES), value="auto",
                             label="Duplicate frames (auto: on when the frame rate goes up)"))
        with gr.Row():
            out.append(gr.File(label="Or a zip of PNG frames as input", file_types=[".zip"], type="filepath"))
            out.append(Number(value=0, minimum=0, maximum=240, label="Frame rate of the PNG frames"))
    return out


def open_source(video, frames_zip, input_fps) -> tuple[video_io.VideoSource, float | None]:
    """(the job's source, the PNG frames' fps or None): :func:`source` as a
    :class:`~models.video_io.VideoSource` (use it in a ``with`` block; it is probed on first use)."""
    path, fps = source(video, frames_zip, input_fps)
    return video_io.VideoSource(path, fps=fps), fps


def info_or_none(video) -> video_io.VideoInfo | None:
    """The :class:`~models.video_io.VideoInfo` of a source or an upload (probed once) for an estimate shown before a
    job, or None when there is none or it cannot be read (the job itself then says why)."""
    if not video:
        return None
    try:
        if isinstance(video, video_io.VideoSource):
            return video.info
        with video_io.VideoSource(video) as src:
            return src.info
    except Exception:
        return None


def estimate_text(est: dict | None) -> str:
    """The estimate line a tab shows before a job (its time measured on this machine now)."""
    from models.pipelines.estimate import describe_estimate, scaled

    return describe_estimate(scaled(est)) if est else ""


def segment_seconds(job, seg, origin, model_id, part) -> int:
    """ZeroGPU seconds for one segment of a video job (the tabs' ``*_segment`` GPU calls): planned from the cost
    model (common.segment_duration)."""
    return int(seg.gpu_duration) or 60


def run(source: video_io.VideoSource, opts: dict, one_piece, in_segments, estimate, progress=None,
        loop: bool = False):
    """A video tab's job on ``source``: ``one_piece(progress=..., **opts)`` here, or on ZeroGPU
    ``in_segments(**segment options)``, segments of a bounded duration planned from ``estimate(source)`` (the cost
    model's dict), each its own GPU call and a cancel point; the result has the same frames either way. ZeroGPU
    jobs take the default output settings and a video input only (``loop``: the tab offers a loop)."""
    from models.device import zero_gpu

    from .common import progress_checker, segment_options

    if not zero_gpu():
        return one_piece(progress=progress_checker(progress), **opts)
    if opts.get("loop") or opts.get("input_fps") or not is_default(opts):
        raise gr.Error("On ZeroGPU, jobs run in segments, which take the default output settings and a video input "
                       f"only ({'no loop; ' if loop else ''}H.264 CRF 18, 8-bit, HDR kept, duplicates auto).",
                       print_exception=False)
    report, _, _ = in_segments(**segment_options(estimate(source), source.info.frame_count, progress))
    return report


def stop_button(stop, summary, events) -> None:
    """Wire the tab's Stop button: cancel ``events``, clear the outputs, say why in ``summary``."""
    stop.click(stopped, None, summary, cancels=list(events), api_visibility="private")


def source(video, frames_zip, input_fps) -> tuple[str, float | None]:
    """(path, input fps) of the job's source: the PNG zip when one is given (its frame rate required), else the
    video."""
    if frames_zip:
        path = frames_zip if isinstance(frames_zip, str) else getattr(frames_zip, "name", str(frames_zip))
        if not str(path).lower().endswith(".zip"):
            raise gr.Error("The PNG frames must come as a .zip file.", print_exception=False)
        if not input_fps:
            raise gr.Error("Give the frame rate of the PNG frames (frames per second).", print_exception=False)
        return str(path), float(input_fps)
    if not video:
        raise gr.Error("Upload a video first (or a zip of PNG frames).", print_exception=False)
    return video, None


def options(codec, crf, preset, bit_depth, hdr, dedup) -> dict:
    """The pipeline's keyword arguments, checked (a bad value is a gr.Error naming it)."""
    opts = dict(codec=codec or "h264", crf=18 if crf is None else crf, preset=preset or "fast",
                bit_depth=int(bit_depth or 8), hdr=hdr or "keep", dedup=dedup or "auto")
    try:
        check_output_settings(**opts, dedup_threshold=DUP_THRESHOLD)
    except ValueError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    opts["crf"] = int(opts["crf"])
    return opts


def is_default(opts: dict) -> bool:
    return all(opts.get(k) == v for k, v in DEFAULTS.items())


def playable(path: str) -> str | None:
    """The result for the player (mp4, webm), or None for a download-only result (mkv, zip)."""
    return path if str(path).lower().endswith(PLAYABLE) else None


def report_lines(report) -> str:
    """The report's words on what was written, duplicates and HDR (markdown)."""
    lines = [f"Written: {report.output}.", f"Duplicates: {report.dedup}."]
    if report.hdr:
        lines.append(f"HDR: {report.hdr}")
    return "\n\n" + "\n\n".join(lines)


def lanczos(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to (height, width) with Lanczos: the plain resize a result should beat."""
    h, w = size
    return np.asarray(Image.fromarray(image).resize((w, h), Image.LANCZOS))


def crop_box(height: int, width: int, side: int = CROP) -> tuple[slice, slice]:
    """The central ``side`` x ``side`` window (the whole frame when smaller)."""
    ch, cw = min(side, height), min(side, width)
    y, x = (height - ch) // 2, (width - cw) // 2
    return slice(y, y + ch), slice(x, x + cw)


def before_after(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(before, after, before crop, after crop): the input frame Lanczos-resized to the output frame's size (the same
    instant), and the central 1:1 crop of both (output pixels, no scaling by the page)."""
    h, w = after.shape[:2]
    resized = lanczos(before, (h, w)) if before.shape[:2] != (h, w) else before
    ys, xs = crop_box(h, w)
    return resized, after, resized[ys, xs], after[ys, xs]


class TimeLeft:
    """A progress callback that adds the time left (from the time so far and the fraction done) to the bar's text."""

    def __init__(self, progress=None):
        self.progress = progress
        self.started = time.monotonic()

    def left(self, fraction: float) -> str:
        if fraction <= 0.02:
            return ""
        spent = time.monotonic() - self.started
        rest = spent * (1 - fraction) / fraction
        if rest < 90:
            return f"about {max(1, round(rest))} s left"
        return f"about {rest / 60:.0f} min left"

    def __call__(self, fraction: float, desc: str | None = None) -> None:
        if self.progress is None:
            return
        left = self.left(fraction)
        self.progress(fraction, desc=" · ".join(x for x in (desc, left) if x))


def stopped() -> str:
    """The message shown on Stop (the outputs are cleared by the cancel; this says why)."""
    gr.Warning("Stopped: the job was cancelled and its partial result deleted.")
    return STOPPED
