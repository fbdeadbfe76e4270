"""Helpers shared by the tabs: turning library errors into ``gr.Error`` and reading uploads safely."""
from __future__ import annotations

import contextlib

import gradio as gr

from models.weights import WeightsUnavailable

#: Errors that carry a message meant for the user. Library code raises these with the reason.
USER_ERRORS = (ValueError, WeightsUnavailable, FileNotFoundError)


@contextlib.contextmanager
def user_errors():
    """Re-raise library errors with a reason as ``gr.Error`` so the browser and API callers see the message."""
    try:
        yield
    except gr.Error:
        raise
    except USER_ERRORS as exc:
        raise gr.Error(str(exc)) from exc
    except MemoryError as exc:
        raise gr.Error("Out of memory: try a smaller input or scale.") from exc


def output_file(suffix: str) -> str:
    """A fresh path for a result file, in FrameForge's output folder (files older than an hour are swept)."""
    import os
    import tempfile
    import time
    from pathlib import Path

    folder = Path(os.environ.get("FRAMEFORGE_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "frameforge")
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - 3600
    for old in folder.iterdir():
        try:
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    fd, path = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(fd)
    return path


def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, id) pairs for a task's models whose weights are bundled or configured."""
    from models import registry

    return [(registry.spec(i).label or i, i) for i in registry.ids(task, available_only=True)]


def load_model(task: str, model_id: str | None):
    """(id, loaded model) for a tab: the task's first available model when none is chosen; an id that is not a
    model of ``task`` is a ``gr.Error`` naming the choices (missing weights surface through ``user_errors``)."""
    from models import registry

    known = registry.ids(task)
    model_id = model_id or next(iter(registry.ids(task, available_only=True)), None)
    if model_id not in known:
        raise gr.Error(f"Unknown {task} model {model_id!r}; choose one of {', '.join(known)}.")
    with user_errors():
        return model_id, registry.get(model_id)


def video_work(video: str | None) -> tuple[int, int, int]:
    """(frames, width, height) of an uploaded video for ZeroGPU duration estimates; zeros when unreadable."""
    from models import video_io

    try:
        info = video_io.probe(video)
        return info.frame_count, info.width, info.height
    except Exception:
        return 0, 0, 0
