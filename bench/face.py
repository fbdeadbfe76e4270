"""Face-SR benchmark on aligned faces: ``python -m bench.face --data DIR --scale 4|8 [--models a,b] [--json PATH]
[--degrade PRESET [--seed N]]``.

Protocol (``../shared/docs/protocol.md``): each aligned HQ face is resized to 512x512 (PIL bicubic) as ground truth,
bicubic-downscaled (PIL, antialiased) by the scale (x4 -> 128, x8 -> 64), restored with
``model.restore(lr, 512)`` and scored at 512: PSNR on RGB [0, 255], whole image, and SSIM = skimage
``structural_similarity`` (7x7 uniform window, RGB ``channel_axis=2``, data_range 255), means over faces;
``fd_effnet`` (FD-EffNetLite0 of the restored set against the truths) and ``identity`` / ``identity_dist`` (dlib
descriptors, when installed) as defined in :mod:`bench.face_metrics`.
``ms_per_face`` = median over faces of one restore call after 1 untimed warm-up. ``peak_mb`` = peak RSS growth in a
forked process per model: freed heap is trimmed and the peak reset (``/proc/self/clear_refs`` 5, then ``VmHWM``;
``ru_maxrss`` where that is unavailable) with the data resident; the growth covers building the model and restoring
every face, less the outputs kept for scoring (the metrics run afterwards).

``--degrade PRESET`` makes the low-res face with :func:`models.degrade.apply_image` instead (``jpeg``: blur, bicubic
down, noise, JPEG q 30-80, the blind protocol of old photos), seed = ``--seed`` + the face's index (sorted by name);
the JSON then records ``degrade`` and ``seed``. Without it nothing changes (PIL bicubic; ``bi`` is the same pixels).
``--fidelity F`` runs models that have the control (``face_realesrgan``) at F (recorded as ``fidelity``).
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import traceback
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import common
from .metrics import psnr, ssim

if TYPE_CHECKING:
    from .face_metrics import DlibIdentity

GT_SIZE = 512
SCALES = (4, 8)
PROTOCOL = ("face: aligned HQ -> 512 (PIL bicubic) -> PIL bicubic downscale by the scale -> model.restore(lr, 512); "
            "PSNR RGB 0-255 whole image, mean over faces; SSIM skimage 7x7 uniform window, RGB channel_axis=2, "
            "data_range=255, mean; fd_effnet = Frechet distance of EfficientNet-Lite0 stride-16 features (every "
            "position of every face a sample), restored set vs truths; identity = mean cosine similarity "
            "(identity_dist: mean Euclidean distance) of dlib 128-d face descriptors of each restored face and its "
            "truth, both on the truth's 5 dlib landmarks (null when dlib is not installed); ms_per_face = median of "
            "one call's wall time after 1 warm-up; peak_mb = peak RSS "
            "growth (VmHWM after a reset) in a forked process per model over build + restores, outputs excluded")

COLUMNS = [("model", "model", "s"), ("psnr", "PSNR", ".2f"), ("ssim", "SSIM", ".4f"),
           ("fd_effnet", "FD-EffNetLite0", ".2f"), ("identity", "identity (cos)", ".4f"),
           ("ms_per_face", "ms/face", ".1f"), ("peak_mb", "peak MB", ".1f"), ("n", "n", "d")]


def degrade(hq: np.ndarray, scale: int, preset: str | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(ground truth 512x512, low-res 512/scale) for one aligned HQ face, per the protocol; with ``preset`` the
    low-res face is :func:`models.degrade.apply_image` of the truth with that preset and ``seed``."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    gt = Image.fromarray(hq).resize((GT_SIZE, GT_SIZE), Image.Resampling.BICUBIC)
    if preset is not None:
        from models import degrade as deg

        side = GT_SIZE // scale
        return np.asarray(gt), deg.apply_image(np.asarray(gt), (side, side), preset, seed)
    lr = gt.resize((GT_SIZE // scale, GT_SIZE // scale), Image.Resampling.BICUBIC)
    return np.asarray(gt), np.asarray(lr)


def load_pairs(data: str, scale: int, limit: int | None = None, preset: str | None = None,
               seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, gt, lr) of every image in ``data`` (sorted by name), at most ``limit``; with ``preset`` face i is
    degraded with seed ``seed + i``."""
    from pathlib import Path

    if not Path(data).is_dir():
        raise common.DataError(f"{data} is not a folder")
    paths = common.list_images(data)[:limit]
    if not paths:
        raise common.DataError(f"no face images (png/jpg) in {data}")
    return [(p.name, *degrade(common.load_rgb(p), scale, preset, seed + i)) for i, p in enumerate(paths)]


def restore_all(model, pairs) -> tuple[list[np.ndarray], list[float]]:
    """uint8 outputs and wall seconds of ``model.restore(lr, 512)`` per face, after 1 untimed warm-up."""
    model.restore(pairs[0][2], GT_SIZE)  # warm-up
    outs, secs = [], []
    for _, gt, lr in pairs:
        out, dt = common.timed(model.restore, lr, GT_SIZE)
        pred = np.asarray(out)
        if pred.dtype != np.uint8:
            pred = np.clip(np.rint(pred), 0, 255).astype(np.uint8)
        if pred.shape != gt.shape:
            raise ValueError(f"model output {pred.shape} differs from the truth {gt.shape}")
        outs.append(pred)
        secs.append(dt)
    return outs, secs


def score(outs: list[np.ndarray], secs: list[float], pairs, identity: bool | DlibIdentity | str = True) -> dict:
    """PSNR, SSIM and :func:`bench.face_metrics.quality_metrics` (``identity`` as it takes it)."""
    from .face_metrics import quality_metrics

    gts = [gt for _, gt, _ in pairs]
    ps = [psnr(o, gt) for o, gt in zip(outs, gts)]
    ss = [ssim(o, gt) for o, gt in zip(outs, gts)]
    return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)), **quality_metrics(outs, gts, identity),
            "ms_per_face": 1000.0 * common.median(secs), "n": len(pairs)}


def _measure(model_id: str, pairs, threads: int | None, identity: bool | DlibIdentity | str = True,
             fidelity: float | None = None) -> dict | None:
    """Build and score one model (bound to ``fidelity`` when it has that control); peak memory covers building it
    and restoring every face (not the scoring)."""
    from models.memory import PeakMemory

    common.set_threads(threads)
    sum(int(a.sum()) + int(b.sum()) for _, a, b in pairs)  # page the shared data in before the baseline
    with PeakMemory() as mem:
        model = common.load_model(model_id, "face")
        if model is None:
            return None
        if fidelity is not None:
            from models.face.blind import at_fidelity

            model = at_fidelity(model, fidelity)
        outs, secs = restore_all(model, pairs)
    peak = mem.growth_mb - sum(o.nbytes for o in outs) / 2**20  # less the outputs kept for scoring
    return {**score(outs, secs, pairs, identity), "peak_mb": max(0.0, peak), "peak_method": mem.method}


def _child(model_id, pairs, threads, identity, queue, fidelity=None) -> None:
    try:
        queue.put(("ok", _measure(model_id, pairs, threads, identity, fidelity)))
    except BaseException as exc:  # report, never hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def measure_isolated(model_id: str, pairs, threads: int | None,
                     identity: bool | DlibIdentity | str = True, fidelity: float | None = None) -> dict | None:
    """:func:`_measure` in a fresh forked process, so its peak RSS is the model's own."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(model_id, pairs, threads, identity, queue, fidelity))
    proc.start()
    status, payload = queue.get()
    proc.join()
    if status == "error":
        raise RuntimeError(f"{model_id} failed in its benchmark process: {payload}")
    return payload


def run(data: str, scale: int, models: list[str], threads: int | None = 1, limit: int | None = None,
        isolate: bool = True, identity: bool = True, preset: str | None = None, seed: int = 0,
        fidelity: float | None = None) -> dict:
    from .face_metrics import identity_model

    if preset is not None:
        from models.degrade import check_preset

        try:
            preset = check_preset(preset)
        except ValueError as exc:
            raise common.DataError(str(exc)) from None
    if fidelity is not None:
        from models.face.blind import check_fidelity

        try:
            fidelity = check_fidelity(fidelity)
        except ValueError as exc:
            raise common.DataError(str(exc)) from None
    common.set_threads(threads)
    pairs = load_pairs(data, scale, limit, preset, seed)
    scorer: bool | DlibIdentity | str = identity
    if identity:  # dlib and the truths' descriptors once, here; each model's forked process inherits them
        scorer = identity_model()  # or the reason it is unavailable
        if not isinstance(scorer, str):
            for _, gt, _ in pairs:
                scorer.truth(gt)
    results = []
    for mid in models:
        r = (measure_isolated if isolate else _measure)(mid, pairs, threads, scorer, fidelity)
        if r is None:
            continue
        r = {"model": mid, **r}
        ident = "-" if r["identity"] is None else f"{r['identity']:.4f}"
        setting = f"x{scale}{'' if preset is None else ' ' + preset}"
        print(f"{mid} {setting}: PSNR {r['psnr']:.2f}  SSIM {r['ssim']:.4f}  FD-EffNetLite0 {r['fd_effnet']:.2f}  "
              f"identity {ident}  {r['ms_per_face']:.1f} ms/face  peak +{r['peak_mb']:.1f} MB", flush=True)
        results.append(r)
    report = {"protocol": PROTOCOL, "machine": common.machine(), "threads": threads, "scale": scale,
              "data": {"path": str(data), "faces": len(pairs), "lr_size": GT_SIZE // scale, "gt_size": GT_SIZE},
              "results": results}
    if fidelity is not None:
        report["fidelity"] = fidelity
    if preset is not None:
        report.update(degrade=preset, seed=seed, protocol=PROTOCOL + f"; low-res faces made by models.degrade "
                      f"preset {preset!r}, seed {seed} + face index (instead of the bicubic downscale)")
    return report


def main(argv=None) -> int:
    ap = common.parser("face", __doc__, "face", "folder of aligned HQ faces (png/jpg)")
    ap.add_argument("--scale", type=int, required=True, choices=SCALES)
    ap.add_argument("--limit", type=int, help="use only the first N faces")
    ap.add_argument("--in-process", action="store_true",
                    help="run models in this process (peak_mb is then the process peak's growth, less meaningful)")
    ap.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric even when installed")
    ap.add_argument("--degrade", metavar="PRESET",
                    help="make the low-res faces with models.degrade (bi, jpeg, real, crfNN) instead of the bicubic "
                         "downscale; recorded in the JSON")
    ap.add_argument("--seed", type=int, default=0, help="base seed of --degrade (face i gets seed + i; default 0)")
    ap.add_argument("--fidelity", type=float,
                    help="run models with a fidelity control (face_realesrgan) at this fidelity (0-1; default: theirs)")
    args = ap.parse_args(argv)
    return common.run_and_publish(
        lambda: run(args.data, args.scale, common.resolve_models(args.models, "face"), args.threads or None,
                    args.limit, isolate=not args.in_process, identity=not args.no_identity, preset=args.degrade,
                    seed=args.seed, fidelity=args.fidelity),
        PROTOCOL, COLUMNS, args.json)


if __name__ == "__main__":
    sys.exit(main())
