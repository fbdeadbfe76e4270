"""The one settings module of FrameForge: every ``FRAMEFORGE_*`` variable, read once and validated.

:func:`get` reads the environment on first use and keeps the result (:func:`reload` reads it again, for tests);
a bad value raises :class:`SettingsError` naming the variable, the value and what is expected, and ``app.py`` stops
at start-up with that message. :data:`VARIABLES` is the documented list (the README's table is made from it and a
test keeps them equal). Per-model weight locations (``FRAMEFORGE_<MODEL>_CKPT``, ``..._REPO``,
``FRAMEFORGE_DFDNET_DICT``, ``FRAMEFORGE_MTCNN_DIR``) belong to the model registry and are listed in its cards; they
are read here too, by :func:`weight_location`, when a model asks (a test keeps every other module from reading any
``FRAMEFORGE_*`` variable).
"""
from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping


class SettingsError(ValueError):
    """A FRAMEFORGE_* variable has a value FrameForge cannot use."""


def _number(kind: type, positive: bool = True) -> Callable[[str, str], float]:
    def parse(name: str, raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        if not math.isfinite(value) or (positive and value <= 0):
            raise SettingsError(f"{name} must be a positive number, got {raw!r}")
        return value

    return parse


def _pixels(name: str, raw: str) -> int:
    """``1920x1088`` or a plain pixel count."""
    text = raw.lower().replace(" ", "")
    try:
        value = math.prod(int(p) for p in text.split("x")) if "x" in text else int(text)
    except ValueError:
        raise SettingsError(f"{name} must be WIDTHxHEIGHT (e.g. 1920x1088) or a pixel count, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _device(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("cpu", "cuda") and not (value.startswith("cuda:") and value[5:].isdigit()):
        raise SettingsError(f"{name} must be cpu, cuda or cuda:N, got {raw!r}")
    return value


def _folder(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name} must be a folder, but {raw!r} is a file")
    return path.resolve()


def _folders(name: str, raw: str) -> tuple[Path, ...]:
    out = []
    for part in (p for p in raw.split(os.pathsep) if p.strip()):
        path = Path(part).expanduser()
        if not path.is_dir():
            raise SettingsError(f"{name}: {part!r} is not an existing folder")
        out.append(path.resolve())
    return tuple(out)


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    parse: Callable[[str, str], object]
    default: str  # as documented
    doc: str


VARIABLES = (
    Variable("FRAMEFORGE_MAX_SECONDS", "max_seconds", _number(float), "60", "longest input video, in seconds"),
    Variable("FRAMEFORGE_MAX_PIXELS", "max_pixels", _pixels, "1920x1088", "largest input video frame"),
    Variable("FRAMEFORGE_MAX_OUTPUT_FRAMES", "max_output_frames", _number(int), "1800", "most frames in a result"),
    Variable("FRAMEFORGE_MAX_OUTPUT_PIXELS", "max_output_pixels", _pixels, "3840x2160", "largest result frame"),
    Variable("FRAMEFORGE_MAX_IMAGE_PIXELS", "max_image_pixels", _pixels, "4096x4096",
             "largest uploaded image (checked from the file header, before decoding)"),
    Variable("FRAMEFORGE_MAX_FACES", "max_faces", _number(int), "16",
             "most faces restored in one photo; a photo with more (after any face selection) is refused"),
    Variable("FRAMEFORGE_JOB_SECONDS", "job_seconds", _number(float), "900",
             "time budget of one job; a job over it stops with a message"),
    Variable("FRAMEFORGE_BATCH_FILES", "batch_files", _number(int), "10",
             "most files in one multi-file upload (Video SR, interpolation and Face SR tabs)"),
    Variable("FRAMEFORGE_BATCH_MB", "batch_mb", _number(float), "500",
             "largest total size of one multi-file upload, in MB; each file of it gets the job's time budget"),
    Variable("FRAMEFORGE_QUEUE_SIZE", "queue_size", _number(int), "20", "jobs waiting in the queue at most"),
    Variable("FRAMEFORGE_GPU_CONCURRENCY", "gpu_concurrency", _number(int), "1", "jobs running at once"),
    Variable("FRAMEFORGE_DEVICE", "device", _device, "(auto)", "force cpu, cuda or cuda:N (default: CUDA if visible)"),
    Variable("FRAMEFORGE_OUTPUT_DIR", "output_dir", _folder, "app: <temp>/frameforge_gradio/results",
             "where results are written, named after the input; swept after an hour. The app serves this folder; "
             "inside Gradio's cache (the default) results are not copied"),
    Variable("FRAMEFORGE_TEMP_MAX_AGE", "temp_max_age", _number(float), "3600",
             "seconds an upload, a result or an abandoned part-upload stays in the app's temp folder; swept every "
             "quarter of it (at most 10 minutes)"),
    Variable("FRAMEFORGE_MODELS_DIRS", "models_dirs", _folders, "(none)",
             f"folders ('{os.pathsep}'-separated) whose sub-folders the Compression tab may load as generators"),
    Variable("FRAMEFORGE_MCP", "mcp", _flag, "1", "serve the endpoints as MCP tools too"),
    Variable("FRAMEFORGE_CPU_BF16", "cpu_bf16", _flag, "1",
             "on a CPU with native bf16, run the networks measured to lose nothing by it (the aligned kernel "
             "networks) and the blind face networks (measured with it) under bf16 autocast; 0 = fp32 everywhere on "
             "the CPU"),
)


@dataclass(frozen=True)
class Settings:
    max_seconds: float = 60.0
    max_pixels: int = 1920 * 1088
    max_output_frames: int = 1800
    max_output_pixels: int = 3840 * 2160
    max_image_pixels: int = 4096 * 4096
    max_faces: int = 16
    job_seconds: float = 900.0
    batch_files: int = 10
    batch_mb: float = 500.0
    queue_size: int = 20
    gpu_concurrency: int = 1
    device: str | None = None
    output_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "frameforge")
    temp_max_age: float = 3600.0
    models_dirs: tuple[Path, ...] = ()
    mcp: bool = True
    cpu_bf16: bool = True


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: os.environ); unset or empty variables keep their defaults."""
    env = os.environ if env is None else env
    values = {}
    for var in VARIABLES:
        raw = env.get(var.name)
        if raw is not None and raw.strip():
            values[var.field] = var.parse(var.name, raw.strip())
    return Settings(**values)


_SETTINGS: Settings | None = None
_LOCK = threading.Lock()


def get() -> Settings:
    """The settings, read from the environment once."""
    global _SETTINGS
    if _SETTINGS is None:
        with _LOCK:
            if _SETTINGS is None:
                _SETTINGS = load()
    return _SETTINGS


def reload() -> Settings:
    """Read the environment again (tests, and a process that changed it before serving)."""
    global _SETTINGS
    with _LOCK:
        _SETTINGS = load()
    return _SETTINGS


def weight_location(name: str) -> str | None:
    """The value of a per-model weight location variable (``FRAMEFORGE_RIFE_CKPT``, ``..._CKPT_REPO``,
    ``FRAMEFORGE_DFDNET_DICT`` ...), or None when it is unset or empty. Read each time it is asked for, not once:
    the models load lazily, and a path is checked where it is used (models/weights.py)."""
    if not name.startswith("FRAMEFORGE_"):
        raise ValueError(f"not a FrameForge variable: {name!r}")
    return os.environ.get(name) or None


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.doc} |" for v in VARIABLES]
    return "\n".join(rows)
