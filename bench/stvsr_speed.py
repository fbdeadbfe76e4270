"""Speed and memory of BF-STVSR's cached path on the CPU (random-initialised weights: timing does not depend on them).

    python -m bench.stvsr_speed [--json PATH] [--md PATH] [--threads N] [--repeats R] [--quick]

Every case runs in a fresh child process (``--child``), so its peak memory is its own:

* ``cached``: :class:`~models.stvsr.upscaler.BFSTVSRUpscaler` (default tiles) on one frame pair with N_t times, the
  model's ``encode`` and ``decode_t`` timed inside. A warm-up pass on a crop of the same tile shapes comes first,
  then ``repeats`` timed passes; medians are reported. Per output frame for N_t times:
  ms(N_t) = (T_pair + N_t · T_t) / N_t, where T_pair = the wall time not spent in ``decode_t`` (encode, tiling,
  copies) and T_t = ``decode_t`` time per t; N_t = 1 is also timed directly as a check.
* the marginal cost of one more t = T_t / (T_pair + T_t) (one more t against a full forward with one t).
* ``memory``: growth of the process's peak RSS (``ru_maxrss``) over the RSS after building the model and inputs,
  for one pass with N_t = 1, with the default ``max_tile_pixels`` and with one tile for the whole frame.
* ``baseline``: ``lanczos+dis`` from the registry at the full size, N_t = 1, 2, 4, 8, ms per output frame.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench import common
from bench.common import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
FULL = ((270, 480), (1080, 1920))  # 480x270 -> 1920x1080, x4
HALF = ((136, 240), (544, 960))  # the same scale at a quarter of the area (the tile shapes are the same)


def _frames(lr_size):
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (*lr_size, 3), dtype=np.uint8)
    return f0, np.roll(f0, 3, axis=1)  # a 3-pixel pan


def _build(config: str):
    import torch

    from models import registry
    from models.stvsr.bfstvsr import compact_config

    torch.manual_seed(0)
    if config == "compact":
        return registry.create("bfstvsr_scratch", pretrained=False, **compact_config()).model
    return registry.create("bfstvsr_official", pretrained=False).model


def _timed(model):
    """Wrap ``encode`` / ``decode_t`` with timers; returns the totals dict."""
    spent = {"encode": 0.0, "decode_t": 0.0}
    for name in spent:
        fn = getattr(model, name)

        def timed(*a, _fn=fn, _name=name, **k):
            t0 = time.perf_counter()
            out = _fn(*a, **k)
            spent[_name] += time.perf_counter() - t0
            return out

        setattr(model, name, timed)
    return spent


def child_cached(case: dict) -> dict:
    from models.stvsr.upscaler import BFSTVSRUpscaler

    model = _build(case["config"])
    up = BFSTVSRUpscaler(model, max_tile_pixels=case.get("max_tile_pixels", 131072))
    lr_size, hr_size = tuple(case["lr"]), tuple(case["hr"])
    f0, f1 = _frames(lr_size)
    n = case["n_t"]
    ts = [(i + 1) / (n + 1) for i in range(n)]
    spent = _timed(model)
    if case.get("warmup", True):  # the same tile shapes on a 2x2-tile crop (or the whole frame if smaller)
        s = hr_size[0] / lr_size[0]
        ch, cw = min(lr_size[0], 176), min(lr_size[1], 176)
        up.upscale_pair(f0[:ch, :cw].copy(), f1[:ch, :cw].copy(), ts[:1], (round(ch * s), round(cw * s)))
    base = common.rss_peak_mb()
    runs = []
    for _ in range(case.get("repeats", 1)):
        spent.update(encode=0.0, decode_t=0.0)
        t0 = time.perf_counter()
        up.upscale_pair(f0, f1, ts, hr_size)
        wall = time.perf_counter() - t0
        runs.append({"wall_s": wall, "encode_s": spent["encode"], "decode_t_s": spent["decode_t"]})
    return {"runs": runs, "rss_base_mb": base, "rss_peak_mb": common.rss_peak_mb()}


def child_baseline(case: dict) -> dict:
    from models import registry

    model = registry.get(case["model"])
    f0, f1 = _frames(tuple(case["lr"]))
    hr = tuple(case["hr"])
    model.upscale_pair(f0, f1, [0.5], hr)  # warm-up
    out = {}
    for n in case["n_ts"]:
        ts = [(i + 1) / (n + 1) for i in range(n)]
        walls = []
        for _ in range(case.get("repeats", 3)):
            t0 = time.perf_counter()
            model.upscale_pair(f0, f1, ts, hr)
            walls.append(time.perf_counter() - t0)
        out[str(n)] = walls
    return {"walls": out, "rss_peak_mb": common.rss_peak_mb()}


def run_child(case: dict, threads: int) -> dict:
    t0 = time.time()
    res = common.run_child("bench.stvsr_speed", case, threads)
    res["case"], res["child_wall_s"] = case, time.time() - t0
    print(f"  {case['kind']} {case.get('config', case.get('model'))} {case['lr']}->{case['hr']} "
          f"({res['child_wall_s']:.0f} s, load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return res


def summarise_cached(res: dict, n_ts=(1, 2, 4, 8)) -> dict:
    runs = res["runs"]
    n = res["case"]["n_t"]
    wall = statistics.median(r["wall_s"] for r in runs)
    t_t = statistics.median(r["decode_t_s"] for r in runs) / n  # one t
    t_pair = statistics.median(r["wall_s"] - r["decode_t_s"] for r in runs)  # encode + tiling + copies
    enc = statistics.median(r["encode_s"] for r in runs)
    return {"wall_s_median": wall, "walls_s": [r["wall_s"] for r in runs], "per_pair_s": t_pair, "encode_s": enc,
            "per_t_s": t_t, "marginal_t_over_full_forward": t_t / (t_pair + t_t),
            "ms_per_frame": {str(k): 1000 * (t_pair + k * t_t) / k for k in n_ts},
            "rss_growth_mb": res["rss_peak_mb"] - res["rss_base_mb"], "rss_peak_mb": res["rss_peak_mb"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="BF-STVSR CPU speed and memory")
    ap.add_argument("--json", default=str(RESULTS / "stvsr_speed.json"))
    ap.add_argument("--md", default=None, help="default: the --json path with .md")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run of this script)")
    ap.add_argument("--no-official", action="store_true")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        case = json.loads(args.child)
        fn = child_cached if case["kind"] == "cached" else child_baseline
        print(json.dumps(fn(case)))
        return

    full, half = (((34, 60), (136, 240)), ((34, 60), (136, 240))) if args.quick else (FULL, HALF)
    small = ((17, 30), (68, 120)) if args.quick else ((68, 120), (272, 480))
    r = args.repeats
    t_start = time.time()
    load = [os.getloadavg()]
    out = {"machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": args.threads,
                       "torch": torch.__version__, "python": platform.python_version()},
           "weights": "random initialisation (seed 0): timings and memory do not depend on the weights",
           "n_t_definition": "N_t output times strictly inside (0, 1) per frame pair",
           "cases": {}}
    cases = out["cases"]
    print("BF-STVSR compact, cached path:", file=sys.stderr)
    res = run_child(dict(kind="cached", config="compact", lr=half[0], hr=half[1], n_t=8, repeats=r), args.threads)
    cases["compact_cached_x4_half"] = summarise_cached(res) | {"lr": half[0], "hr": half[1], "n_t_run": 8}
    res = run_child(dict(kind="cached", config="compact", lr=half[0], hr=half[1], n_t=1, repeats=r), args.threads)
    cases["compact_direct_nt1_half"] = summarise_cached(res) | {"lr": half[0], "hr": half[1], "n_t_run": 1}
    res = run_child(dict(kind="cached", config="compact", lr=full[0], hr=full[1], n_t=1, repeats=1,
                         warmup=False), args.threads)
    cases["compact_cached_x4_full_nt1"] = summarise_cached(res) | {"lr": full[0], "hr": full[1], "n_t_run": 1,
                                                                    "note": "one pass, no warm-up"}
    load.append(os.getloadavg())
    print("memory (one pass, N_t = 1, no warm-up):", file=sys.stderr)
    for name, tile in (("tiled_default", 131072), ("one_tile", 10 ** 9)):
        res = run_child(dict(kind="cached", config="compact", lr=half[0], hr=half[1], n_t=1, repeats=1,
                             warmup=False, max_tile_pixels=tile), args.threads)
        cases[f"compact_memory_{name}_half"] = summarise_cached(res) | {"lr": half[0], "hr": half[1],
                                                                         "max_tile_pixels": tile}
    if not args.no_official:
        print("official size, cached path (smaller frame):", file=sys.stderr)
        res = run_child(dict(kind="cached", config="official", lr=small[0], hr=small[1], n_t=4, repeats=r),
                        args.threads)
        cases["official_cached_x4_small"] = summarise_cached(res) | {"lr": small[0], "hr": small[1], "n_t_run": 4}
        res = run_child(dict(kind="cached", config="compact", lr=small[0], hr=small[1], n_t=4, repeats=r),
                        args.threads)
        cases["compact_cached_x4_small"] = summarise_cached(res) | {"lr": small[0], "hr": small[1], "n_t_run": 4}
    print("lanczos+dis:", file=sys.stderr)
    res = run_child(dict(kind="baseline", model="lanczos+dis", lr=full[0], hr=full[1], n_ts=[1, 2, 4, 8],
                         repeats=r), args.threads)
    cases["lanczos+dis_full"] = {"lr": full[0], "hr": full[1], "rss_peak_mb": res["rss_peak_mb"],
                                 "ms_per_frame": {k: 1000 * statistics.median(v) / int(k)
                                                  for k, v in res["walls"].items()}, "walls_s": res["walls"]}
    load.append(os.getloadavg())
    out["loadavg_1_5_15"] = load
    out["bench_wall_s"] = time.time() - t_start
    out["command"] = "python -m bench.stvsr_speed " + " ".join(argv if argv is not None else sys.argv[1:])
    jpath = Path(args.json)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    jpath.write_text(json.dumps(out, indent=1))
    mpath = Path(args.md) if args.md else jpath.with_suffix(".md")
    mpath.write_text(markdown(out))
    print(mpath.read_text())


def markdown(out: dict) -> str:
    c, m = out["cases"], out["machine"]
    area = (FULL[1][0] * FULL[1][1]) / (HALF[1][0] * HALF[1][1])
    half = c["compact_cached_x4_half"]
    lines = [
        "# BF-STVSR speed and memory on the CPU",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs shared with other jobs, torch {m['torch']} with "
        f"{m['torch_threads']} thread(s). Load average (1/5/15 min) at start, middle, end: "
        + "; ".join("/".join(f"{v:.1f}" for v in la) for la in out["loadavg_1_5_15"]) + ".",
        f"Weights: {out['weights']}. Command: `{out['command']}`. Medians of the timed passes after a warm-up.",
        "",
        "## Cached path, compact config, x4",
        "",
        f"Measured at {half['lr'][1]}x{half['lr'][0]} -> {half['hr'][1]}x{half['hr'][0]} (a quarter of the "
        f"1080p area, the same tile shapes: the cost is per tile, so it scales with the area) and extrapolated "
        f"x{area:.2f} to 480x270 -> 1920x1080; one direct 1080p pass (N_t = 1) checks the extrapolation.",
        "",
        f"| N_t per pair | ms / output frame ({half['hr'][1]}x{half['hr'][0]}) | ms / output frame "
        f"(1920x1080, extrapolated) |",
        "|---|---|---|",
    ]
    for k, v in half["ms_per_frame"].items():
        lines.append(f"| {k} | {v:,.0f} | {v * area:,.0f} |")
    full = c["compact_cached_x4_full_nt1"]
    direct = c["compact_direct_nt1_half"]
    lines += [
        "",
        f"- Per frame pair (encode, tiling, copies): {half['per_pair_s']:.2f} s (encode alone "
        f"{half['encode_s']:.2f} s); per extra t (`decode_t`): {half['per_t_s']:.2f} s at {half['hr'][1]}x{half['hr'][0]}.",
        f"- **Marginal cost of one more t vs a full forward (encode + one t): "
        f"{half['marginal_t_over_full_forward']:.2f}** (target <= 0.33).",
        f"- Check, N_t = 1 timed directly at {half['hr'][1]}x{half['hr'][0]}: {direct['wall_s_median'] * 1000:,.0f} ms "
        f"(from the N_t = 8 split: {half['ms_per_frame']['1']:,.0f} ms).",
        f"- Check, one direct pass at {full['lr'][1]}x{full['lr'][0]} -> {full['hr'][1]}x{full['hr'][0]}, N_t = 1 "
        f"(no warm-up): "
        f"{full['wall_s_median'] * 1000:,.0f} ms (extrapolated: {half['ms_per_frame']['1'] * area:,.0f} ms); "
        f"its peak RSS growth {full['rss_growth_mb']:,.0f} MB with the default tiles.",
        "",
        "## Peak memory, compact, one pass N_t = 1 (growth of ru_maxrss over the RSS after building the model)",
        "",
        "| output | tiles | max_tile_pixels | RSS growth (MB) | wall (s) |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("tiled_default", "default"), ("one_tile", "one tile (untiled)")):
        r = c[f"compact_memory_{name}_half"]
        lines.append(f"| {r['hr'][1]}x{r['hr'][0]} | {label} | {r['max_tile_pixels']:,} | "
                     f"{r['rss_growth_mb']:,.0f} | {r['wall_s_median']:.1f} |")
    lines.append(f"| {full['hr'][1]}x{full['hr'][0]} | default | 131,072 | {full['rss_growth_mb']:,.0f} | {full['wall_s_median']:.1f} |")
    lines += ["", "The untiled comparison is at 960x544 output (an untiled 1080p pass needs about 4x the memory of "
              "the 960x544 one; not run on this shared machine)."]
    if "official_cached_x4_small" in c:
        o, s = c["official_cached_x4_small"], c["compact_cached_x4_small"]
        lines += ["", f"## Official size vs compact at {o['lr'][1]}x{o['lr'][0]} -> {o['hr'][1]}x{o['hr'][0]} "
                  "(x4, N_t = 4 run; the official size is too slow for 1080p here)", "",
                  "| config | per pair (s) | per t (s) | marginal t / full forward | ms/frame N_t=1 | N_t=8 |",
                  "|---|---|---|---|---|---|"]
        for name, r in (("official (12.5 M)", o), ("compact (2.1 M)", s)):
            lines.append(f"| {name} | {r['per_pair_s']:.2f} | {r['per_t_s']:.2f} | "
                         f"{r['marginal_t_over_full_forward']:.2f} | {r['ms_per_frame']['1']:,.0f} | "
                         f"{r['ms_per_frame']['8']:,.0f} |")
    b = c["lanczos+dis_full"]
    lines += ["", f"## Reference: `lanczos+dis` at {b['lr'][1]}x{b['lr'][0]} -> {b['hr'][1]}x{b['hr'][0]}", "",
              "| N_t per pair | ms / output frame |", "|---|---|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in b["ms_per_frame"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
