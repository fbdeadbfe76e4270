"""Frame-interpolation benchmark: ``python -m bench.vfi --data DIR [--models a,b] [--json PATH]``.

Protocol (``../shared/docs/protocol.md``): each model makes the middle frame (t = 0.5) of every triplet; the output
is uint8; PSNR on RGB [0, 255], whole frame, mean over triplets; SSIM = skimage ``structural_similarity``
(7x7 uniform window, RGB ``channel_axis=2``, data_range 255), mean over triplets; ``ms_per_frame`` = median over
triplets of the wall time of one interpolated frame, after one untimed warm-up call.
"""
from __future__ import annotations

import sys

import numpy as np

from . import common
from .metrics import psnr, ssim

PROTOCOL = ("vfi: t=0.5 middle frame, uint8 output; PSNR RGB 0-255 whole frame, mean over triplets; SSIM skimage "
            "7x7 uniform window, RGB channel_axis=2, data_range=255, mean; ms_per_frame = median over triplets "
            "of one call's wall time after 1 warm-up")

COLUMNS = [("model", "model", "s"), ("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".4f"),
           ("ms_per_frame", "ms/frame", ".1f"), ("n", "n", "d")]


def evaluate(model, triplets) -> dict:
    """Scores of one loaded model on ``triplets`` = [(name, frame0, truth, frame1) as arrays]."""
    _, f0, _, f1 = triplets[0]
    model.interpolate(f0, f1, [0.5])  # warm-up
    ps, ss, secs = [], [], []
    for _, f0, gt, f1 in triplets:
        out, dt = common.timed(model.interpolate, f0, f1, [0.5])
        pred = np.asarray(out[0])
        if pred.dtype != np.uint8:
            pred = np.clip(np.rint(pred), 0, 255).astype(np.uint8)
        if pred.shape != gt.shape:
            raise ValueError(f"model output {pred.shape} differs from the truth {gt.shape}")
        ps.append(psnr(pred, gt))
        ss.append(ssim(pred, gt))
        secs.append(dt)
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)),
            "ms_per_frame": 1000.0 * common.median(secs), "n": len(triplets)}


def run(data: str, models: list[str], threads: int | None = 1) -> dict:
    common.set_threads(threads)
    rows = common.vfi_triplets(data)
    triplets = [(n, common.load_rgb(a), common.load_rgb(g), common.load_rgb(b)) for n, a, g, b in rows]
    sizes = sorted({f"{t[1].shape[1]}x{t[1].shape[0]}" for t in triplets})
    results = []
    for mid in models:
        model = common.load_model(mid, "vfi")
        if model is None:
            continue
        r = {"model": mid, **evaluate(model, triplets)}
        print(f"{mid}: PSNR {r['psnr']:.2f}  SSIM {r['ssim']:.4f}  {r['ms_per_frame']:.1f} ms/frame", flush=True)
        results.append(r)
    return {"protocol": PROTOCOL, "machine": common.machine(), "threads": threads,
            "data": {"path": str(data), "triplets": len(triplets), "sizes": sizes}, "results": results}


def main(argv=None) -> int:
    ap = common.parser("vfi", __doc__, "vfi", "triplet folder (input/+gt/ layout, or <n>/frame0..2.png)")
    args = ap.parse_args(argv)
    return common.run_and_publish(
        lambda: run(args.data, common.resolve_models(args.models, "vfi"), args.threads or None),
        PROTOCOL, COLUMNS, args.json)


if __name__ == "__main__":
    sys.exit(main())
