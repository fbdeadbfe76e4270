"""Speed and peak memory of the face networks, teacher against student in one run (the paper's 12.6x claim).

    python -m bench.face_speed [--models face_realesrgan,face_student] [--batches 1,8] [--repeats 3] [--threads 1]
                               [--fidelity 1] [--network-only] [--json PATH]

Two measures per model:
- the network alone, for one 512x512 output face: a batch of a fixed random texture through the network, wall time
  per face (median over ``repeats`` after a warm-up) and peak memory of the call (``models.memory.PeakMemory``: CUDA
  allocator peak, or the process's VmHWM above its resident set after a reset), at each batch size. The blind models
  (``face_realesrgan``'s RRDBNet, the ``face_student`` networks) take the 128x128 low-res crop (x4), with bf16
  autocast on a CPU with native bf16 as their restorers run; the SFT networks over BasicVSR (``face_teacher``,
  ``face_student_perceptual``) take the 512x512 base;
- the whole restorer on one 128 px aligned crop at x4 (``restore(lr, 512)``): for the SFT networks the shared
  pretrained base (BasicVSR) plus the network; ``face_realesrgan`` at ``--fidelity`` (default 1: the distillation
  teacher alone; below 1 BasicVSR runs too).
Models without shipped weights run random-initialised (the teacher with random dictionaries so that every part is
matched and injected); their time does not depend on the weights.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from bench import common

PROTOCOL = __doc__.split("\n\n")[2].strip()


def _network(model_id: str):
    """(restorer, its network, "shipped" | "random") for a face network id; ValueError for any other model."""
    from models import registry
    from models.weights import WeightsUnavailable

    if registry.spec(model_id).task != "face":  # KeyError names the known ids
        raise ValueError(f"{model_id} is not a face model")
    try:
        restorer, weights = registry.create(model_id), "shipped"
    except WeightsUnavailable:
        restorer, weights = registry.create(model_id, pretrained=False), "random"
    net = getattr(restorer, "net", None)
    if net is None and hasattr(restorer, "_models"):  # face_realesrgan: the RRDBNet of its Real-ESRGAN upscaler
        net = getattr(restorer._models()[0], "net", None)
    if net is None:
        raise ValueError(f"{model_id} has no network to time (e.g. face_realesrgan, face_student, face_teacher)")
    if weights == "random":
        for name, buf in net.named_buffers():
            if name.startswith("dict_"):
                buf.normal_()
    return restorer, net, weights


def measure(model_id: str, batches, repeats: int, whole: bool = True, fidelity: float = 1.0) -> dict:
    from models import registry
    from models.device import autocast, inference_device
    from models.face.blind import at_fidelity
    from models.memory import PeakMemory

    restorer, net, weights = _network(model_id)
    device = inference_device()
    net.to(device)
    blind = "blind" in registry.spec(model_id).tags  # x4 from the low-res crop, bf16 on a bf16 CPU
    rng = np.random.default_rng(0)
    texture = torch.from_numpy(rng.random((3, 512, 512), dtype=np.float32))
    if blind:
        texture = texture[:, ::4, ::4].contiguous()  # the 128 px crop a 512 face is restored from
    row = {"model": model_id, "weights": weights, "params": sum(p.numel() for p in net.parameters()),
           "device": str(device)}
    with torch.no_grad():
        for b in batches:
            x = texture[None].expand(b, -1, -1, -1).contiguous().to(device)
            with autocast(device, blind):
                net(x)  # warm-up
            times, peaks = [], []
            for _ in range(repeats):
                with PeakMemory(device) as mem:
                    t0 = time.perf_counter()
                    with autocast(device, blind):
                        net(x)
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    times.append(time.perf_counter() - t0)
                peaks.append(mem.growth_mb)
            row[f"net_ms_per_face_b{b}"] = 1000 * statistics.median(times) / b
            row[f"net_peak_mb_b{b}"] = max(peaks)
    if not whole:
        return row
    lr = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    restorer = at_fidelity(restorer, fidelity)  # face_realesrgan at --fidelity; the others as they are
    restorer.restore(lr, 512)  # warm-up (builds the base)
    with PeakMemory(device) as mem:
        _, secs = common.timed(restorer.restore, lr, 512)
    row["restore_ms_per_face"], row["restore_peak_mb"], row["peak_method"] = 1000 * secs, mem.growth_mb, mem.method
    return row


def ratios(rows: list[dict], teacher: str = "face_realesrgan", student: str = "face_student") -> dict:
    """Teacher / student for every measured column (time and memory), when both were measured (``--models A,B``:
    A / B)."""
    t = next((r for r in rows if r["model"] == teacher), None)
    s = next((r for r in rows if r["model"] == student), None)
    if t is None or s is None:
        return {}
    keys = [k for k in t if k.startswith(("net_", "restore_")) and isinstance(t[k], float) and s.get(k)]
    return {k: t[k] / s[k] for k in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.face_speed", description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="face_realesrgan,face_student")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--fidelity", type=float, default=1.0,
                    help="face_realesrgan's fidelity for the whole restorer (default 1: the teacher alone)")
    ap.add_argument("--network-only", action="store_true", help="skip the whole restorer (base + network)")
    args = ap.parse_args(argv)
    try:
        batches = [int(b) for b in args.batches.split(",")]
        if not batches or min(batches) < 1 or args.repeats < 1:
            raise ValueError
    except ValueError:
        print(f"error: --batches takes positive integers (got {args.batches!r}) and --repeats >= 1", file=sys.stderr)
        return 2
    from models.face.blind import check_fidelity

    try:
        check_fidelity(args.fidelity)
    except ValueError as exc:
        print(f"error: --fidelity: {exc}", file=sys.stderr)
        return 2
    models = common.resolve_models(args.models, "face")
    common.set_threads(args.threads)
    rows = []
    for mid in models:
        try:
            r = measure(mid, batches, args.repeats, whole=not args.network_only, fidelity=args.fidelity)
        except (KeyError, ValueError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        rows.append(r)
    rat = ratios(rows, *models) if len(models) == 2 else ratios(rows)  # two models: the first over the second
    if rat:
        print("teacher / student: " + ", ".join(f"{k} {v:.2f}x" for k, v in rat.items()))
    report = {"protocol": PROTOCOL, "machine": common.machine(), "threads": args.threads, "fidelity": args.fidelity,
              "results": rows, "teacher_over_student": rat}
    if args.json:
        common.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
