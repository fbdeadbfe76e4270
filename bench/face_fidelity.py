"""The fidelity control of ``face_realesrgan`` measured: one run of each path per face, then every blend scored.

    python -m bench.face_fidelity --data DIR --scale 4|8 [--degrade jpeg] [--seed 0] [--fidelities 0,0.25,0.5,0.75,1]
                                  [--limit N] [--threads 1] [--json PATH]

The pairs are those of ``bench.face`` (same protocol, same ``--degrade`` / ``--seed``); for each face the restored
path (Real-ESRGAN x4plus) and the faithful path (``face_basicvsr``) run once, and each fidelity f is
``models.face.blind.blend`` of the two, exactly what ``face_realesrgan.restore(lr, 512, fidelity=f)`` returns. Each
row is scored as ``bench.face`` scores a model (PSNR, SSIM, FD-EffNetLite0, dlib identity when installed); ``ms``
is the two paths' time per face (fidelity 1 needs only the first).
"""
from __future__ import annotations

import argparse
import sys

from . import common


def run(data: str, scale: int, fidelities: list[float], preset: str | None = None, seed: int = 0,
        limit: int | None = None, threads: int | None = 1) -> dict:
    from models import registry
    from models.face.blind import blend, check_fidelity

    from .face import GT_SIZE, PROTOCOL, load_pairs, score
    from .face_metrics import identity_model

    fidelities = [check_fidelity(f) for f in fidelities]
    common.set_threads(threads)
    pairs = load_pairs(data, scale, limit, preset, seed)
    restorer = registry.get("face_realesrgan")
    upscaler, faithful = restorer._models()
    restored, base, secs = [], [], []
    for _, _, lr in pairs:
        r, t1 = common.timed(restorer.restore, lr, GT_SIZE, fidelity=1.0)
        b, t2 = common.timed(faithful.restore, lr, GT_SIZE)
        restored.append(r)
        base.append(b)
        secs.append(t1 + t2)
    scorer = identity_model()
    rows = []
    for f in fidelities:
        outs = [blend(r, b, f) for r, b in zip(restored, base)]
        row = {"model": f"face_realesrgan@{f:g}", "fidelity": f, **score(outs, secs, pairs, scorer)}
        dist = row["identity_dist"]
        print(f"fidelity {f:g}: PSNR {row['psnr']:.2f}  SSIM {row['ssim']:.4f}  FD-EffNetLite0 {row['fd_effnet']:.2f}"
              f"  identity_dist {dist if dist is None else round(dist, 4)}", flush=True)
        rows.append(row)
    return {"protocol": PROTOCOL + "; fidelity f = blend(restored, face_basicvsr, f)", "machine": common.machine(),
            "threads": threads, "scale": scale, "degrade": preset, "seed": seed,
            "data": {"path": str(data), "faces": len(pairs), "lr_size": GT_SIZE // scale, "gt_size": GT_SIZE},
            "results": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.face_fidelity", description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--scale", type=int, required=True, choices=(4, 8))
    ap.add_argument("--degrade", metavar="PRESET")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fidelities", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    try:
        fidelities = [float(f) for f in args.fidelities.split(",")]
        report = run(args.data, args.scale, fidelities, args.degrade, args.seed, args.limit, args.threads)
    except (ValueError, common.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        common.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
