"""Many files at once (issue 33 item 7): a multi-file upload in the Video SR, interpolation and Face SR tabs, run as
one queued job that takes the files one at a time through the tab's own handler (same settings, same defaults, same
result as a single upload), with a per-file report and one zip of every result.

Limits (models/settings.py): at most ``FRAMEFORGE_BATCH_FILES`` files and ``FRAMEFORGE_BATCH_MB`` MB in all; each
file gets the job's own time budget (``FRAMEFORGE_JOB_SECONDS``). A file that fails is reported with its reason and
the others are still done; Stop ends the whole batch. On ZeroGPU each file is its own GPU call (the single-file
handlers are the decorated ones), so a batch never asks for more than one file's GPU time at once.
"""
from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr

from models import settings

from .common import JobStopped, _JOB, check_job, output_path

VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".zip"]
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"]


@dataclass
class FileRun:
    name: str
    results: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report: str = ""
    error: str | None = None


def _paths(files) -> list[str]:
    """The upload as a list of file paths (Gradio gives paths, or FileData-like objects with ``path`` / ``name``)."""
    if files is None:
        return []
    if isinstance(files, (str, Path)):
        files = [files]
    out = []
    for f in files:
        if isinstance(f, dict):
            path = f.get("path") or f.get("name")
        elif isinstance(f, (str, Path)):
            path = f
        else:
            path = getattr(f, "path", None) or getattr(f, "name", None)
        if not path:
            raise gr.Error("Files: one of the uploads has no file.", print_exception=False)
        out.append(str(path))
    return out


def check_files(files) -> list[str]:
    """The upload's paths within the batch limits, or a ``gr.Error`` naming the limit and its variable."""
    paths = _paths(files)
    cfg = settings.get()
    if not paths:
        raise gr.Error("Upload one or more files first.", print_exception=False)
    if len(paths) > cfg.batch_files:
        raise gr.Error(f"{len(paths)} files is more than the {cfg.batch_files} one upload may hold "
                       "(FRAMEFORGE_BATCH_FILES).", print_exception=False)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise gr.Error(f"Files: {Path(missing[0]).name} is not a file.", print_exception=False)
    total = sum(Path(p).stat().st_size for p in paths) / 1e6
    if total > cfg.batch_mb:
        raise gr.Error(f"The files hold {total:.0f} MB in all, more than the {cfg.batch_mb:g} MB one upload may hold "
                       "(FRAMEFORGE_BATCH_MB).", print_exception=False)
    return paths


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("|", "/").replace("**", "").split())


def run_batch(files, process: Callable[[str, Callable], tuple[list[str], str]], tag: str, progress=None):
    """Run ``process(path, progress) -> (result paths, report text)`` on each uploaded file in turn.

    Returns (every result path, the zip of all results with ``report.md``, the markdown report). Each file gets a
    fresh time budget; a file's failure (a ``gr.Error`` with its reason) is reported and the next file runs; Stop
    (or a client gone) ends the batch with that message.
    """
    paths = check_files(files)
    n = len(paths)
    runs: list[FileRun] = []
    job = _JOB.get()
    for i, path in enumerate(paths):
        check_job()
        if job is not None:  # every file gets the whole budget
            job.deadline = time.monotonic() + job.budget
        name = Path(path).name

        def step(fraction: float, desc: str | None = None, i=i, name=name) -> None:
            if progress is not None:
                progress((i + min(max(fraction, 0.0), 1.0)) / n, desc=f"file {i + 1} of {n} ({name})"
                         + (f": {desc}" if desc else ""))

        step(0.0, "starting")
        run = FileRun(name)
        started = time.perf_counter()
        try:
            run.results, run.report = process(path, step)
            if job is not None:  # the batch's own files: removed again if the batch fails later
                job.outputs += [Path(r) for r in run.results]
        except gr.Error as exc:
            if _stopped():
                raise JobStopped("The batch was cancelled (Stop was pressed or the client disconnected) at file "
                                 f"{i + 1} of {n}; the files before it are not kept.") from None
            run.error = str(exc.message)
        except JobStopped:
            raise
        run.seconds = time.perf_counter() - started
        runs.append(run)
    report = _report(runs, tag)
    archive = output_path(".zip", f"batch_{tag}", f"{n}files")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        seen = set()
        for run in runs:
            for result in run.results:
                arcname = Path(result).name
                while arcname in seen:
                    arcname = f"_{arcname}"
                seen.add(arcname)
                zf.write(result, arcname)
        zf.writestr("report.md", report + "\n")
    if progress is not None:
        progress(1.0, desc="Done")
    results = [r for run in runs for r in run.results]
    return results, archive, report


def _stopped() -> bool:
    job = _JOB.get()
    if job is None:
        return False
    try:
        job.check()
    except JobStopped:
        return True
    return False


def _report(runs: list[FileRun], tag: str) -> str:
    ok = sum(1 for r in runs if r.error is None)
    rows = [f"**{ok} of {len(runs)} files done** ({tag}); every result is in the zip, with this report.", "",
            "| # | file | result | seconds | report |", "|---|---|---|---|---|"]
    for i, r in enumerate(runs, 1):
        result = ", ".join(Path(p).name for p in r.results) if r.error is None else "failed"
        text = r.report if r.error is None else r.error
        rows.append(f"| {i} | {_one_line(r.name)} | {_one_line(result)} | {r.seconds:.1f} | {_one_line(text)} |")
    return "\n".join(rows)


def video_path(value) -> str:
    """A handler's video output (a path, or Gradio's {"video": path, ...})."""
    if isinstance(value, dict):
        value = value.get("video") or value.get("path")
    return str(value)


def build(kind: str, settings_inputs: list, handler: Callable) -> None:
    """The multi-file accordion of a tab: ``kind`` is "video_sr", "interpolate_video" or "face_sr";
    ``settings_inputs`` are the tab's own setting components, in the order of ``handler`` (the tab's batch handler,
    defined in the tab's module beside its single-file one: this module imports no tab) after the files."""
    types = {"video_sr": VIDEO_TYPES, "interpolate_video": VIDEO_TYPES, "face_sr": IMAGE_TYPES}[kind]
    cfg = settings.get()
    with gr.Accordion("Many files at once", open=False):
        gr.Markdown(f"Up to {cfg.batch_files} files ({cfg.batch_mb:g} MB in all), done one after another with the "
                    "settings above; each file's report below and every result in one zip.")
        files = gr.File(label="Files", file_count="multiple", file_types=types, type="filepath")
        with gr.Row():
            go = gr.Button("Run on every file")
            stop = gr.Button("Stop", variant="stop")
        with gr.Row():
            results = gr.File(label="Results", file_count="multiple", interactive=False)
            archive = gr.File(label="All results (zip)", interactive=False)
        report = gr.Markdown()
    event = go.click(handler, [files, *settings_inputs], [results, archive, report], api_name=f"{kind}_batch",
                     concurrency_id="gpu")
    stop.click(lambda: "Stopped: the batch was cancelled; the files it had made are removed.", None, report,
               cancels=[event], api_visibility="private")
