"""How long a video job will take, before it runs: a cost model fitted to the benchmark runs.

    seconds ~ speed x ( source frames x source megapixels x c_in
                        + source frames x output megapixels x c_anchor  +  made frames x output megapixels x c_made )

"made" frames are the output instants that fall between source frames (none at time factor 1: the output frames are
the upscaled source frames; 20 of 26 for 30 -> 25 fps), counted exactly (:func:`frame_counts`). Two-stage models
(``lanczos+rife``) pay their resize per source frame (``c_anchor``) and their interpolator only for made frames
(``c_made`` = the interpolator's cost; DIS computes its flow once per pair, :data:`PER_PAIR_SHARE`); one-stage
models keep ``c_out`` for both. Decoding and H.264 encoding are added per frame.

What the tabs show is :func:`scaled`: measured on this machine now. The made frames' part uses the interpolator
timed on one frame of the job's size (:func:`probe_seconds_per_mp`, at the first estimate, cached 5 min); the rest
is scaled by :func:`speed_factor` (a 0.1-0.3 s workload against :data:`REFERENCE_WORKLOAD_SECONDS`, an assumed
unloaded value). ``python -m bench.estimate_check`` compares these estimates with measured wall times
(bench/results/estimate_check.json).

The fitted costs: (c_in, c_out) per model measured on the reference CPU (2-core AMD EPYC, 2 threads, fp32; ``bench.stvsr`` and
``bench.vfi`` in bench/results/). ``c_in`` is what a model spends on each source frame (BasicVSR on every LR
anchor), ``c_out`` what it spends per output pixel (Lanczos and the interpolator at the output size). On a GPU the
estimate is divided by :data:`GPU_SPEEDUP` (an assumption: no GPU was at hand to measure it), and ZeroGPU durations
are made from that with a margin (demos).
"""
from __future__ import annotations

import math

#: (c_in, c_out) in seconds per megapixel on the reference CPU. Space-time models from bench.stvsr at x4 / x2 on
#: video_eval/davis2016 (LR 213x120 -> 854x480); interpolators from bench.vfi on vfi_eval/davis (960x540), per
#: *interpolated* output megapixel (the pipelines copy source frames for t = 0).
CPU_COST: dict[str, tuple[float, float]] = {
    "lanczos+dis": (0.0, 0.155),
    "bicubic+dis": (0.0, 0.155),
    "lanczos+rife": (0.0, 0.41),
    "basicvsr+rife": (110.0, 0.41),
    # the pre-cleaner adds ~0.40 s per source megapixel: 0.247 x lanczos+rife's time per output frame at 480p x2 in
    # the same (loaded) run, bench/results/clean_speed.json, scaled to lanczos+rife's reference cost
    "clean+lanczos+rife": (0.40, 0.41),
    "clean+basicvsr+rife": (110.4, 0.41),
    # the residual heads: basicvsr+rife plus the head per output pixel (bfstvsr, bfstvsr_concat: the clean 2-thread
    # x4 / x2 run, bench/results/stvsr_trunk_x4_t2_21f.json; videoinr, motif: their excess over basicvsr+rife in
    # bench/results/stvsr_encodings.json, scaled by that run's basicvsr+rife time to the clean run's)
    "bfstvsr": (110.0, 7.3),
    "bfstvsr_concat": (110.0, 8.8),
    "videoinr": (110.0, 3.8),
    "motif": (110.0, 8.2),
    "rife": (0.0, 0.80),
    "dis_flow": (0.0, 0.21),
    "blend": (0.0, 0.01),
    "sf_adacof": (0.0, 6.0),
    "adacof": (0.0, 6.0),
    "sf_adacof_aligned": (0.0, 4.0),
    "adacof_aligned": (0.0, 4.0),
    # the shipped aligned models with their kernel network under CPU bf16 autocast (1250 / 1194 ms per 960x540 frame,
    # bench/results/vfi_aligned_cond_davis.json)
    "sf_adacof_aligned_cond": (0.0, 2.4),
    "adacof_aligned_cond": (0.0, 2.3),
    # 10.5x lanczos+dis in the same run (bench/results/stvsr_sf_adacof_x4_t2.json), times lanczos+dis's cost
    "lanczos+sf_adacof": (0.0, 1.6),
}
#: Assumed speed-up of a GPU over the reference CPU (not measured here).
GPU_SPEEDUP = 25.0

#: Two-stage space-time models: (resize cost per output megapixel of each source frame, the interpolator's id).
#: Lanczos/bicubic at 960x540 output: ~25 ms per frame measured by bench/estimate_check.py (loaded machine).
TWO_STAGE: dict[str, tuple[float, str]] = {
    "lanczos+rife": (0.03, "rife"),
    "clean+lanczos+rife": (0.03, "rife"),
    "lanczos+dis": (0.03, "dis_flow"),
    "bicubic+dis": (0.025, "dis_flow"),
    "lanczos+sf_adacof": (0.03, "sf_adacof_aligned_cond"),
}
#: Share of an interpolator's cost paid once per source pair (flow estimation), the rest once per made frame
#: (warping): DIS computes its flows once per pair, so x4 costs far less than 3 x (x2's). Models not listed: 0.
PER_PAIR_SHARE = {"dis_flow": 0.85}
#: Multiplier fitted by bench/estimate_check.py against measured wall times on the reference machine (2 cores,
#: shared with a training run): the per-pixel costs above come from model-only benchmarks, a job also decodes,
#: converts colour, detects scene cuts and encodes H.264 (CRF 18, preset fast), per output frame.
JOB_OVERHEAD = 1.0
#: Seconds per output megapixel of H.264 encoding (preset fast) and decoding/scene-cut checks per source megapixel.
ENCODE_COST, DECODE_COST = 0.02, 0.02
#: The reference workload's seconds on the machine the costs were fitted on (:func:`speed_factor`).
REFERENCE_WORKLOAD_SECONDS = 0.10
SPEED_TTL = 300.0
_speed: tuple[float, float] | None = None  # (when measured, factor)


def _workload_seconds() -> float:
    """Median of 3 runs of a small fixed CPU workload like the models' (a 3x3 convolution over a 32-channel 256x256
    map in float32 with the process's torch threads, and an OpenCV resize)."""
    import time

    import cv2
    import numpy as np
    import torch

    x = torch.ones(1, 32, 256, 256)
    w = torch.full((32, 32, 3, 3), 0.01)
    img = np.zeros((540, 960, 3), np.uint8)
    runs = []
    with torch.no_grad():
        for _ in range(3):
            t0 = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            cv2.resize(img, (1920, 1080), interpolation=cv2.INTER_LANCZOS4)
            runs.append(time.perf_counter() - t0)
    return sorted(runs)[1]


def speed_factor(refresh: bool = False) -> float:
    """This machine's slowness now relative to the fit (1 = as fast; 2 = jobs take twice as long), clamped to
    [0.25, 8]; measured on first use and again after :data:`SPEED_TTL` seconds. 1 on a GPU (not modelled)."""
    import time

    global _speed
    from models.device import accelerated

    if accelerated():
        return 1.0
    now = time.monotonic()
    if refresh or _speed is None or now - _speed[0] > SPEED_TTL:
        _speed = (now, min(8.0, max(0.25, _workload_seconds() / REFERENCE_WORKLOAD_SECONDS)))
    return _speed[1]


def frame_counts(frames: int, in_fps: float, out_fps: float) -> tuple[int, int]:
    """(output frames, made frames) of ``frames`` source frames resampled from ``in_fps`` to ``out_fps``: output
    instant j sits at source position j * in/out, a source frame (copied, nothing made) when that is a whole number."""
    from fractions import Fraction

    ratio = Fraction(out_fps / in_fps).limit_denominator(1001)  # p/q: instant j at source position j q / p
    out_frames = max(1, math.floor((frames - 1) * ratio + Fraction(1, 10**9)) + 1)
    on_source = (out_frames - 1) // ratio.numerator + 1
    return out_frames, max(0, out_frames - on_source)


def _made_cost(vfi: str, made: int, frames: int, per_frame: float) -> float:
    """Seconds for ``made`` frames of interpolator ``vfi`` between ``frames`` source frames, ``per_frame`` seconds
    each when every pair makes one (:data:`PER_PAIR_SHARE`)."""
    share = PER_PAIR_SHARE.get(vfi, 0.0)
    pairs = min(made, max(frames - 1, 0))
    return per_frame * ((1 - share) * made + share * pairs)


def _costs(model_id: str) -> tuple[float, float, float]:
    """(c_in, c_anchor, c_made) of a space-time model."""
    c_in, c_out = CPU_COST[model_id]
    if model_id in TWO_STAGE:
        anchor, vfi = TWO_STAGE[model_id]
        return c_in, anchor, CPU_COST[vfi][1] if vfi in CPU_COST else 2 * c_out
    return c_in, c_out, c_out


def _out_frames(frames: int, in_fps_factor: float) -> int:
    """Output frames of ``frames`` source frames at ``in_fps_factor`` x their rate (first and last kept)."""
    return max(1, math.floor((frames - 1) * in_fps_factor + 1e-9) + 1)


def estimate_video_sr(model_id: str, frames: int, in_size: tuple[int, int], scale: float, target_fps: float,
                      time_factor: float, in_fps: float = 30.0) -> dict | None:
    """The job's size and estimated seconds (CPU and GPU) for a space-time model; None for a model without costs."""
    if model_id not in CPU_COST:
        return None
    c_in, c_anchor, c_made = _costs(model_id)
    w, h = in_size
    out_fps = target_fps if target_fps else in_fps * (time_factor or 1.0)
    out_frames, made = frame_counts(frames, in_fps, out_fps)
    out_w, out_h = 2 * round(w * scale / 2), 2 * round(h * scale / 2)
    in_mp, out_mp = w * h / 1e6, out_w * out_h / 1e6
    vfi = TWO_STAGE[model_id][1] if model_id in TWO_STAGE else "rife"
    made_s = _made_cost(vfi, made, frames, out_mp * c_made)
    other = frames * in_mp * c_in + frames * out_mp * c_anchor
    io = frames * in_mp * DECODE_COST + out_frames * out_mp * ENCODE_COST
    cpu = (made_s + other + io) * JOB_OVERHEAD
    return {"model": model_id, "out_frames": out_frames, "made_frames": made, "out_size": (out_w, out_h),
            "cpu_seconds": cpu, "gpu_seconds": cpu / GPU_SPEEDUP, "speed": 1.0,
            "parts": {"made": made_s * JOB_OVERHEAD, "other": (other + io) * JOB_OVERHEAD,
                      "probe": vfi if model_id in TWO_STAGE else None, "probe_size": (out_w, out_h)}}


def estimate_interpolation(model_id: str, frames: int, size: tuple[int, int], factor: float) -> dict | None:
    """The same for frame interpolation of a video by ``factor`` (output fps / input fps; below 1 reduces the rate:
    most output instants then fall between source frames and are made)."""
    if model_id not in CPU_COST:
        return None
    _, c_out = CPU_COST[model_id]
    out_frames, made = frame_counts(frames, 1.0, factor)
    mp = size[0] * size[1] / 1e6
    made_s = _made_cost(model_id, made, frames, mp * c_out)
    io = frames * mp * DECODE_COST + out_frames * mp * ENCODE_COST
    cpu = (made_s + io) * JOB_OVERHEAD
    return {"model": model_id, "out_frames": out_frames, "made_frames": made, "out_size": tuple(size),
            "cpu_seconds": cpu, "gpu_seconds": cpu / GPU_SPEEDUP, "speed": 1.0,
            "parts": {"made": made_s * JOB_OVERHEAD, "other": io * JOB_OVERHEAD, "probe": model_id,
                      "probe_size": tuple(size)}}


#: Largest frame the model probe interpolates (larger jobs scale its time by their pixels).
PROBE_MAX_PIXELS = 1280 * 720
_probes: dict = {}  # (model id, size) -> (when, seconds per made megapixel now)


def probe_seconds_per_mp(model_id: str, size: tuple[int, int], refresh: bool = False) -> float | None:
    """Seconds per made megapixel of interpolator ``model_id`` on this machine now: one frame made at ``size``
    (capped at :data:`PROBE_MAX_PIXELS`) between two smooth synthetic frames, after a warm-up at a quarter of the
    size; cached for :data:`SPEED_TTL` s. None when the model cannot be loaded."""
    import time

    import cv2
    import numpy as np

    from models import registry

    w, h = size
    if w * h > PROBE_MAX_PIXELS:
        k = (PROBE_MAX_PIXELS / (w * h)) ** 0.5
        w, h = max(16, int(w * k)), max(16, int(h * k))
    key = (model_id, w, h)
    now = time.monotonic()
    if not refresh and key in _probes and now - _probes[key][0] < SPEED_TTL:
        return _probes[key][1]
    try:
        model = registry.get(model_id)
    except Exception:  # weights missing, unknown id: no probe
        return None
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (max(2, h // 32), max(2, w // 32), 3)).astype(np.uint8)
    a = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    b = np.roll(a, max(1, w // 100), axis=1)
    quarter = (max(16, w // 2), max(16, h // 2))
    model.interpolate(cv2.resize(a, quarter), cv2.resize(b, quarter), [0.5])  # warm-up (lazy init, allocations)
    t0 = time.perf_counter()
    model.interpolate(a, b, [0.5])
    per_mp = (time.perf_counter() - t0) / (w * h / 1e6)
    _probes[key] = (now, per_mp)
    return per_mp


def scaled(est: dict | None, probe: bool = True) -> dict | None:
    """``est`` for this machine now: the made frames' part from the interpolator timed on one frame of the job's
    size (:func:`probe_seconds_per_mp`; two-stage models: their interpolator at the output size; other models and
    the rest: :func:`speed_factor`). ``speed`` is the estimate's ratio to the fitted one."""
    if est is None:
        return None
    from models.device import accelerated

    if accelerated():
        return est
    parts = est.get("parts") or {}
    speed = speed_factor()
    made = parts.get("made", 0.0)
    vfi = parts.get("probe")
    if probe and made > 0 and vfi in CPU_COST and CPU_COST[vfi][1] > 0:
        per_mp = probe_seconds_per_mp(vfi, parts["probe_size"])
        made *= (per_mp / CPU_COST[vfi][1]) if per_mp else speed
    else:
        made *= speed
    cpu = made + parts.get("other", est["cpu_seconds"]) * speed
    return {**est, "cpu_seconds": cpu, "speed": cpu / max(est["cpu_seconds"], 1e-9)}


def describe_estimate(est: dict) -> str:
    """One line for the tab: output size and the estimated time here."""
    from models.device import accelerated

    secs = est["gpu_seconds"] if accelerated() else est["cpu_seconds"]
    where = "GPU (assumed 25x the 2-core CPU)" if accelerated() else "this CPU"
    w, h = est["out_size"]
    made = f" ({est['made_frames']} made between source frames)" if "made_frames" in est else ""
    load = ""
    if not accelerated() and abs(est.get("speed", 1.0) - 1.0) > 0.15:
        load = f", {est['speed']:.1f}x the fitted machine's time (its speed measured now)"
    return (f"Result: {est['out_frames']} frames{made} at {w}x{h}. Estimated time on {where}: about "
            f"{_human(secs)}{load}.")


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
