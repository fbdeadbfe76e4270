"""What every tab's handlers share: the job around a handler (time budget, Stop / disconnect, clean errors, no orphan
files), result file names, and the model picker with its card."""
from __future__ import annotations

import contextvars
import functools
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from models import settings
from models.device import gpu_seconds
from models.pipelines.segments import SegmentFailed
from models.weights import WeightsUnavailable

from .components import Dropdown, user_error

log = logging.getLogger("frameforge")

#: Errors that carry a message meant for the user. Library code raises these with the reason.
USER_ERRORS = (ValueError, WeightsUnavailable, FileNotFoundError, SegmentFailed)
#: ZeroGPU: estimated GPU seconds of work per segment call of a video job (each asks for about 10 + 1.5x that,
#: :func:`segment_duration`, far under the 300 s cap; a short call also waits less for a GPU).
SEGMENT_GPU_SECONDS = 60.0
#: The most estimated GPU seconds one segment may take (asks for 10 + 1.5 x 193 = 300 s, ZeroGPU's cap here): a
#: recurrent model (BasicVSR) whose warm-up and look-ahead would dominate 60 s segments gets up to this.
SEGMENT_CAP_SECONDS = 193.0


class JobStopped(Exception):
    """The job ran past its time budget, or its client pressed Stop or went away."""


@dataclass
class Job:
    endpoint: str
    deadline: float
    budget: float
    outputs: list[Path] = field(default_factory=list)

    def check(self) -> None:
        """Raise :class:`JobStopped` when the budget is spent or the client is gone."""
        if time.monotonic() > self.deadline:
            raise JobStopped(f"The job took longer than its time budget of {self.budget:g} s "
                             "(FRAMEFORGE_JOB_SECONDS) and was stopped: try a shorter clip, a smaller scale or a "
                             "faster model.")
        if not _event_alive():
            raise JobStopped("The job was cancelled (Stop was pressed or the client disconnected).")

    def discard_outputs(self) -> None:
        for path in self.outputs:
            path.unlink(missing_ok=True)


_JOB: contextvars.ContextVar[Job | None] = contextvars.ContextVar("frameforge_job", default=None)


def _event_alive() -> bool:
    """False once Gradio has dropped the running event (Stop pressed: its task is cancelled and it leaves the active
    jobs) or marked it dead (the client disconnected). True outside a queued Gradio event."""
    try:
        from gradio.context import LocalContext
    except ImportError:  # pragma: no cover
        return True
    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if blocks is None or event_id is None or queue is None:
        return True
    for running in queue.active_jobs:
        for event in running or ():
            if event._id == event_id:
                return bool(event.alive)
    return False


def endpoint(name: str):
    """Wrap a tab handler as one job: a time budget (``FRAMEFORGE_JOB_SECONDS``), cancellation when the client
    presses Stop or leaves (checked at every progress step, see :func:`progress_checker`), library errors as
    ``gr.Error`` with their message (one log line, no traceback), and no result files left behind by a failure."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            budget = settings.get().job_seconds
            job = Job(name, time.monotonic() + budget, budget)
            token = _JOB.set(job)
            try:
                return fn(*args, **kwargs)
            except gr.Error as exc:
                job.discard_outputs()
                log.info("%s: %s", name, exc.message)
                raise
            except (JobStopped, *USER_ERRORS) as exc:
                job.discard_outputs()
                raise user_error(name, str(exc)) from None
            except MemoryError:
                job.discard_outputs()
                raise user_error(name, "Out of memory: try a smaller input, scale or frame rate.") from None
            except BaseException as exc:
                job.discard_outputs()
                import torch

                if isinstance(exc, torch.OutOfMemoryError):
                    raise user_error(name, "The accelerator ran out of memory: try a smaller input or scale.") \
                        from None
                raise
            finally:
                _JOB.reset(token)

        # The MCP tool is named after its endpoint, and described from a docstring Gradio's one-line parser reads
        # whole (see :func:`tool_doc`).
        run.__name__ = run.__qualname__ = name
        run.__doc__ = tool_doc(fn.__doc__)
        return run

    return wrap


def tool_doc(doc: str | None) -> str | None:
    """A handler's Google-style docstring with every ``Args:`` entry and the whole ``Returns:`` section on one line
    each: Gradio (API page, MCP schema) reads one line per argument, so a wrapped description was cut at its first
    line, and it joins the lines of ``Returns:`` with ", ", which put stray commas where the text wrapped."""
    if not doc:
        return doc
    import inspect

    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    section, indent = None, None
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Returns:"):
            section, indent = stripped, None
            out.append(stripped)
            continue
        if section is None or not stripped:
            out.append(line)
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if section == "Args:" and depth <= indent:
            out.append(line)  # a new argument
        elif out and out[-1].strip() and out[-1].strip() != section:
            out[-1] = f"{out[-1]} {stripped}"  # a wrapped line: joined to what it continues
        else:
            out.append(line)
    return "\n".join(out)


def progress_checker(progress=None):
    """A ``progress(fraction, desc)`` callback for the pipelines that also stops the job when its budget is spent or
    its client is gone (raising :class:`JobStopped` inside the pipeline, whose files are then cleaned up)."""

    def tick(fraction: float, desc: str | None = None) -> None:
        job = _JOB.get()
        if job is not None:
            job.check()
        if progress is not None:
            progress(fraction, desc=desc)

    return tick


def check_job() -> None:
    """Stop here if the current job is over its budget or cancelled (no-op outside a job)."""
    job = _JOB.get()
    if job is not None:
        job.check()


def segment_duration(seconds: float) -> int:
    """ZeroGPU seconds asked for one segment of ``seconds`` estimated GPU work: a margin, clamped to [20, 300]."""
    return gpu_seconds(seconds, seconds_per_unit=1.5, floor=20, cap=300)


def segment_options(est: dict | None, frames: int, progress=None) -> dict:
    """Keyword arguments of the segment runners (models.pipelines.segments) for a ZeroGPU job: segments of
    :data:`SEGMENT_GPU_SECONDS` by the cost model's GPU estimate ``est`` of the whole job (``frames`` source frames;
    1 s per frame without an estimate), each segment a cancel point (Stop, the job's budget) with progress, a failed
    segment run once more."""
    per_frame = (est["gpu_seconds"] / max(frames, 1)) if est else 1.0
    return dict(frame_seconds=max(per_frame, 1e-4), max_seconds=SEGMENT_GPU_SECONDS, cap_seconds=SEGMENT_CAP_SECONDS,
                gpu_duration=segment_duration, progress=progress_checker(progress), check=check_job, retries=1,
                no_retry=(JobStopped, *USER_ERRORS))


# ------------------------------------------------------------------------------------------------ results --
def _clean(text: str, default: str = "") -> str:
    """Letters, digits, '.', '_' and '-' only (at most 40): a safe part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or default


def _stem(source, default: str) -> str:
    """The input file's name without its extension (``default`` for a non-path input)."""
    name = Path(str(source)).stem if isinstance(source, (str, Path)) and str(source).strip() else default
    return _clean(name, default)


def output_path(suffix: str, source=None, tag: str = "", default: str = "result") -> str:
    """A fresh result path named after the input (``<input>_<tag>_<id><suffix>``) in FrameForge's output folder;
    files older than an hour are swept, and the file is removed again if the job fails."""
    folder = settings.get().output_dir
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - 3600
    for old in folder.iterdir():
        try:
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    tag = f"_{_clean(tag)}" if tag else ""
    path = folder / f"{_stem(source, default)}{tag}_{uuid.uuid4().hex[:8]}{suffix}"
    job = _JOB.get()
    if job is not None:
        job.outputs.append(path)
    return str(path)


def image_file(image, source=None, tag: str = "", default: str = "image") -> str:
    """Save an RGB array as a PNG result file (:func:`output_path`) and return its path.

    Handlers return image *files* rather than arrays: Gradio writes arrays into a cache file named by their content
    and rewrites that file in place for every request with the same content, so a client still downloading it
    gets a truncated image; a file of our own is written once, under a unique name.
    """
    from PIL import Image

    path = output_path(".png", source, tag, default)
    Image.fromarray(image).save(path)
    return path


# --------------------------------------------------------------------------------------------------- models --
def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, id) pairs for a task's models whose weights are bundled or configured, the tab's default first;
    each label says where the weights come from and under which licence ("weight-free" for the baselines)."""
    from models import registry

    ids = registry.ids(task, available_only=True)
    first = registry.default_id(task)
    ids = ([first] if first in ids else []) + [i for i in ids if i != first]
    rows = []
    for i in ids:
        s = registry.spec(i)
        where = "weight-free" if s.origin() == "weight-free" else s.license.split(" (")[0].split(";")[0]
        rows.append((f"{s.label or i} · {where}", i))
    return rows


def model_card(model_id: str | None) -> str:
    """The chosen model's card (markdown): what it is, where its weights come from, its licence and measurements."""
    from models import registry

    if not model_id:
        return ""
    try:
        return registry.spec(model_id).card_text()
    except KeyError:
        return f"Unknown model {model_id!r}."


def model_picker(task: str, label: str = "Model") -> gr.Dropdown:
    """A model dropdown for ``task`` (default first) with its model card in a closed accordion below it."""
    choices = model_choices(task)
    default = choices[0][1] if choices else None
    dropdown = Dropdown(choices, value=default, label=label)
    with gr.Accordion("Model card", open=False):
        card = gr.Markdown(model_card(default))
    dropdown.change(model_card, dropdown, card, api_visibility="private", show_progress="hidden")
    return dropdown


def load_model(task: str, model_id: str | None):
    """(id, loaded model) for a tab: the task's default when none is chosen; an id that is not a model of ``task``
    is a ``gr.Error`` naming the choices (missing weights surface through :func:`endpoint`)."""
    from models import registry

    known = registry.ids(task)
    model_id = model_id or registry.default_id(task)
    if model_id not in known:
        why = registry.retired_reason(model_id)
        head = f"{model_id!r} is retired ({why})" if why else f"Unknown {task} model {model_id!r}"
        raise gr.Error(f"{head}; choose one of {', '.join(known)}.", print_exception=False)
    return model_id, registry.get(model_id)


# ------------------------------------------------------------------------------------- requests and uploads --
def _input_label(block) -> str:
    return str(getattr(block, "label", None) or type(block).__name__)


def explain_request_errors(demo: gr.Blocks) -> gr.Blocks:
    """Make Gradio's own refusals of a request, raised before any handler runs, come back as messages that say
    what is wrong (Gradio sends ``{"error": null}`` for them): too few inputs, a file input naming a server path
    that was not uploaded, and a URL refused by the SSRF check or not downloadable. The same messages reach HTTP
    and MCP clients (an MCP tool call goes through the same request path)."""
    from gradio.exceptions import InvalidPathError

    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, *args, **kwargs):
        endpoint_name = f"/{block_fn.api_name}" if getattr(block_fn, "api_name", None) else "this event"
        wanted = list(block_fn.inputs)
        if inputs is not None and len(inputs) < len(wanted):
            names = ", ".join(_input_label(b) for b in wanted)
            raise user_error(endpoint_name, f"{endpoint_name} takes {len(wanted)} inputs ({names}); the request "
                                            f"gave {len(inputs)}.")
        try:
            return await original(block_fn, inputs, *args, **kwargs)
        except InvalidPathError:
            raise user_error(endpoint_name, "A file input names a path on the server that was not uploaded to this "
                                            "app; it is refused. Upload the file (or give a public http(s) URL).") \
                from None
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - only the download refusals below are turned into messages
            text = str(exc)
            match = re.fullmatch(r"Hostname (.+) failed validation", text)
            if match:
                raise user_error(endpoint_name, f"The URL's host {match.group(1)} was refused: only public http(s) "
                                                "addresses are fetched (not this server, local or private "
                                                "networks). Upload the file instead.") from None
            if text.startswith("Failed to download file"):
                raise user_error(endpoint_name, f"A file input's URL could not be downloaded ({text}).") from None
            raise

    demo.preprocess_data = preprocess_data
    return demo


def sweep_folder(folder: Path, max_age: float, keep: tuple[Path, ...] = ()) -> int:
    """Delete the files under ``folder`` not modified for ``max_age`` seconds (but none under ``keep``), and then
    the empty folders; returns how many files went. Nothing outside ``folder`` is touched (links are not
    followed)."""
    import os

    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age
    kept = [Path(os.path.abspath(k)) for k in keep]
    removed = 0
    for root, dirs, names in os.walk(folder, topdown=True, followlinks=False):
        here = Path(root)
        dirs[:] = [d for d in dirs if (here / d) not in kept]
        for name in names:
            path = here / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
    for root, dirs, names in os.walk(folder, topdown=False, followlinks=False):
        here = Path(root)
        if here != folder and not names and not dirs and here not in kept:
            try:
                here.rmdir()
            except OSError:
                pass
    return removed


def start_temp_sweeper(folder: Path, max_age: float, keep: tuple[Path, ...] = ()):
    """A daemon thread that sweeps Gradio's temp folder (:func:`sweep_folder`) every ``max_age / 4`` seconds (at
    most 10 minutes): uploads a client abandoned half-way (Gradio leaves their ``tmp*`` files behind, untracked),
    ``data:`` images saved by the image inputs, and results older than ``max_age``. Returns the thread."""
    import threading

    interval = max(1.0, min(600.0, max_age / 4))

    def loop():
        while True:
            try:
                n = sweep_folder(folder, max_age, keep)
                if n:
                    log.info("swept %d file(s) older than %g s from %s", n, max_age, folder)
            except Exception as exc:  # noqa: BLE001 - the sweeper must outlive one bad pass
                log.warning("temp sweep failed: %s", exc)
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="frameforge-temp-sweeper", daemon=True)
    thread.start()
    return thread
