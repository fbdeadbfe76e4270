"""Does a CPU form of BasicVSR keep its quality? ``python -m bench.vsr_precision [--variants ...] [--clips 4]``.

On TRAINING clips only (``train.data_vfi``'s 480 px cache; the ``*_eval`` folders are not read): ``--frames`` frames
of ``--clips`` sources, shrunk x4 (area) to the LR input; every variant (``MODE`` or ``MODE+bf16``, see
:mod:`bench.vsr_peers`) upscales them x4 as one clip; RGB PSNR against the 480 px frames, mean over frames and clips,
and the difference to ``plain`` (fp32). The issue's bound for a default: within 0.05 dB of plain fp32. Writes
``bench/results/vsr_precision.json``; records the load average (shared machine).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from . import common
from .metrics import psnr

RESULTS = Path(__file__).resolve().parent / "results"


def clips(n: int, frames: int, seed: int = 0) -> list[tuple[str, list[np.ndarray], list[np.ndarray]]]:
    """(source, LR frames, HR frames) of ``n`` training sources: ``frames`` consecutive frames, HR cropped to a
    multiple of 4 and at most 480x640, LR = HR shrunk x4 (INTER_AREA)."""
    import cv2

    from train.data_vfi import build_cache, load_sources

    build_cache(log=lambda m: None)
    sources = load_sources()
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    out = []
    for name in rng.choice(names, size=min(n, len(names)), replace=False):
        arr = sources[name]
        s = int(rng.integers(0, max(1, arr.shape[0] - frames)))
        h, w = min(arr.shape[1], 480) // 4 * 4, min(arr.shape[2], 640) // 4 * 4
        hr = [np.ascontiguousarray(arr[s + i, :h, :w]) for i in range(frames)]
        lr = [cv2.resize(f, (w // 4, h // 4), interpolation=cv2.INTER_AREA) for f in hr]
        out.append((str(name), lr, hr))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.vsr_precision", description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="plain,channels_last,plain+bf16")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "vsr_precision.json"))
    args = ap.parse_args(argv)
    from .vsr_peers import build

    common.set_threads(args.threads)
    load0 = os.getloadavg()
    data = clips(args.clips, args.frames)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    rows = []
    for v in variants:
        run = build(f"ours:{v}")
        scores, secs = [], []
        for name, lr, hr in data:
            t0 = time.perf_counter()
            out = run(lr)
            secs.append((time.perf_counter() - t0) / len(lr))
            scores.append(float(np.mean([psnr(o, g) for o, g in zip(out, hr)])))
        rows.append({"variant": v, "psnr": float(np.mean(scores)), "per_clip": scores,
                     "s_per_frame_first_clip_incl_warmup": secs[0], "s_per_frame": common.median(secs[1:] or secs)})
        print(f"{v}: {rows[-1]['psnr']:.3f} dB", flush=True)
    base = next((r for r in rows if r["variant"] == "plain"), None)
    for r in rows:
        r["minus_plain_db"] = None if base is None else r["psnr"] - base["psnr"]
    report = {"protocol": f"BasicVSR x4 on {args.frames} frames of {args.clips} TRAINING sources (480 px cache, "
                          "HR <= 480x640, LR = area x1/4); RGB PSNR vs HR, mean over frames then clips",
              "machine": common.machine(), "threads": args.threads, "load_average_start": load0,
              "load_average_end": os.getloadavg(), "note": "shared machine: loaded timings",
              "clips": [n for n, _, _ in data], "results": rows}
    return common.publish(report, report["protocol"], [("variant", "variant", "s"), ("psnr", "PSNR", ".3f"),
                                                       ("minus_plain_db", "- plain dB", ".4f"),
                                                       ("s_per_frame", "s/frame", ".2f")], args.json)


if __name__ == "__main__":
    raise SystemExit(main())
