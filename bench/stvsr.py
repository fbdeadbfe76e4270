"""Space-time SR benchmark: ``python -m bench.stvsr --data DIR --space S --time T [--models a,b] [--json PATH]
[--max-frames N]``.

Protocol (``../shared/docs/protocol.md``): ``DIR`` holds one folder of HR frames per sequence (sorted by name).
HR frames are cropped (top-left kept) to a multiple of S when S is an integer; LR = PIL ``resize(BICUBIC)`` to
(round(H / S), round(W / S)). Every T-th frame is an anchor (0, T, 2T, ...); for consecutive anchors a, a + T the
model rebuilds frames a .. a + T - 1 at HR from the two LR anchors (ts = 0, 1/T, ..., (T-1)/T), and the last pair
also the final anchor (t = 1). Frames after the final anchor are not scored. Y channel (BT.601) PSNR per frame on
0-255, whole frame, averaged over a sequence's frames, then over sequences; anchors and interpolated frames are
also reported apart. SSIM on Y (skimage, 7x7 uniform window, data_range 255). The model gets the pairs as one stream
(:func:`models.pipelines.stream.upscale_requests`): a video model (BasicVSR) sees the whole anchor sequence, a pair
model one ``upscale_pair`` call per pair. ``ms_per_output_frame`` = the model's total wall time (scoring excluded) /
frames it made, after one untimed warm-up pair (streams read ahead, so per-call times are lumpy). Midpoint-only models
(``arbitrary_t`` False) make k / T by midpoint recursion, so they run only for T = 1, 2, 4, 8 and are skipped
otherwise.

``--degrade PRESET`` (:mod:`models.degrade`; default ``bi``, the protocol above): the LR frames of each sequence are
made by the preset instead (``crfNN``: the bicubic LR sequence encoded with libx264 at CRF NN and decoded, as an
upload would be; ``jpeg``, ``real``: their chains), with seed ``--seed`` + the sequence's index. The JSON records
``degrade`` and ``seed``.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from PIL import Image

from models import degrade as degradation
from models.interfaces import PairRequest
from models.pipelines.stream import upscale_requests
from models.pipelines.timing import VIDEO_DEPTH

from . import common
from .metrics import psnr, rgb_to_y, ssim

PROTOCOL = ("stvsr: HR cropped to a multiple of S (integer S), LR = PIL BICUBIC resize to round(H/S) x round(W/S); "
            "anchors every T-th frame, all frames up to the last anchor rebuilt at HR (later frames unscored); "
            "Y BT.601 PSNR 0-255 whole frame, mean per sequence then over sequences, anchors/interpolated apart; "
            "SSIM on Y skimage 7x7 uniform, data_range=255; the pairs go to the model as one stream (video models see "
            "the whole anchor sequence); ms_per_output_frame = model time / frames made, after 1 warm-up pair")

COLUMNS = [("model", "model", "s"), ("psnr_y", "PSNR-Y all", ".2f"), ("psnr_y_anchor", "anchors", ".2f"),
           ("psnr_y_interp", "interpolated", ".2f"), ("ssim_y", "SSIM-Y", ".4f"),
           ("ms_per_output_frame", "ms/frame", ".1f"), ("frames", "frames", "d")]


#: Midpoint-only models reach t = k / 2^d by recursion (inside ``upscale_pair``, e.g. TwoStage with AdaCoF) for
#: d up to this depth (models.pipelines.timing.VIDEO_DEPTH: eighths), so T = 1, 2, 4, 8 are exact.
MAX_MIDPOINT_DEPTH = VIDEO_DEPTH


def midpoint_reachable(time_scale: int) -> bool:
    """Whether every k / T is a dyadic time a midpoint-only model makes exactly (T a power of two <= 2^depth)."""
    return 1 <= time_scale <= 2 ** MAX_MIDPOINT_DEPTH and time_scale & (time_scale - 1) == 0


def hr_crop(frame: np.ndarray, space: float) -> np.ndarray:
    """Crop (top-left kept) to a multiple of ``space`` when it is an integer; otherwise unchanged."""
    if float(space).is_integer():
        s = int(space)
        h, w = frame.shape[0] // s * s, frame.shape[1] // s * s
        return frame[:h, :w]
    return frame


def lr_size(hr_shape: tuple[int, int], space: float) -> tuple[int, int]:
    """(h, w) of the LR frame: round(H / S), round(W / S)."""
    h, w = max(1, round(hr_shape[0] / space)), max(1, round(hr_shape[1] / space))
    return h, w


def degrade(frame: np.ndarray, space: float) -> np.ndarray:
    h, w = lr_size(frame.shape[:2], space)
    return np.asarray(Image.fromarray(frame).resize((w, h), Image.BICUBIC))


def plan(n: int, time_scale: int) -> list[tuple[int, int, list[float]]]:
    """Calls (a, b, ts) rebuilding frames 0 .. last anchor of an n-frame sequence; frame a + k*... ↔ ts order."""
    if n < 1:
        return []
    anchors = list(range(0, n, time_scale))
    if len(anchors) == 1:
        return [(0, 0, [0.0])]
    calls = []
    for a, b in zip(anchors[:-1], anchors[1:]):
        ts = [k / time_scale for k in range(time_scale)]
        if b == anchors[-1]:
            ts.append(1.0)
        calls.append((a, b, ts))
    return calls


def lr_frames(hr: list[np.ndarray], space: float, preset: str = "bi", seed: int = 0) -> list[np.ndarray]:
    """The LR input of a sequence of (cropped) HR frames under a degradation preset (``bi``: :func:`degrade`)."""
    if preset == "bi":
        return [degrade(f, space) for f in hr]
    # the decoded frames carry the decoder's QP maps and frame types (models.degrade.CodedFrame) for the models
    # that read them (the pre-cleaner); to every other model they are plain frames
    return degradation.degrade_sequence(hr, lr_size(hr[0].shape[:2], space), preset, seed, side_data=True).coded()


def evaluate_sequence(model, hr: list[np.ndarray], space: float, time_scale: int, warm: bool,
                      preset: str = "bi", seed: int = 0) -> dict:
    """Scores and timings of one model on one sequence of HR frames."""
    hr = [hr_crop(f, space) for f in hr]
    size = hr[0].shape[:2]
    lr = lr_frames(hr, space, preset, seed)
    calls = plan(len(hr), time_scale)
    requests = [PairRequest(a, b, lr[a], lr[b], ts) for a, b, ts in calls]
    if warm:
        list(upscale_requests(model, requests[:1], size))
    per_frame, secs = [], []
    t0 = time.perf_counter()
    for (a, b, ts), outs in zip(calls, upscale_requests(model, requests, size)):
        secs.append(time.perf_counter() - t0)
        if len(outs) != len(ts):
            raise ValueError(f"model returned {len(outs)} frames for {len(ts)} times")
        for t, out in zip(ts, outs):
            i = a + round(t * (b - a)) if b != a else a
            out = np.asarray(out)
            if out.shape != hr[i].shape:
                raise ValueError(f"model output {out.shape} differs from the HR frame {hr[i].shape}")
            y_out, y_gt = rgb_to_y(out), rgb_to_y(hr[i])
            per_frame.append((i, i % time_scale == 0, psnr(y_out, y_gt), ssim(y_out, y_gt)))
        t0 = time.perf_counter()
    anchor = [p for _, is_a, p, _ in per_frame if is_a]
    interp = [p for _, is_a, p, _ in per_frame if not is_a]
    return {"psnr_y": float(np.mean([p for _, _, p, _ in per_frame])),
            "psnr_y_anchor": float(np.mean(anchor)) if anchor else None,
            "psnr_y_interp": float(np.mean(interp)) if interp else None,
            "ssim_y": float(np.mean([s for *_, s in per_frame])),
            "frames": len(per_frame), "anchors": len(anchor), "unscored": len(hr) - len(per_frame),
            "secs": float(sum(secs)), "size": list(size), "lr_size": list(lr[0].shape[:2])}


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def evaluate(model, sequences, space: float, time_scale: int, preset: str = "bi", seed: int = 0) -> dict:
    """``sequences`` = [(name, [HR frames])]: per-sequence means, then their mean."""
    per_seq, secs = [], 0.0
    for k, (name, frames) in enumerate(sequences):
        r = evaluate_sequence(model, frames, space, time_scale, warm=(k == 0), preset=preset, seed=seed + k)
        secs += r.pop("secs")
        per_seq.append({"sequence": name, **r})
    keys = ("psnr_y", "psnr_y_anchor", "psnr_y_interp", "ssim_y")
    out = {k: _mean([s[k] for s in per_seq]) for k in keys}
    out["ms_per_output_frame"] = 1000.0 * secs / max(1, sum(s["frames"] for s in per_seq))
    out["frames"] = sum(s["frames"] for s in per_seq)
    out["unscored"] = sum(s["unscored"] for s in per_seq)
    out["sequences"] = per_seq
    return out


def run(data: str, space: float, time_scale: int, models: list[str], max_frames: int | None = None,
        threads: int | None = 1, preset: str = "bi", seed: int = 0) -> dict:
    preset = degradation.check_preset(preset)
    if space <= 0:
        raise ValueError(f"--space must be positive, got {space}")
    if time_scale < 1:
        raise ValueError(f"--time must be >= 1, got {time_scale}")
    common.set_threads(threads)
    seqs = []
    for name, paths in common.video_sequences(data):
        paths = paths[:max_frames] if max_frames else paths
        seqs.append((name, [common.load_rgb(p) for p in paths]))
    results = []
    for mid in models:
        model = common.load_model(mid, "stvsr")
        if model is None:
            continue
        if not getattr(model, "arbitrary_t", False) and not midpoint_reachable(time_scale):
            print(f"skip {mid}: it only makes midpoints, which reach times k/T by recursion only for T a power of "
                  f"two up to {2 ** MAX_MIDPOINT_DEPTH} (T = {time_scale})")
            continue
        r = {"model": mid, **evaluate(model, seqs, space, time_scale, preset, seed)}
        print(f"{mid}: PSNR-Y {r['psnr_y']:.2f} (anchors {r['psnr_y_anchor']:.2f}, interpolated "
              f"{r['psnr_y_interp'] if r['psnr_y_interp'] is None else round(r['psnr_y_interp'], 2)}) "
              f"SSIM-Y {r['ssim_y']:.4f} {r['ms_per_output_frame']:.1f} ms/frame", flush=True)
        results.append(r)
    return {"protocol": PROTOCOL, "machine": common.machine(), "threads": threads,
            "data": {"path": str(data), "sequences": [n for n, _ in seqs],
                     "frames": [len(f) for _, f in seqs], "max_frames": max_frames,
                     "hr_size": list(hr_crop(seqs[0][1][0], space).shape[:2])},
            "space": space, "time": time_scale, "degrade": preset, "seed": seed, "results": results}


def main(argv=None) -> int:
    ap = common.parser("stvsr", __doc__, "stvsr", "folder with one folder of HR frames per sequence")
    ap.add_argument("--space", type=float, required=True, help="spatial scale S (may be fractional)")
    ap.add_argument("--time", type=int, required=True, help="temporal scale T (anchors every T-th frame)")
    ap.add_argument("--max-frames", type=int, help="use only the first N frames of each sequence")
    common.add_degrade_args(ap)
    args = ap.parse_args(argv)
    space = int(args.space) if float(args.space).is_integer() else args.space
    return common.run_and_publish(
        lambda: run(args.data, space, args.time, common.resolve_models(args.models, "stvsr"), args.max_frames,
                    args.threads or None, args.degrade, args.seed),
        PROTOCOL, COLUMNS, args.json, heading=f"x{space} space, x{args.time} time, {args.degrade}; ",
        errors=(common.DataError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
