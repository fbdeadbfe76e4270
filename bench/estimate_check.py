"""The video tabs' time estimates against measured wall times (issue 33 item 9).

    python -m bench.estimate_check [--frames 12] [--models lanczos+rife,rife] [--json bench/results/estimate_check.json]

Runs the Video SR and interpolation pipelines as the tabs do (decode, model, H.264 encode) on the first ``--frames``
frames of ``examples/videos/dog_480x270.mp4`` (and that clip resized to 960x540, bench.vfi's size, for
interpolation) over the benchmarks' settings: time factor 1 and 2, x2 and x4 in space, 25 -> 60 style rates and a
30 -> 25 reduction; for each, the estimate the tab shows before the run (models.pipelines.estimate, scaled by the
machine speed measured at the start) and the measured time. A ratio measured / estimated within [1/1.5, 1.5] passes.
The machine is shared (other jobs run on it): the load average is recorded with the results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "videos" / "dog_480x270.mp4"

#: (tab, model, kwargs): Video SR (scale, time factor or fps) and interpolation (factor or fps) settings.
CASES = [
    ("video_sr", "lanczos+rife", dict(scale=2.0, time_factor=1)),
    ("video_sr", "lanczos+rife", dict(scale=2.0, time_factor=2)),
    ("video_sr", "lanczos+rife", dict(scale=2.0, fps=72)),  # 30 -> 72: the 25 -> 60 ratio
    ("video_sr", "lanczos+dis", dict(scale=4.0, time_factor=2)),
    ("video_sr", "lanczos+dis", dict(scale=2.0, time_factor=1)),
    ("interpolate", "rife", dict(factor=2)),
    ("interpolate", "rife", dict(fps=72)),
    ("interpolate", "rife", dict(fps=25)),  # 30 -> 25 (each output frame made at its exact time)
    ("interpolate", "dis_flow", dict(factor=2)),
    ("interpolate", "dis_flow", dict(factor=4)),
]


def cut(src: Path, dst: Path, frames: int, size: tuple[int, int] | None) -> Path:
    """The first ``frames`` frames of ``src`` (resized to ``size`` with Lanczos) as an mp4 at its rate."""
    from PIL import Image

    from models import video_io

    info = video_io.probe(src)
    with video_io.VideoWriter(dst, info.fps) as w:
        for f in video_io.iter_frames(src, max_frames=frames):
            img = f.image if size is None else __import__("numpy").asarray(
                Image.fromarray(f.image).resize(size, Image.LANCZOS))
            w.write(img)
    return dst


def estimate(tab: str, model_id: str, info, kw: dict) -> dict:
    from models.pipelines import estimate as est

    if tab == "video_sr":
        raw = est.estimate_video_sr(model_id, info.frame_count, (info.width, info.height), kw["scale"],
                                    kw.get("fps", 0), kw.get("time_factor", 1), info.fps)
    else:
        factor = kw["fps"] / info.fps if "fps" in kw else kw["factor"]
        raw = est.estimate_interpolation(model_id, info.frame_count, (info.width, info.height), factor)
    return est.scaled(raw)


def run_case(tab: str, model_id: str, kw: dict, clip: Path, out: Path) -> float:
    from models import registry
    from models.pipelines.interpolate import interpolate_video
    from models.pipelines.video_sr import upscale_video

    model = registry.get(model_id)
    t0 = time.perf_counter()
    if tab == "video_sr":
        upscale_video(model, str(clip), str(out), kw["scale"], fps=kw.get("fps"), time_factor=kw.get("time_factor"))
    else:
        interpolate_video(model, str(clip), str(out), **kw)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.estimate_check", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12, help="source frames per run (default 12)")
    ap.add_argument("--models", default="", help="comma-separated model ids to keep (default: all cases)")
    ap.add_argument("--json", default="", help="write the results here")
    args = ap.parse_args(argv)

    from models import registry, video_io
    from models.pipelines import estimate as est

    keep = set(filter(None, args.models.split(",")))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = cut(CLIP, tmp / "small.mp4", args.frames, None)
        large = cut(CLIP, tmp / "large.mp4", args.frames, (960, 540))
        registry.get("rife"), registry.get("lanczos+rife")  # load once, outside the timings
        speed = est.speed_factor(refresh=True)
        for k, (tab, model_id, kw) in enumerate(CASES):
            if keep and model_id not in keep:
                continue
            if not registry.spec(model_id).available():
                continue
            clip = small if tab == "video_sr" else large
            info = video_io.probe(clip)
            e = estimate(tab, model_id, info, kw)
            took = run_case(tab, model_id, kw, clip, tmp / f"out{k}.mp4")
            ratio = took / max(e["cpu_seconds"], 1e-9)
            rows.append(dict(tab=tab, model=model_id, settings=kw, size=f"{info.width}x{info.height}",
                             frames=info.frame_count, out_frames=e["out_frames"], made=e["made_frames"],
                             estimate_s=round(e["cpu_seconds"], 2), measured_s=round(took, 2),
                             ratio=round(ratio, 2), ok=1 / 1.5 <= ratio <= 1.5))
            r = rows[-1]
            print(f"{tab:12s} {model_id:14s} {json.dumps(kw):32s} {r['size']:8s} out {r['out_frames']:3d} "
                  f"(made {r['made']:3d})  estimate {r['estimate_s']:6.1f} s  measured {r['measured_s']:6.1f} s  "
                  f"ratio {r['ratio']:.2f} {'ok' if r['ok'] else 'OFF'}", flush=True)
    load = os.getloadavg()
    worst = max((max(r["ratio"], 1 / r["ratio"]) for r in rows), default=1.0)
    print(f"speed factor {speed:.2f} (workload {est.REFERENCE_WORKLOAD_SECONDS * speed:.3f} s vs "
          f"{est.REFERENCE_WORKLOAD_SECONDS:.3f} s fitted); load average {load[0]:.1f} on {os.cpu_count()} CPUs "
          f"(a shared machine: other jobs ran at the same time); worst ratio {worst:.2f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(dict(rows=rows, speed_factor=speed, load_average=load,
                                                   worst_ratio=worst, frames=args.frames), indent=1) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
