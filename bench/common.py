"""Shared plumbing of the benchmark commands: finding data, loading frames, timing, describing the machine,
printing tables and writing the result JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from models.imageio import DATA_EXTS as IMAGE_EXTS, list_images, load_rgb  # noqa: F401  (bench's names)


class DataError(ValueError):
    """The data folder does not have a layout the benchmark understands."""


# ---------------------------------------------------------------------------------------------------- loading --
def vfi_triplets(root: str | Path) -> list[tuple[str, Path, Path, Path]]:
    """(name, frame0, truth, frame1) of every triplet under ``root``, sorted by name.

    Layouts: ``input/<seq>/frame10.png, frame11.png`` + ``gt/<seq>/frame10i11.png`` (Middlebury/AdaCoF), or
    ``<n>/frame0.png, frame1.png (truth), frame2.png`` (UCF101/Vimeo style).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    rows = []
    if (root / "input").is_dir() and (root / "gt").is_dir():
        for seq in sorted(p for p in (root / "input").iterdir() if p.is_dir()):
            f0, f1, gt = seq / "frame10.png", seq / "frame11.png", root / "gt" / seq.name / "frame10i11.png"
            if f0.is_file() and f1.is_file() and gt.is_file():
                rows.append((seq.name, f0, gt, f1))
    else:
        for seq in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
            f0, gt, f1 = seq / "frame0.png", seq / "frame1.png", seq / "frame2.png"
            if f0.is_file() and gt.is_file() and f1.is_file():
                rows.append((seq.name, f0, gt, f1))
    if not rows:
        raise DataError(f"no triplets in {root}: expected input/<seq>/frame10.png, frame11.png + "
                        f"gt/<seq>/frame10i11.png, or <n>/frame0.png, frame1.png, frame2.png")
    return rows


def video_sequences(root: str | Path) -> list[tuple[str, list[Path]]]:
    """(name, sorted frame paths) of every sub-folder of ``root`` holding images; ``root`` itself if it holds
    images directly."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder")
    seqs = [(p.name, list_images(p)) for p in sorted(root.iterdir()) if p.is_dir()]
    seqs = [(n, fs) for n, fs in seqs if fs]
    if not seqs and list_images(root):
        seqs = [(root.name, list_images(root))]
    if not seqs:
        raise DataError(f"no image sequences in {root}: expected one folder of frames per sequence")
    return seqs


# ----------------------------------------------------------------------------------------------- the machine --
def set_threads(n: int | None) -> None:
    """Pin torch and OpenCV to ``n`` CPU threads (None: leave the libraries' defaults)."""
    if n is None:
        return
    import cv2
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What ran the benchmark: CPU model, cores, threads in use, GPU if any, library versions."""
    info = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        import cv2

        info["opencv"] = cv2.__version__
        info["opencv_threads"] = cv2.getNumThreads()
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
        from models.device import cpu_bf16_enabled

        info["cpu_bf16"] = bool(cpu_bf16_enabled())
    except ImportError:
        pass
    return info


def describe_machine(info: dict) -> str:
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    bf16 = ", CPU bf16 autocast where a model asks for it" if info.get("cpu_bf16") else ""
    return (f"{info.get('cpu')} ({info.get('cpu_count')} cores visible, torch threads {info.get('torch_threads')}, "
            f"OpenCV threads {info.get('opencv_threads')}{bf16}){gpu}")


# -------------------------------------------------------------------------------------------------- timing --
def rss_peak_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss``), in MB: :func:`models.memory.process_peak_mb`."""
    from models.memory import process_peak_mb

    return process_peak_mb()


class ChildFailed(RuntimeError):
    """A benchmark case run in a child process exited with an error; ``stderr`` holds its output."""

    def __init__(self, case: dict, stderr: str):
        super().__init__(f"case {case} failed:\n{stderr[-3000:]}")
        self.stderr = stderr


def run_child(module: str, case: dict, threads: int) -> dict:
    """``python -m <module> --child <case json> --threads N`` in a fresh CPU-only process pinned to ``threads``
    (so its peak memory is its own); returns the JSON object on the last line of its output."""
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), FRAMEFORGE_DEVICE="cpu")
    cmd = [sys.executable, "-m", module, "--child", json.dumps(case), "--threads", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode:
        raise ChildFailed(case, proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn: Callable, *args, **kwargs):
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


# ------------------------------------------------------------------------------------------------- models --
def resolve_models(arg: str | None, task: str) -> list[str]:
    """Model ids from ``--models a,b`` or, when absent, every available registered model of ``task`` (retired ids
    whose weights ship included: the benchmarks still measure them)."""
    from models import registry

    if arg:
        return [m.strip() for m in arg.split(",") if m.strip()]
    return registry.ids(task, available_only=True, retired=True)


def load_model(model_id: str, task: str):
    """The model, or None with a printed reason (unknown id, wrong task, missing weights)."""
    from models import registry
    from models.weights import WeightsUnavailable

    try:
        spec = registry.spec(model_id)
    except KeyError as exc:
        print(f"skip {model_id}: {exc.args[0]}")
        return None
    if spec.task != task:
        print(f"skip {model_id}: task {spec.task!r}, this benchmark runs {task!r} models")
        return None
    try:
        return registry.get(model_id)
    except WeightsUnavailable as exc:
        print(f"skip {model_id}: {exc}")
        return None


# ------------------------------------------------------------------------------------------------ output --
def table(rows: Iterable[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` = (key, header, format spec)."""
    rows = list(rows)
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("-" if v is None else format(v, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _clean(x):
    if isinstance(x, float) and not np.isfinite(x):
        return None if np.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


def parser(name: str, doc: str, task: str, data_help: str) -> argparse.ArgumentParser:
    """The arguments every quality benchmark takes: --data, --models, --json, --threads (an interface: keep them)."""
    ap = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.splitlines()[0])
    ap.add_argument("--data", required=True, help=data_help)
    ap.add_argument("--models", help=f"comma-separated model ids (default: every available {task} model)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenCV CPU threads (0: library default)")
    return ap


def add_degrade_args(ap: argparse.ArgumentParser) -> None:
    """``--degrade PRESET`` and ``--seed N``: the input degradation of :mod:`models.degrade` (default ``bi``: none
    beyond the protocol's bicubic resize, so results are unchanged without the flag)."""
    from models.degrade import PRESETS

    ap.add_argument("--degrade", default="bi", metavar="PRESET",
                    help=f"input degradation preset: {', '.join(PRESETS)} or crfNN (default: bi)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the degradation (default 0)")


def publish(report: dict, protocol: str, columns, json_path: str | None, heading: str = "") -> int:
    """Print a benchmark's protocol, machine and table, write its JSON when asked; returns the exit code 0."""
    print(f"\n{protocol}\n{heading}machine: {describe_machine(report['machine'])}\n")
    print(table(report["results"], columns))
    if json_path:
        write_json(json_path, report)
    return 0


def run_and_publish(make_report: Callable[[], dict], protocol: str, columns, json_path: str | None,
                    heading: str = "", errors: tuple[type[Exception], ...] = (DataError,)) -> int:
    """A benchmark command's ending: build the report, then :func:`publish` it; exit code 2 with the reason on
    stderr when the data (or the arguments) are unusable (``errors``)."""
    import sys

    try:
        report = make_report()
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return publish(report, protocol, columns, json_path, heading)


def write_json(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(payload), indent=2) + "\n")
