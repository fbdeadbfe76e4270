"""``python -m frameforge video-sr|interpolate ... --ray local|ADDRESS``: the same jobs over a Ray cluster.

Imported only when ``--ray`` is given (Ray is optional: ``pip install -r requirements-ray.txt``). Each worker is a
Ray actor that loads the model once (:class:`FrameWorker`) and then takes tasks: a whole file (its result comes
back as the encoded file's bytes), or one segment of a long video (:mod:`models.pipelines.segments`; its frames
come back through Ray's object store and the driver stitches them, in order, with the audio). A file is cut into
segments when the cost model estimates more than ``--segment-seconds`` of work for it. Results are written into
the output folder under the names the plain command uses, and equal its outputs (same frames, same encoder).

A worker that dies (its process killed, its node lost) is replaced by a new actor and its task runs again, up to
:data:`MAX_ATTEMPTS` times; a task that *raises* (a damaged file) fails that file only, as in the plain command.
Inputs must be readable under the same path on every node (a shared folder); ``local`` starts a private cluster of
``--ray-workers`` CPUs on this machine (no dashboard, a small object store).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import ray

#: Runs of one task before its file is given up (a worker death counts as one run).
MAX_ATTEMPTS = 3
#: Object store of a local cluster (bytes): segments' frames pass through it.
LOCAL_OBJECT_STORE = 256 * 1024 * 1024


def connect(address: str, workers: int) -> None:
    """Join the cluster at ``address``, or start a local one with ``workers`` CPUs for ``local``."""
    if ray.is_initialized():
        return
    root = str(Path(__file__).resolve().parents[1])  # workers import FrameForge from the same path
    env = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE,
                 log_to_driver=False, runtime_env=env, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, runtime_env=env, configure_logging=False)


@ray.remote(num_cpus=1, max_restarts=0)
class FrameWorker:
    """One model, loaded once per worker process; runs whole files and segments with it."""

    def __init__(self, task: str, model_id: str):
        import torch

        from models import registry

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        self.task, self.model_id = task, model_id
        self.model = registry.get(model_id)

    def pid(self) -> int:
        return os.getpid()

    def peak_mib(self) -> float:
        """Peak resident memory of this worker process (MiB): the model, decoding, one task's frames."""
        from models.memory import process_peak_mb

        return process_peak_mb()

    def whole(self, src: str, name: str, params: dict) -> tuple[bytes, str]:
        """The whole file as the plain command makes it: (the result's bytes, its summary line)."""
        from models.pipelines.interpolate import interpolate_video
        from models.pipelines.video_sr import upscale_video

        with tempfile.TemporaryDirectory(prefix="frameforge_ray_") as tmp:
            dst = str(Path(tmp) / name)
            if self.task == "video_sr":
                report = upscale_video(self.model, src, dst, **params)
                line = (f"({report.out_size[0]}x{report.out_size[1]} @ {report.out_fps:.4g} fps, "
                        f"{report.out_frames} frames)")
            else:
                report = interpolate_video(self.model, src, dst, **params)
                line = f"({report.out_fps:.4g} fps, {report.out_frames} frames)"
            return Path(dst).read_bytes(), line

    def segment(self, job, seg, origin: float):
        """One segment's frames, in memory (they return through the object store)."""
        from models.pipelines.segments import run_segment_in_memory

        return run_segment_in_memory(self.model, job, seg, origin)


@dataclass
class Task:
    kind: str  # "whole" or "segment"
    src: Path
    args: tuple
    attempts: int = 0


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    worker_deaths: int = 0
    worker_peak_mib: list[float] = field(default_factory=list)  # per worker at the end (replaced ones not counted)


def _plan_file(task: str, model, src: Path, params: dict, segment_seconds: float, cost):
    """(job, plan) when ``src`` is long enough to be cut into segments, else None."""
    from models import video_io
    from models.pipelines import segments
    from models.pipelines.interpolate import output_fps
    from models.pipelines.video_sr import output_size

    info = video_io.probe(src)
    seconds = cost(info)
    if seconds <= segment_seconds or info.frame_count < 4:
        return None
    if task == "video_sr":
        out_fps = output_fps(info, params.get("time_factor"), params.get("fps"))
        w, h = output_size(info.width, info.height, params["scale"])
        job = segments.VideoJob("video_sr", str(src), out_fps, (h, w))
    else:
        job = segments.VideoJob("interpolate", str(src), output_fps(info, params.get("factor"), params.get("fps")))
    plan = segments.plan_job(job, model, seconds / info.frame_count, segment_seconds)
    return (job, plan) if len(plan.segments) > 1 else None


def run(task: str, model_id: str, model, files: dict[Path, Path], params: dict, address: str = "local",
        workers: int = 2, segment_seconds: float = 120.0, cost=None, log=None) -> Outcome:
    """Every file of ``files`` (source -> result path) with ``model_id`` over Ray: long files in segments."""
    from models.pipelines import segments

    log = log or (lambda msg: print(msg, file=sys.stderr))
    connect(address, workers)
    n_workers = max(1, int(workers if address == "local" else ray.cluster_resources().get("CPU", workers)))
    pool = [FrameWorker.remote(task, model_id) for _ in range(n_workers)]
    cost = cost or (lambda info: float(info.frame_count))
    queue: deque[Task] = deque()
    plans = {}
    out = Outcome()
    for src in files:
        try:
            planned = _plan_file(task, model, src, params, segment_seconds, cost)
        except ValueError as exc:
            print(f"error: {src}: {exc}", file=sys.stderr)
            out.failed.append(str(src))
            continue
        if planned is None:
            queue.append(Task("whole", src, (str(src), files[src].name, params)))
        else:
            job, plan = planned
            plans[src] = (job, plan, {})
            log(f"{src.name}: {len(plan.segments)} segments")
            queue.extend(Task("segment", src, (job, seg, plan.origin)) for seg in plan.segments)
    running: dict = {}  # object ref -> (worker index, task)
    idle = list(range(len(pool)))
    done_files: set[Path] = set()
    while queue or running:
        while queue and idle:
            task_ = queue.popleft()
            if str(task_.src) in out.failed:
                continue
            w = idle.pop()
            task_.attempts += 1
            method = pool[w].whole if task_.kind == "whole" else pool[w].segment
            running[method.remote(*task_.args)] = (w, task_)
        if not running:
            continue
        ready, _ = ray.wait(list(running), num_returns=1)
        ref = ready[0]
        w, task_ = running.pop(ref)
        try:
            value = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                ray.exceptions.ObjectLostError) as exc:
            out.worker_deaths += 1
            pool[w] = FrameWorker.remote(task, model_id)  # a fresh worker (it loads the model once)
            idle.append(w)
            what = task_.src.name + (f" {task_.args[1].describe()}" if task_.kind == "segment" else "")
            if task_.attempts < MAX_ATTEMPTS:
                log(f"{what}: its worker died ({type(exc).__name__}); running it again")
                queue.appendleft(task_)
            else:
                print(f"error: {task_.src}: workers died {task_.attempts} times on {what}", file=sys.stderr)
                out.failed.append(str(task_.src))
            continue
        except ray.exceptions.RayTaskError as exc:
            idle.append(w)
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            print(f"error: {task_.src}: {cause}", file=sys.stderr)
            out.failed.append(str(task_.src))
            continue
        idle.append(w)
        if task_.kind == "whole":
            data, line = value
            files[task_.src].write_bytes(data)
            out.lines.append(f"{files[task_.src]}  {line}")
            done_files.add(task_.src)
            continue
        job, plan, results = plans[task_.src]
        results[value.index] = value
        if len(results) == len(plan.segments) and str(task_.src) not in out.failed:
            dst = files[task_.src]
            stitched = segments.run_plan(job, plan, lambda seg, part: results[seg.index], str(dst))
            out.lines.append(f"{dst}  ({len(plan.segments)} segments, {stitched.frames} frames)")
            done_files.add(task_.src)
            results.clear()
    try:
        out.worker_peak_mib = [round(m, 1) for m in ray.get([actor.peak_mib.remote() for actor in pool])]
    except ray.exceptions.RayError:  # a worker lost at the very end: no memory figure
        out.worker_peak_mib = []
    for actor in pool:
        ray.kill(actor)
    return out
