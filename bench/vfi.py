"""Frame-interpolation benchmark: ``python -m bench.vfi --data DIR [--models a,b] [--json PATH] [--gap N]``.

Protocol (``../shared/docs/protocol.md``): each model makes the middle frame (t = 0.5) of every triplet; the output
is uint8; PSNR on RGB [0, 255], whole frame, mean over triplets; SSIM = skimage ``structural_similarity``
(7x7 uniform window, RGB ``channel_axis=2``, data_range 255), mean over triplets; ``ms_per_frame`` = median over
triplets of the wall time of one interpolated frame, after one untimed warm-up call.

``--gap N`` (any-t mode): ``DIR`` holds one folder of frames per sequence (as ``bench.stvsr``); every window
(s, s + N), s = 0, N, 2N, ..., gives the frames s + k at t = k / N (k = 1 .. N-1), all made in one call per window
(midpoint-only models make k / N by recursion, so N must be a power of two for them). Scores per t
(``psnr_t0.25`` ...) and over all, means over the windows of a sequence, then over sequences.

``--degrade PRESET`` (:mod:`models.degrade`, default ``bi`` = inputs as they are): the input frames are degraded at
their own size before the model sees them (``crfNN``: a triplet's two inputs, or a whole sequence in ``--gap`` mode,
encoded with libx264 at CRF NN and decoded; ``jpeg`` / ``real``: their chains), seed ``--seed`` + the triplet's or
sequence's index; the truths are untouched. The JSON records ``degrade`` and ``seed``.
"""
from __future__ import annotations

import sys

import numpy as np

from models import degrade as degradation

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


def evaluate_gap(model, sequences, gap: int, inputs: list[list[np.ndarray]] | None = None) -> dict:
    """Any-t scores: ``sequences`` = [(name, [frames])]; windows (s, s + gap), targets at t = k / gap. ``inputs``
    (one frame list per sequence, e.g. degraded copies) replaces the frames the model sees; truths stay."""
    from models.pipelines.timing import interpolate_at

    ts = [k / gap for k in range(1, gap)]
    depth = max(1, int(np.ceil(np.log2(gap))))  # midpoint-only models: exact for a power-of-two gap
    inputs = inputs if inputs is not None else [frames for _, frames in sequences]
    first = inputs[0]
    interpolate_at(model, first[0], first[gap], ts, depth)  # warm-up
    per_seq, secs = [], []
    for (name, frames), seen in zip(sequences, inputs):
        scores: dict[float, list[float]] = {t: [] for t in ts}
        ssims = []
        for s in range(0, len(frames) - gap, gap):
            (outs, _), dt = common.timed(interpolate_at, model, seen[s], seen[s + gap], ts, depth)
            secs.append(dt / len(ts))
            for k, (t, out) in enumerate(zip(ts, outs), start=1):
                scores[t].append(psnr(np.asarray(out), frames[s + k]))
                ssims.append(ssim(np.asarray(out), frames[s + k]))
        per_seq.append({"sequence": name, **{f"psnr_t{t:g}": float(np.mean(v)) for t, v in scores.items()},
                        "psnr": float(np.mean([x for v in scores.values() for x in v])),
                        "ssim": float(np.mean(ssims)), "windows": len(ssims) // len(ts)})
    keys = [k for k in per_seq[0] if k.startswith(("psnr", "ssim"))]
    out = {k: float(np.mean([r[k] for r in per_seq])) for k in keys}
    return {**out, "ms_per_frame": 1000.0 * common.median(secs), "n": sum(r["windows"] for r in per_seq) * len(ts),
            "sequences": per_seq}


def run_gap(data: str, models: list[str], gap: int, threads: int | None = 1, max_frames: int | None = None,
            preset: str = "bi", seed: int = 0) -> dict:
    if gap < 2:
        raise ValueError(f"--gap must be at least 2, got {gap}")
    preset = degradation.check_preset(preset)
    common.set_threads(threads)
    seqs = [(n, [common.load_rgb(p) for p in paths[:max_frames]]) for n, paths in common.video_sequences(data)]
    inputs = [degrade_inputs(frames, preset, seed + k) for k, (_, frames) in enumerate(seqs)]
    results = []
    for mid in models:
        model = common.load_model(mid, "vfi")
        if model is None:
            continue
        if not getattr(model, "arbitrary_t", False) and gap & (gap - 1):
            print(f"skip {mid}: midpoint-only models reach k/{gap} only for a power-of-two gap")
            continue
        r = {"model": mid, **evaluate_gap(model, seqs, gap, inputs)}
        print(f"{mid}: " + "  ".join(f"{k} {v:.2f}" for k, v in r.items() if k.startswith("psnr")), flush=True)
        results.append(r)
    return {"protocol": PROTOCOL_GAP.format(gap=gap), "machine": common.machine(), "threads": threads,
            "data": {"path": str(data), "sequences": [n for n, _ in seqs], "frames": [len(f) for _, f in seqs]},
            "gap": gap, "degrade": preset, "seed": seed, "results": results}


PROTOCOL_GAP = ("vfi any-t: windows (s, s+{gap}), s = 0, {gap}, ...; frames s+k at t = k/{gap}, one call per window; "
                "uint8 output; PSNR RGB 0-255 whole frame per t and overall, SSIM skimage 7x7 RGB; mean per sequence, "
                "then over sequences; ms_per_frame = median over windows of call time / frames made, after 1 warm-up")


def degrade_inputs(frames: list[np.ndarray], preset: str, seed: int) -> list[np.ndarray]:
    """Input frames (one triplet's two, or one sequence) degraded at their own size by ``preset``."""
    if preset == "bi":
        return frames
    return degradation.degrade_frames(frames, frames[0].shape[:2], preset, seed)


def run(data: str, models: list[str], threads: int | None = 1, preset: str = "bi", seed: int = 0) -> dict:
    preset = degradation.check_preset(preset)
    common.set_threads(threads)
    rows = common.vfi_triplets(data)
    triplets = []
    for k, (n, a, g, b) in enumerate(rows):
        f0, f1 = degrade_inputs([common.load_rgb(a), common.load_rgb(b)], preset, seed + k)
        triplets.append((n, f0, common.load_rgb(g), f1))
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
            "data": {"path": str(data), "triplets": len(triplets), "sizes": sizes}, "degrade": preset, "seed": seed,
            "results": results}


def main(argv=None) -> int:
    ap = common.parser("vfi", __doc__, "vfi", "triplet folder (input/+gt/ layout, or <n>/frame0..2.png)")
    ap.add_argument("--gap", type=int, help="any-t mode: DIR holds frame sequences; windows of N frames")
    ap.add_argument("--max-frames", type=int, help="any-t mode: only the first N frames of each sequence")
    common.add_degrade_args(ap)
    args = ap.parse_args(argv)
    if args.gap:
        models = common.resolve_models(args.models, "vfi")
        cols = COLUMNS[:1] + [(f"psnr_t{k / args.gap:g}", f"t={k / args.gap:g}", ".2f") for k in range(1, args.gap)]
        return common.run_and_publish(
            lambda: run_gap(args.data, models, args.gap, args.threads or None, args.max_frames, args.degrade,
                            args.seed),
            PROTOCOL_GAP.format(gap=args.gap), cols + COLUMNS[1:], args.json, errors=(common.DataError, ValueError))
    return common.run_and_publish(
        lambda: run(args.data, common.resolve_models(args.models, "vfi"), args.threads or None, args.degrade,
                    args.seed),
        PROTOCOL, COLUMNS, args.json, errors=(common.DataError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
