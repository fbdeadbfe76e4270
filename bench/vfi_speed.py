"""Speed and peak memory of the frame interpolators on 480p and 1080p frames.

    python -m bench.vfi_speed [--models blend,dis_flow,sf_adacof,adacof,...] [--sizes 480p,1080p]
                              [--threads N] [--repeats R] [--json PATH]

Every (model, size) case runs in a fresh child process, so its peak memory is its own. One untimed warm-up call,
then ``repeats`` timed calls of ``interpolate(frame0, frame1, [0.5])``; ms per frame = the median. Memory = growth
of the child's peak RSS (``ru_maxrss``) over its RSS after the model and the frames were loaded.

Frames: a fixed random image and the same image panned by 3 pixels (timings do not depend on content for these
models; DIS does a little). Model ids:

* any registered ``vfi`` model whose weights are available (``rife``, ``sf_adacof``, ``blend``, ``dis_flow``, ...);
* ``sf_adacof@W`` / ``adacof@W``: the network at width W with random weights (W = 1.0 is the paper's size; speed
  and memory do not depend on the weights), so the official-size cost is measured without the official files.

``ratio_to_dis_flow`` compares each case with ``dis_flow`` at the same size in the same run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from bench import common

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = {"480p": (480, 854), "1080p": (1080, 1920)}
DEFAULT_MODELS = "blend,dis_flow,rife,sf_adacof@0.5,adacof@0.5,sf_adacof@1.0,adacof@1.0"


def build(model_id: str):
    """The interpolator for ``model_id`` (see the module docstring), or raises ValueError with the reason."""
    if "@" in model_id:
        import torch

        from models import registry

        name, width = model_id.split("@", 1)
        if name not in ("adacof", "sf_adacof"):
            raise ValueError(f"{model_id}: only adacof@W and sf_adacof@W take a width")
        torch.manual_seed(0)
        return registry.create(name, pretrained=False, width=float(width), mode="fast")
    model = common.load_model(model_id, "vfi")
    if model is None:
        raise ValueError(f"{model_id}: not available (unknown id, wrong task or no weights)")
    return model


def child(case: dict) -> dict:
    model = build(case["model"])
    h, w = case["size"]
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    f1 = np.roll(f0, 3, axis=1)
    base = common.rss_peak_mb()
    model.interpolate(f0, f1, [0.5])  # warm-up (also the memory pass)
    walls = []
    for _ in range(case["repeats"]):
        t0 = time.perf_counter()
        model.interpolate(f0, f1, [0.5])
        walls.append(time.perf_counter() - t0)
    n_params = None
    net = getattr(model, "net", None)
    if net is not None:
        n_params = sum(p.numel() for p in net.parameters())
    return {"walls_s": walls, "ms_per_frame": 1000 * statistics.median(walls), "rss_base_mb": base,
            "rss_growth_mb": common.rss_peak_mb() - base, "params": n_params}


def run_child(case: dict, threads: int) -> dict | None:
    try:
        return common.run_child("bench.vfi_speed", case, threads)
    except common.ChildFailed as exc:
        print(f"skip {case['model']} {case['label']}: {exc.stderr.strip().splitlines()[-1:]}", flush=True)
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.vfi_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--sizes", default="480p,1080p", help=f"comma-separated from {sorted(SIZES)}")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(RESULTS / "vfi_speed.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown sizes {bad}; choose from {sorted(SIZES)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    rows = []
    for label in sizes:
        for mid in models:
            res = run_child({"model": mid, "size": SIZES[label], "label": label, "repeats": args.repeats},
                            args.threads)
            if res is None:
                continue
            rows.append({"model": mid, "size": label, **res})
            print(f"{mid} {label}: {res['ms_per_frame']:.0f} ms/frame, +{res['rss_growth_mb']:.0f} MB peak RSS",
                  flush=True)
    for r in rows:
        ref = next((x for x in rows if x["model"] == "dis_flow" and x["size"] == r["size"]), None)
        r["ratio_to_dis_flow"] = r["ms_per_frame"] / ref["ms_per_frame"] if ref else None
    report = {"protocol": "interpolate(frame0, frame1, [0.5]) on a random frame and its 3-px pan; 1 warm-up, "
                          f"median of {args.repeats}; peak RSS growth of a fresh child process",
              "machine": common.machine(), "threads": args.threads, "results": rows}
    common.publish(report, report["protocol"], COLUMNS, args.json)
    if args.json:
        write_md(report, Path(args.json).with_suffix(".md"))
    return 0


COLUMNS = [("model", "model", "s"), ("size", "size", "s"), ("params", "params", ",d"),
           ("ms_per_frame", "ms/frame", ".0f"), ("ratio_to_dis_flow", "x dis_flow", ".2f"),
           ("rss_growth_mb", "peak RSS +MB", ".0f")]


def write_md(report: dict, path: Path) -> None:
    """The report as a markdown page: command, protocol, machine, table."""
    path.write_text(f"""# Frame interpolation: speed and peak memory

`python -m bench.vfi_speed --threads {report['threads']}` ({report['protocol']}).

Machine: {common.describe_machine(report['machine'])}. `name@W` = that network at width W with random weights
(W = 1.0 is the paper's size); `sf_adacof@0.5` is the bundled network's size. Kernel models run in tiles of at
most 1024 px sharing at least 64 px, as few and as short as that allows (`models/ops/tiles.py`; one tile at 480p,
four at 1080p).

{common.table(report['results'], COLUMNS)}
""")


if __name__ == "__main__":
    raise SystemExit(main())
