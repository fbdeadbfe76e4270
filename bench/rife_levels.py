"""Pick RIFE's level list by frame size, on training clips only: ``python -m bench.rife_levels [--per-size N]``.

For each frame size (short side 240, 480 and 720 px: the 480 px training cache of ``train.data_vfi``, halved, and
the 720p clips decoded at full size), middle frames of triplets with gaps 1 and 2 are interpolated with the level
list (16, 8, 4, 2, 1) / k for k in 0.5, 1, 2 and scored (RGB PSNR, whole frame). Writes
``bench/results/rife_levels.json``; :data:`models.backbones.rife.LEVEL_RULE` is read off its table (fp32; the CPU
bf16 autocast cost 0.5-1.7 dB on the same triplets, so it is not used).

``--motion``: the per-pair rule (:data:`models.backbones.rife.MOTION_RULE`). Training triplets of gaps 1, 2 and 4 at
each size are scored with the lists LEVELS / 1 and LEVELS / 2, beside the coarse motion estimate of each pair
(:meth:`IFNet.coarse_flow` at 1/16, several quantiles of the flow magnitude); the quantile, threshold and large-motion
cap with the best mean PSNR (sizes weighted equally) are read off. Writes ``bench/results/rife_levels_motion.json``.

``--eval DIR [--gap N]``: ``rife`` with the motion-chosen lists beside ``rife`` with the frame-size rule and
``dis_flow``, by :mod:`bench.vfi`'s protocol (evaluation data: measuring only, nothing is tuned there); the JSON
records the lists used and the load average (the machine may be shared).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

from . import common
from .metrics import psnr

DIVISORS = (0.5, 1.0, 2.0)
RESULTS = Path(__file__).resolve().parent / "results"


def triplets_at(short: int, per_size: int, seed: int = 0, gaps: tuple[int, ...] | None = None
                ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``per_size`` training triplets (frame0, middle, frame2) at short side ``short`` (240, 480 or 720), gap drawn
    from 1-2, or ``per_size`` of each gap in ``gaps``."""
    if gaps is not None:
        return [tri for k, g in enumerate(gaps) for tri in _triplets(short, per_size, seed + 1000 * k, g)]
    return _triplets(short, per_size, seed)


@functools.lru_cache(maxsize=2)
def _sources(full_size: bool) -> list[np.ndarray]:
    """Training sources: the 720p clips' first 40 frames decoded at full size, or the 480 px cache."""
    from models.video_io import iter_frames
    from train.data_vfi import DATA_ROOT, build_cache, load_sources

    if full_size:
        clips = sorted(p for p in (DATA_ROOT / "clips").glob("*.mp4"))
        arrays = []
        for p in clips:
            frames = [f.image for f in iter_frames(p, max_frames=40)]
            if min(frames[0].shape[:2]) >= 720:
                arrays.append(np.stack([f for f in frames]))
        return arrays
    build_cache(log=lambda m: None)
    return [a for a in load_sources().values() if min(a.shape[1:3]) >= 480]


def _triplets(short: int, per_size: int, seed: int = 0, gap: int | None = None):
    import cv2

    rng = np.random.default_rng(seed)
    arrays = _sources(short == 720)
    out = []
    fixed = gap
    while len(out) < per_size:
        arr = arrays[rng.integers(len(arrays))]
        gap = fixed or int(rng.integers(1, 3))
        if arr.shape[0] <= 2 * gap:
            continue
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


QUANTILES = (0.5, 0.9, 0.99, 1.0)
MOTION_SIZES = {240: 16, 480: 12, 720: 8}  # triplets per gap at each short side (720p costs 10x 240p)
MOTION_GAPS = (1, 2, 4)


def coarse_motion(rife, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """The pair's displacement (px) from IFNet's coarse flow at 1/16, per quantile of the magnitude."""
    import torch

    from models.backbones.rife import motion_px, to_tensor

    x = to_tensor([a, b], torch.device("cpu"))
    pa, pb = rife._padded(x[:1], x[1:], 64)
    with torch.no_grad():
        coarse = rife.net.coarse_flow(pa, pb)
    return {f"q{q:g}": float(motion_px(coarse, q)[0]) for q in QUANTILES}


def choose(rows: list[dict], ks=(None, 1.0, 2.0), max_shorts=(360, 720)) -> list[dict]:
    """Every motion rule (quantile, unit, threshold, k_small, k_large; k None = the size rule's k; applied up to a
    short side of max_short, the size rule above) scored on ``rows`` (mean PSNR per size, then over sizes), best first
    (ties: the cheaper). ``cost_vs_size_rule``: the rule's mean ms over the sizes / the size rule's."""
    from models.backbones.rife import LEVEL_RULE

    sizes = sorted({r["short_side"] for r in rows})
    rule_k = {s: next(k for bound, k in LEVEL_RULE if s <= bound) for s in sizes}
    thresholds = [0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    out = []

    def score(q, per_480, thr, ks_, kl, max_short):
        per, cost = {}, {}
        for size in sizes:
            ps, ms = [], []
            for r in (r for r in rows if r["short_side"] == size):
                x = r["motion"][f"q{q:g}"] * (480.0 / size if per_480 else 1.0)
                k = ((ks_ if x <= thr else kl) if size <= max_short else None) or rule_k[size]
                ps.append(r["psnr"][f"{k:g}"])
                ms.append(r["ms"][f"{k:g}"])
            per[size], cost[size] = float(np.mean(ps)), float(np.mean(ms))
        return {"quantile": q, "per_480": per_480, "unit": "px per 480" if per_480 else "px", "threshold": thr,
                "k_small": ks_, "k_large": kl, "max_short": max_short, "psnr": float(np.mean(list(per.values()))),
                "per_size": per, "ms_per_size": cost, "ms": float(np.mean(list(cost.values())))}

    out.append(score(QUANTILES[0], False, float("-inf"), None, None, max(max_shorts)))  # the size rule
    for q in QUANTILES:
        for per_480 in (False, True):
            for thr in thresholds:
                for ks_ in ks:
                    for kl in ks:
                        for max_short in max_shorts:
                            if ks_ != kl:
                                out.append(score(q, per_480, thr, ks_, kl, max_short))
    for r in out:
        r["cost_vs_size_rule"] = r["ms"] / out[0]["ms"]
    return sorted(out, key=lambda r: (-round(r["psnr"], 4), r["ms"]))


def run_motion(threads: int, sizes: dict[int, int] | None = None, gaps=MOTION_GAPS) -> dict:
    """Per training triplet: the coarse motion and the PSNR of LEVELS / 1 and LEVELS / 2 (see the module doc)."""
    import os

    from models import registry
    from models.backbones.ifnet import LEVELS
    from models.backbones.rife import LEVEL_RULE

    common.set_threads(threads)
    load0 = os.getloadavg()
    rife = registry.create("rife", level_mode="size")
    rows = []
    for short, n in (sizes or MOTION_SIZES).items():
        data = triplets_at(short, n, gaps=tuple(gaps))
        gap_of = [g for g in gaps for _ in range(n)]
        for (a, m, b), g in zip(data, gap_of):
            row = {"short_side": short, "gap": g, "motion": coarse_motion(rife, a, b), "psnr": {}, "ms": {}}
            for k in (1.0, 2.0):
                rife.levels = tuple(s / k for s in LEVELS)
                out, dt = common.timed(rife.interpolate, a, b, [0.5])
                row["psnr"][f"{k:g}"] = psnr(out[0], m)
                row["ms"][f"{k:g}"] = 1000 * dt
            rows.append(row)
            print(f"{short}p gap {g}: motion q0.9 {row['motion']['q0.9']:.1f} px; k=1 {row['psnr']['1']:.2f} dB, "
                  f"k=2 {row['psnr']['2']:.2f} dB", flush=True)
    ranked = choose(rows)
    rule = next(r for r in ranked if r["threshold"] == float("-inf"))  # the size rule
    cheap = next(r for r in ranked if r["cost_vs_size_rule"] <= 1.0)  # the best rule no slower than the size rule
    return {"protocol": "training triplets (gaps 1, 2, 4) from video_train, RGB PSNR whole frame, t = 0.5; motion = "
                        "2 x quantile of the coarse IFNet flow magnitude (first block alone at 1/16)",
            "machine": common.machine(), "load_average_start": load0, "load_average_end": os.getloadavg(),
            "note": "machine shared with a training run and other jobs: the ms values are loaded timings",
            "level_rule": [list(r) for r in LEVEL_RULE], "best": ranked[0], "best_no_slower": cheap, "size_rule": rule,
            "ranked_top": ranked[:15], "triplets": rows}


def run_eval(data: str, gap: int | None, threads: int, max_frames: int | None = None,
             extra_rule: dict | None = None) -> dict:
    """rife (motion-chosen lists) vs rife (size rule) vs dis_flow by bench.vfi's protocol; ``extra_rule``: also rife
    under that motion rule (``rife[levels=motion:extra]``)."""
    import collections
    import os

    from models import registry
    from models.backbones.rife import MOTION_RULE

    from . import vfi

    common.set_threads(threads)
    load0 = os.getloadavg()
    models = {"rife[levels=motion]": registry.create("rife", level_mode="motion"),
              "rife[levels=size]": registry.create("rife", level_mode="size"),
              "dis_flow": registry.get("dis_flow")}
    if extra_rule:
        models["rife[levels=motion:extra]"] = registry.create("rife", level_mode="motion", motion_rule=extra_rule)
    used: dict[str, collections.Counter] = {}
    for name, model in models.items():
        if hasattr(model, "_frames"):
            used[name] = collections.Counter()
            model._frames = _counting(model, used[name])
    results = []
    if gap:
        seqs = [(n, [common.load_rgb(p) for p in paths[:max_frames]]) for n, paths in common.video_sequences(data)]
        for name, model in models.items():
            results.append({"model": name, **vfi.evaluate_gap(model, seqs, gap)})
            print(f"{name}: PSNR {results[-1]['psnr']:.3f}", flush=True)
        protocol = vfi.PROTOCOL_GAP.format(gap=gap)
    else:
        rows = common.vfi_triplets(data)
        triplets = [(n, common.load_rgb(a), common.load_rgb(g), common.load_rgb(b)) for n, a, g, b in rows]
        for name, model in models.items():
            results.append({"model": name, **vfi.evaluate(model, triplets)})
            print(f"{name}: PSNR {results[-1]['psnr']:.3f}", flush=True)
        protocol = vfi.PROTOCOL
    for r in results:
        if r["model"] in used:  # pairs (windows), the warm-up call included
            r["levels_used"] = {" ".join(f"{x:g}" for x in k): v for k, v in used[r["model"]].items()}
    by = {r["model"]: r["psnr"] for r in results}
    return {"protocol": protocol, "machine": common.machine(), "threads": threads, "gap": gap,
            "data": {"path": str(data)}, "load_average_start": load0, "load_average_end": os.getloadavg(),
            "note": "machine shared with a training run and other jobs: ms_per_frame values are loaded timings",
            "motion_minus_size_db": by["rife[levels=motion]"] - by["rife[levels=size]"],
            "motion_minus_dis_flow_db": by["rife[levels=motion]"] - by["dis_flow"],
            "motion_rule": dict(MOTION_RULE),
            "extra_rule": extra_rule, "results": results}


def _counting(model, counter):
    """model._frames that also counts the level lists it used."""
    inner = model._frames

    def frames(img0, img1, ts):
        out = inner(img0, img1, ts)
        counter[tuple(model.last_levels)] += 1
        return out

    return frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.rife_levels", description=__doc__.splitlines()[0])
    ap.add_argument("--per-size", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="default bench/results/rife_levels[_motion].json")
    ap.add_argument("--motion", action="store_true", help="tune the per-pair motion rule (training triplets)")
    ap.add_argument("--per-gap", type=int, default=None, help="--motion: triplets per gap at each size "
                                                               f"(default {MOTION_SIZES})")
    ap.add_argument("--eval", default=None, metavar="DIR", help="measure motion vs size rule on DIR (bench.vfi)")
    ap.add_argument("--gap", type=int, default=None, help="--eval: any-t windows of N frames (bench.vfi --gap)")
    ap.add_argument("--max-frames", type=int, default=None, help="--eval --gap: first N frames per sequence")
    ap.add_argument("--extra-rule", default=None, help="--eval: also rife under this motion rule (JSON object)")
    args = ap.parse_args(argv)
    if args.eval:
        extra = json.loads(args.extra_rule) if args.extra_rule else None
        report = run_eval(args.eval, args.gap, args.threads, args.max_frames, extra)
        print(common.table(report["results"], [("model", "model", "s"), ("psnr", "PSNR", ".3f"),
                                               ("ssim", "SSIM", ".4f"), ("ms_per_frame", "ms/frame", ".0f"),
                                               ("n", "n", "d")]))
        if args.json:
            common.write_json(args.json, report)
        return 0
    if args.motion:
        sizes = {k: args.per_gap for k in MOTION_SIZES} if args.per_gap else None
        report = run_motion(args.threads, sizes)
        print(common.table(report["ranked_top"], [("quantile", "quantile", "g"), ("unit", "unit", "s"),
                                                  ("threshold", "threshold", "g"), ("k_small", "k small", "g"),
                                                  ("k_large", "k large", "g"), ("max_short", "up to", "d"),
                                                  ("psnr", "PSNR", ".3f"), ("cost_vs_size_rule", "cost", ".2f")]))
        print(f"size rule: {report['size_rule']['psnr']:.3f} dB")
        common.write_json(args.json or RESULTS / "rife_levels_motion.json", report)
        return 0
    args.json = args.json or str(RESULTS / "rife_levels.json")
    report = run(args.per_size, args.threads)
    print(common.table(report["results"], [("short_side", "short side", "d"), ("divisor", "k", ".1f"),
                                           ("psnr", "PSNR", ".2f"), ("ms", "ms/frame", ".0f"),
                                           ("n", "n", "d")]))
    common.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
