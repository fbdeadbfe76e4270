"""Pick RIFE's level list by frame size, on training clips only: ``python -m bench.rife_levels [--per-size N]``.

For each frame size (short side 240, 480 and 720 px: the 480 px training cache of ``train.data_vfi``, halved, and
the 720p clips decoded at full size), middle frames of triplets with gaps 1 and 2 are interpolated with the level
list (16, 8, 4, 2, 1) / k for k in 0.5, 1, 2 and scored (RGB PSNR, whole frame). Writes
``bench/results/rife_levels.json``; :data:`models.backbones.rife.LEVEL_RULE` is read off its table (fp32; the CPU
bf16 autocast cost 0.5-1.7 dB on the same triplets, so it is not used).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import common
from .metrics import psnr

DIVISORS = (0.5, 1.0, 2.0)
RESULTS = Path(__file__).resolve().parent / "results"


def triplets_at(short: int, per_size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``per_size`` training triplets (frame0, middle, frame2) at short side ``short`` (240, 480 or 720)."""
    import cv2

    from models.video_io import iter_frames
    from train.data_vfi import DATA_ROOT, build_cache, load_sources

    rng = np.random.default_rng(seed)
    if short == 720:
        clips = sorted(p for p in (DATA_ROOT / "clips").glob("*.mp4"))
        arrays = []
        for p in clips:
            frames = [f.image for f in iter_frames(p, max_frames=40)]
            if min(frames[0].shape[:2]) >= 720:
                arrays.append(np.stack([f for f in frames]))
    else:
        build_cache(log=lambda m: None)
        arrays = [a for a in load_sources().values() if min(a.shape[1:3]) >= 480]
    out = []
    while len(out) < per_size:
        arr = arrays[rng.integers(len(arrays))]
        gap = int(rng.integers(1, 3))
        s = int(rng.integers(0, arr.shape[0] - 2 * gap))
        tri = [np.asarray(arr[s + i * gap]) for i in range(3)]
        h, w = tri[0].shape[:2]
        k = short / min(h, w)
        if abs(k - 1) > 1e-6:
            tri = [cv2.resize(f, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) for f in tri]
        out.append(tuple(tri))
    return out


def run(per_size: int, threads: int) -> dict:
    from models import registry
    from models.backbones.ifnet import LEVELS

    common.set_threads(threads)
    rife = registry.create("rife")
    rows = []
    for short in (240, 480, 720):
        data = triplets_at(short, per_size)
        for k in DIVISORS:
            rife.levels = tuple(s / k for s in LEVELS)
            scores, secs = [], []
            for a, m, b in data:
                out, dt = common.timed(rife.interpolate, a, b, [0.5])
                scores.append(psnr(out[0], m))
                secs.append(dt)
            rows.append({"short_side": short, "divisor": k, "levels": list(rife.levels),
                         "psnr": float(np.mean(scores)), "ms": 1000 * common.median(secs), "n": len(scores)})
            print(f"short side {short}: levels {rife.levels}: {rows[-1]['psnr']:.2f} dB", flush=True)
    return {"protocol": "training triplets (gaps 1-2) from video_train, RGB PSNR whole frame, t = 0.5",
            "machine": common.machine(), "results": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rife_levels", description=__doc__.splitlines()[0])
    ap.add_argument("--per-size", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "rife_levels.json"))
    args = ap.parse_args(argv)
    report = run(args.per_size, args.threads)
    print(common.table(report["results"], [("short_side", "short side", "d"), ("divisor", "k", ".1f"),
                                           ("psnr", "PSNR", ".2f"), ("ms", "ms/frame", ".0f"),
                                           ("n", "n", "d")]))
    common.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
