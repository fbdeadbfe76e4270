"""What the pre-cleaner costs next to the pipeline it feeds, on a 480p input, in one run.

    python -m bench.clean_speed [--space 2] [--repeats 5] [--threads 2] [--json bench/results/clean_speed.json]

Input: a 854x480 frame pair (a fixed random texture, blurred, and the same panned by 3 px). Timed, after one untimed
warm-up, ``repeats`` times each, the median kept:

* ``cleaner_ms``: ``Cleaner.clean`` of one 480p input frame;
* ``lanczos_rife_ms_per_frame``: ``lanczos+rife``'s ``upscale_pair`` at x``space`` making t = 0.5 and 1 (two output
  frames: one interpolated, one anchor), divided by 2;
* ``ratio`` = cleaner_ms / lanczos_rife_ms_per_frame (the cleaner runs once per input frame; a job at time factor 2
  makes two output frames per input frame, so this is the cleaner's share at that setting).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from bench import common


def _pair():
    import cv2

    rng = np.random.default_rng(0)
    f0 = cv2.GaussianBlur(rng.integers(0, 256, (480, 854, 3), dtype=np.uint8), (5, 5), 1.5)
    return f0, np.roll(f0, 3, axis=1)


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * common.median(times)


def run(space: float, repeats: int, threads: int) -> dict:
    from models import registry

    common.set_threads(threads)
    f0, f1 = _pair()
    cleaner = registry.get("cleaner")
    pipe = registry.get("lanczos+rife")
    size = (round(480 * space), round(854 * space))
    clean_ms = _median_ms(lambda: cleaner.clean(f0), repeats)
    pipe_ms = _median_ms(lambda: pipe.upscale_pair(f0, f1, [0.5, 1.0], size), repeats) / 2
    return {"machine": common.machine(), "threads": threads, "space": space, "input": [480, 854],
            "repeats": repeats, "cleaner_ms": clean_ms, "lanczos_rife_ms_per_frame": pipe_ms,
            "ratio": clean_ms / pipe_ms}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.clean_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    r = run(args.space, args.repeats, args.threads)
    print(f"machine: {common.describe_machine(r['machine'])}")
    print(f"cleaner {r['cleaner_ms']:.0f} ms per 480p input frame; lanczos+rife x{args.space:g} "
          f"{r['lanczos_rife_ms_per_frame']:.0f} ms per output frame; ratio {r['ratio']:.3f}")
    if args.json:
        common.write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
