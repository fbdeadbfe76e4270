"""How long a video job will take, before it runs: a cost model fitted to the benchmark runs.

    seconds ~ source frames x source megapixels x c_in  +  output frames x output megapixels x c_out

with (c_in, c_out) per model measured on the reference CPU (2-core AMD EPYC, 2 threads, fp32; ``bench.stvsr`` and
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


def _out_frames(frames: int, in_fps_factor: float) -> int:
    """Output frames of ``frames`` source frames at ``in_fps_factor`` x their rate (first and last kept)."""
    return max(1, math.floor((frames - 1) * in_fps_factor + 1e-9) + 1)


def estimate_video_sr(model_id: str, frames: int, in_size: tuple[int, int], scale: float, target_fps: float,
                      time_factor: float, in_fps: float = 30.0) -> dict | None:
    """The job's size and estimated seconds (CPU and GPU) for a space-time model; None for a model without costs."""
    if model_id not in CPU_COST:
        return None
    c_in, c_out = CPU_COST[model_id]
    w, h = in_size
    factor = (target_fps / in_fps) if target_fps else (time_factor or 1.0)
    out_frames = _out_frames(frames, factor)
    out_w, out_h = 2 * round(w * scale / 2), 2 * round(h * scale / 2)
    cpu = frames * (w * h / 1e6) * c_in + out_frames * (out_w * out_h / 1e6) * c_out
    return {"model": model_id, "out_frames": out_frames, "out_size": (out_w, out_h), "cpu_seconds": cpu,
            "gpu_seconds": cpu / GPU_SPEEDUP}


def estimate_interpolation(model_id: str, frames: int, size: tuple[int, int], factor: float) -> dict | None:
    """The same for frame interpolation of a video by ``factor`` (output fps / input fps)."""
    if model_id not in CPU_COST:
        return None
    _, c_out = CPU_COST[model_id]
    out_frames = _out_frames(frames, factor)
    made = max(0, out_frames - frames)  # source instants are copied
    cpu = made * (size[0] * size[1] / 1e6) * c_out
    return {"model": model_id, "out_frames": out_frames, "out_size": tuple(size), "cpu_seconds": cpu,
            "gpu_seconds": cpu / GPU_SPEEDUP}


def describe_estimate(est: dict) -> str:
    """One line for the tab: output size and the estimated time here."""
    from models.device import accelerated

    secs = est["gpu_seconds"] if accelerated() else est["cpu_seconds"]
    where = "GPU (assumed 25x the 2-core CPU)" if accelerated() else "a 2-core CPU"
    w, h = est["out_size"]
    return (f"Result: {est['out_frames']} frames at {w}x{h}. Estimated time on {where}: about "
            f"{_human(secs)}.")


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
