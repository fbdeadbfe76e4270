"""Speed and peak memory of the space-time pipelines over a whole clip, at 480p and 1080p output.

    python -m bench.stvsr_pipeline_speed [--models basicvsr+rife,lanczos+rife,lanczos+dis] [--anchors N]
                                         [--threads T] [--json PATH]

Each (model, size) case runs in a fresh child process (so its peak memory is its own): a synthetic LR clip of
``--anchors`` frames (a smooth texture panning 2 px per frame) goes through the model as one stream of pairs
(:func:`models.pipelines.stream.upscale_requests`, as the app and ``bench.stvsr`` call it), x4 in space and x2 in
time (``2 N - 1`` output frames). Reported: ms per output frame (model time / frames, after one warm-up pair) and the
growth of the child's peak RSS (``ru_maxrss``) over its RSS after the model and the clip were loaded: the memory the
streamed job needs, which must not grow with the clip's length (BasicVSR runs in chunks of 15 frames).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench import common

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"480p": ((120, 214), (480, 856)), "1080p": ((270, 480), (1080, 1920))}  # (LR, HR) (h, w), x4
DEFAULT_MODELS = "basicvsr+rife,lanczos+rife,lanczos+dis"


def clip(n: int, lr: tuple[int, int]) -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(0)
    h, w = lr
    tex = rng.integers(0, 256, (h // 6 + 2, (w + 2 * n) // 6 + 2, 3), dtype=np.uint8)
    tex = cv2.resize(tex, ((w + 2 * n) + 12, h + 12), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(tex[6:6 + h, 2 * i:2 * i + w]) for i in range(n)]


def child(case: dict) -> dict:
    from models import registry
    from models.interfaces import PairRequest
    from models.pipelines.stream import upscale_requests

    model = registry.get(case["model"])
    lr, hr = SIZES[case["size"]]
    frames = clip(case["anchors"], lr)
    requests = [PairRequest(i, i + 1, frames[i], frames[i + 1], [0.0, 0.5]) for i in range(len(frames) - 1)]
    requests.append(PairRequest(len(frames) - 2, len(frames) - 1, frames[-2], frames[-1], [1.0]))
    list(upscale_requests(model, requests[:1], hr))  # warm-up (loads the weights' pages, builds caches)
    base = common.rss_peak_mb()
    t0 = time.perf_counter()
    made = sum(len(out) for out in upscale_requests(model, requests, hr))
    wall = time.perf_counter() - t0
    return {"frames": made, "wall_s": wall, "ms_per_frame": 1000 * wall / made, "rss_base_mb": base,
            "rss_growth_mb": common.rss_peak_mb() - base}


COLUMNS = [("model", "model", "s"), ("size", "output", "s"), ("frames", "frames", "d"),
           ("ms_per_frame", "ms/frame", ",.0f"), ("ratio", "x lanczos+dis", ".1f"),
           ("rss_growth_mb", "peak RSS +MB", ",.0f")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stvsr_pipeline_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--sizes", default="480p,1080p")
    ap.add_argument("--anchors", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "stvsr_pipeline_speed.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    rows = []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        for mid in [m.strip() for m in args.models.split(",") if m.strip()]:
            res = common.run_child("bench.stvsr_pipeline_speed",
                                   {"model": mid, "size": size, "anchors": args.anchors}, args.threads)
            rows.append({"model": mid, "size": size, **res})
            print(f"{mid} {size}: {res['ms_per_frame']:,.0f} ms/frame, +{res['rss_growth_mb']:,.0f} MB", flush=True)
    for r in rows:
        ref = next((x for x in rows if x["model"] == "lanczos+dis" and x["size"] == r["size"]), None)
        r["ratio"] = r["ms_per_frame"] / ref["ms_per_frame"] if ref else None
    protocol = (f"a {args.anchors}-frame synthetic LR clip streamed through the model, x4 space, x2 time "
                f"({2 * args.anchors - 1} output frames); ms/frame = model time / frames after 1 warm-up pair; "
                "peak RSS growth of a fresh child process over its RSS after loading")
    report = {"protocol": protocol, "machine": common.machine(), "threads": args.threads, "results": rows,
              "command": "python -m bench.stvsr_pipeline_speed " + " ".join(argv if argv is not None
                                                                          else sys.argv[1:])}
    common.publish(report, protocol, COLUMNS, args.json)
    Path(args.json).with_suffix(".md").write_text(
        f"# Space-time pipelines: speed and peak memory\n\n`{report['command']}` ({protocol}).\n\n"
        f"Machine: {common.describe_machine(report['machine'])}.\n\n{common.table(rows, COLUMNS)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
