"""Speed and peak memory of the residual heads on BasicVSR + RIFE (``bfstvsr``, ``bfstvsr_concat``, ``videoinr``,
``motif``) against ``basicvsr+rife``, and the marginal cost of one more t.

    python -m bench.stvsr_trunk_speed [--lr 180x320] [--scale 4] [--n-t 1,4] [--repeats 2] [--models ...] [--json PATH]

One LR pair (a 3-pixel pan of a random texture) upscaled to ``scale`` x with N_t in-between times, after a warm-up
pass; per stage wall times (BasicVSR over the two anchors, RIFE per t, the head's ``encode`` per pair and
``decode_t`` per t, each timed inside), medians over ``repeats``. Heads are random-initialised (their time does not
depend on the weights). Marginal cost of one more t = (RIFE per t + decode_t per t) / (the whole call with one t).
Peak memory: the process's peak resident set (Linux VmHWM, reset before each timed call through
/proc/self/clear_refs) above its resident set just before the call, in MiB; null where that cannot be read.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench import common
from models.stvsr.trunk_inr import TRUNK_IDS

RESULTS = Path(__file__).resolve().parent / "results"


def _timer(obj, name: str, spent: dict, key: str):
    fn = getattr(obj, name)

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = fn(*a, **k)
        spent[key] = spent.get(key, 0.0) + time.perf_counter() - t0
        return out

    setattr(obj, name, timed)


HEADS = {model_id: kind for kind, model_id in TRUNK_IDS.items()}  # registry id -> head kind


def measure(kind: str, lr_size, scale: float, n_t: int, repeats: int) -> dict:
    import torch

    from models import registry
    from models.baselines.two_stage import TwoStage
    from models.memory import PeakMemory
    from models.stvsr.trunk_inr import TRUNK_HEADS
    from models.stvsr.trunk_pipeline import TrunkSpaceTime

    torch.manual_seed(0)
    basicvsr, rife = registry.create("basicvsr"), registry.create("rife")  # fresh: the timers wrap these
    if kind == "basicvsr+rife":
        model = TwoStage(basicvsr, rife)
        head = None
    else:
        head = TRUNK_HEADS[HEADS[kind]]()
        model = TrunkSpaceTime(head, basicvsr, rife)
    rng = np.random.default_rng(0)
    f0 = rng.integers(0, 256, (*lr_size, 3), dtype=np.uint8)
    f1 = np.roll(f0, 3, axis=1)
    hr = (round(lr_size[0] * scale), round(lr_size[1] * scale))
    ts = [(i + 1) / (n_t + 1) for i in range(n_t)]
    spent: dict = {}
    _timer(basicvsr, "upscale_stream", spent, "basicvsr_gen")
    _timer(rife, "interpolate", spent, "rife")
    if head is not None:
        _timer(head, "encode", spent, "encode")
        _timer(head, "decode_t", spent, "decode_t")
    model.upscale_pair(f0, f1, ts[:1], hr)  # warm-up
    runs = []
    for _ in range(repeats):
        spent.clear()
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            model.upscale_pair(f0, f1, ts, hr)
            wall = time.perf_counter() - t0
        runs.append({"wall_s": wall, **spent, "peak_mib": mem.growth_mb if mem.method == "VmHWM" else None})
    med = {k: statistics.median(r.get(k) or 0.0 for r in runs) for k in runs[0]}
    peak = None if runs[0]["peak_mib"] is None else max(r["peak_mib"] for r in runs)
    return {"model": kind, "n_t": n_t, "lr": list(lr_size), "hr": list(hr), "wall_s": med["wall_s"],
            "rife_per_t_s": med.get("rife", 0.0) / n_t, "encode_s": med.get("encode", 0.0),
            "decode_t_per_t_s": med.get("decode_t", 0.0) / n_t, "ms_per_output_frame": 1000 * med["wall_s"] / n_t,
            "peak_mib_above_start": None if peak is None else round(peak, 1), "runs": runs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", default="180x320", help="LR size HxW")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--n-t", default="1,4")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="basicvsr+rife," + ",".join(HEADS),
                    help="comma-separated: basicvsr+rife and any of " + ", ".join(HEADS))
    ap.add_argument("--json", default=str(RESULTS / "stvsr_trunk_speed.json"))
    args = ap.parse_args(argv)
    common.set_threads(args.threads)
    lr_size = tuple(int(x) for x in args.lr.lower().split("x"))
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in kinds if k != "basicvsr+rife" and k not in HEADS]
    if unknown or "basicvsr+rife" not in kinds:
        print(f"error: --models must hold basicvsr+rife and any of {', '.join(HEADS)}; got {args.models!r}",
              file=sys.stderr)
        return 2
    rows = []
    for kind in kinds:
        for n in (int(x) for x in args.n_t.split(",")):
            r = measure(kind, lr_size, args.scale, n, args.repeats)
            print(f"{kind} N_t={n}: {r['ms_per_output_frame']:.0f} ms/frame (rife/t {r['rife_per_t_s']:.2f} s, "
                  f"encode {r['encode_s']:.2f} s, decode_t/t {r['decode_t_per_t_s']:.2f} s, "
                  f"peak +{r['peak_mib_above_start']} MiB)", flush=True)
            rows.append(r)
    base = next((r for r in rows if r["model"] == "basicvsr+rife" and r["n_t"] == 1), None)
    for kind in (k for k in kinds if k in HEADS and base is not None):
        one = next(r for r in rows if r["model"] == kind and r["n_t"] == 1)
        one["marginal_t_over_full_forward"] = (one["rife_per_t_s"] + one["decode_t_per_t_s"]) / one["wall_s"]
        one["over_basicvsr_rife"] = one["wall_s"] / base["wall_s"]
        print(f"{kind}: one more t = {one['marginal_t_over_full_forward']:.2f} of a full forward; "
              f"{one['over_basicvsr_rife']:.2f}x basicvsr+rife", flush=True)
    common.write_json(args.json, {"machine": common.machine(), "threads": args.threads, "results": rows,
                                  "protocol": __doc__.split("\n\n")[2].strip()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
