"""Scale-out measurements (issue 34): a folder of clips on a local Ray cluster of 1 vs 2 workers, and the ZeroGPU
segment plan of a 60 s 720p job.

    python -m bench.ray_scale [--clips 4] [--frames 24] [--size 144x256] [--model lanczos+rife] [--json PATH]

1. Ray: ``--clips`` synthetic clips (textured shots with scene cuts, audio) run through frameforge/ray_jobs.py, the
   code behind ``python -m frameforge video-sr DIR --ray local``, at x2 in space and time, with a fresh local cluster
   of 1 and then 2 workers (one CPU each). Reported: the job's wall time (cluster start-up separate), the ratio, each
   worker's peak resident memory. On a 2-core machine the ideal ratio is 2x; a machine shared with other work gets
   less (the JSON records the load average before each run).
2. ZeroGPU: the segment plan (models/pipelines/segments.py with the app's settings, demos/common.py) of 60 s of
   30 fps video for Video SR 640x360 -> 1280x720 at 60 fps (lanczos+rife, basicvsr+rife) and for interpolating
   1280x720 30 -> 60 fps (rife): number of GPU calls and each call's requested duration. No video is decoded: the
   frames are evenly timed, with x264's default key frames (every 250 frames) and no scene cut (the worst case for
   BasicVSR, whose segments then start with a warm-up). GPU seconds are the cost model's (estimate.GPU_SPEEDUP, an
   assumption).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, write_json

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "bench" / "results" / "ray_scale.json"


def zerogpu_plans(seconds: float = 60.0, fps: float = 30.0) -> list[dict]:
    """The app's segment plan for 60 s jobs (no decoding: planned from the frame count and the cost model)."""
    from demos.common import SEGMENT_CAP_SECONDS, SEGMENT_GPU_SECONDS, segment_duration
    from models.pipelines import segments
    from models.pipelines.estimate import estimate_interpolation, estimate_video_sr
    from models import registry

    n = int(seconds * fps)
    times = [i / fps for i in range(n)]
    keys = list(range(0, n, 250))
    rows = []
    jobs = [("video_sr", "lanczos+rife", (640, 360), 2.0), ("video_sr", "basicvsr+rife", (640, 360), 2.0),
            ("interpolate", "rife", (1280, 720), 1.0)]
    for task, model_id, size, scale in jobs:
        if task == "video_sr":
            est = estimate_video_sr(model_id, n, size, scale, 60.0, 2.0, fps)
            rec = segments.recurrence(registry.get(model_id))
        else:
            est = estimate_interpolation(model_id, n, size, 2.0)
            rec = None
        plan = segments.plan_segments(times, (), keys, est["gpu_seconds"] / n, SEGMENT_GPU_SECONDS, rec,
                                      gpu_duration=segment_duration, cap_seconds=SEGMENT_CAP_SECONDS)
        durations = [s.gpu_duration for s in plan.segments]
        rows.append({"task": task, "model": model_id, "input": f"{size[0]}x{size[1]} @ {fps:g} fps, {seconds:g} s",
                     "output": f"{est['out_size'][0]}x{est['out_size'][1]} @ 60 fps, {est['out_frames']} frames",
                     "estimated_gpu_seconds": round(est["gpu_seconds"], 1),
                     "one_call_would_ask": int(10 + 1.5 * est["gpu_seconds"]),
                     "calls": len(plan.segments), "requested_seconds": durations,
                     "requested_total": sum(durations), "max_requested": max(durations),
                     "exact_segments": sum(s.exact for s in plan.segments),
                     "starts_at": [s.starts_at for s in plan.segments]})
    return rows


def warmup_tolerance(frames: int = 60, width: int = 96) -> dict:
    """How far a BasicVSR segment that starts inside a shot (warm-up instead of the whole past) is from the
    one-piece job: the first ``frames`` of examples/videos/dog_480x270.mp4 at ``width`` px, basicvsr+rife x2 in
    space and time, cut where the plan cuts it for a small budget; every output frame compared."""
    import numpy as np
    from PIL import Image

    from models import registry, video_io
    from models.pipelines import segments
    from models.pipelines.video_sr import upscale_video

    src_video = ROOT / "examples" / "videos" / "dog_480x270.mp4"
    model = registry.get("basicvsr+rife")
    with tempfile.TemporaryDirectory(prefix="warmup_") as tmp:
        clip = Path(tmp) / "clip.mp4"
        info = video_io.probe(src_video)
        height = 2 * round(width * info.height / info.width / 2)
        with video_io.VideoWriter(clip, info.fps, crf=12) as writer:
            for f in video_io.iter_frames(src_video, max_frames=frames):
                writer.write(np.asarray(Image.fromarray(f.image).resize((width, height), Image.LANCZOS)))
        made = {}
        original = video_io.VideoWriter.write

        def record(self, image):
            made.setdefault(Path(self.path).name, []).append(np.array(image))
            return original(self, image)

        video_io.VideoWriter.write = record
        try:
            t0 = time.perf_counter()
            upscale_video(model, str(clip), str(Path(tmp) / "one.mp4"), 2.0, time_factor=2)
            one_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, plan, _ = segments.upscale_video_in_segments(model, str(clip), str(Path(tmp) / "seg.mp4"), 2.0,
                                                            time_factor=2, frame_seconds=1.0, max_seconds=40.0)
            seg_s = time.perf_counter() - t0
        finally:
            video_io.VideoWriter.write = original
    a, b = made["one.mp4"], made["seg.mp4"]
    diffs = [np.abs(x.astype(np.int16) - y.astype(np.int16)) for x, y in zip(a, b)]
    bad = [k for k, d in enumerate(diffs) if d.max() > 0]
    mse = [float((d.astype(np.float64) ** 2).mean()) for d in diffs if d.max() > 0]
    return {"clip": f"dog_480x270.mp4, first {frames} frames at {width}x{height}, basicvsr+rife x2, time factor 2",
            "segments": [{"first": s.first, "stop": s.stop, "decoded_from": s.feed_first, "exact": s.exact,
                          "starts_at": s.starts_at} for s in plan.segments],
            "frames": len(a), "same_count": len(a) == len(b), "frames_differing": len(bad),
            "first_differing": bad[:1], "last_differing": bad[-1:],
            "max_abs_diff": int(max(int(d.max()) for d in diffs)),
            "mean_abs_diff_of_differing": round(float(np.mean([d.mean() for d in diffs if d.max() > 0])), 4)
            if bad else 0.0,
            "min_psnr_db_of_differing": round(min(10 * np.log10(255 ** 2 / m) for m in mse), 2) if mse else None,
            "one_piece_seconds": round(one_s, 1), "segmented_seconds": round(seg_s, 1)}


def make_clips(folder: Path, clips: int, frames: int, size: tuple[int, int]) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from segment_clips import make_shots_video

    for i in range(clips):
        make_shots_video(folder / f"clip{i}.mp4", shots=2, per_shot=frames // 2, size=size, audio=True)


def ray_run(folder: Path, out: Path, workers: int, model_id: str) -> dict:
    import ray

    from frameforge import ray_jobs
    from models import registry

    files = {p: out / f"{p.stem}_x2.mp4" for p in sorted(folder.glob("*.mp4"))}
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    ray_jobs.connect("local", workers)
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = ray_jobs.run("video_sr", model_id, registry.get(model_id), files, dict(scale=2.0, time_factor=2.0),
                          workers=workers, segment_seconds=1e9, log=lambda m: None)
    took = time.perf_counter() - t1
    ray.shutdown()
    assert not result.failed, result.failed
    return {"workers": workers, "job_seconds": round(took, 2), "cluster_start_seconds": round(started, 2),
            "worker_peak_mib": result.worker_peak_mib, "load_average_before": round(load, 2),
            "files": len(result.lines)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ray_scale", description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=24, help="frames per clip (two shots)")
    ap.add_argument("--size", default="144x256", help="clip size HxW (default 144x256)")
    ap.add_argument("--model", default="lanczos+rife")
    ap.add_argument("--no-ray", action="store_true", help="only the ZeroGPU plan")
    ap.add_argument("--warmup", action="store_true",
                    help="also measure a BasicVSR segment that starts inside a shot against the one-piece job")
    ap.add_argument("--json", default=str(DEFAULT_JSON))
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    report = {"note": "2-core machine shared with a training run and other jobs while measured: wall times are "
                      "noisy and the 1 vs 2 worker ratio is a lower bound of what an idle machine gives.",
              "machine": machine()}
    if not args.no_ray:
        with tempfile.TemporaryDirectory(prefix="ray_scale_") as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            make_clips(folder, args.clips, args.frames, (h, w))
            runs = [ray_run(folder, Path(tmp) / f"out{k}", k, args.model) for k in (1, 2)]
            same = all((Path(tmp) / "out1" / p.name).read_bytes() == p.read_bytes()
                       for p in (Path(tmp) / "out2").iterdir())
        report["ray"] = {"clips": args.clips, "frames_per_clip": args.frames, "size": f"{w}x{h}",
                         "job": f"video-sr x2, time factor 2, {args.model}", "runs": runs,
                         "speedup_2_vs_1": round(runs[0]["job_seconds"] / runs[1]["job_seconds"], 2),
                         "same_files_1_and_2_workers": same}
        for r in runs:
            print(f"{r['workers']} worker(s): {r['job_seconds']:.1f} s (cluster start {r['cluster_start_seconds']:.1f} s), "
                  f"peak memory per worker {r['worker_peak_mib']} MiB, load average before {r['load_average_before']}")
        print(f"2 vs 1 workers: {report['ray']['speedup_2_vs_1']}x (same files: {same}); machine loaded by other work")
    if args.warmup:
        report["basicvsr_warmup"] = w = warmup_tolerance()
        print(f"BasicVSR segments inside a shot: {w['frames_differing']} of {w['frames']} frames differ, max "
              f"{w['max_abs_diff']} grey levels, lowest PSNR {w['min_psnr_db_of_differing']} dB")
    report["zerogpu_60s_720p"] = zerogpu_plans()
    for row in report["zerogpu_60s_720p"]:
        print(f"ZeroGPU {row['model']:14s} {row['input']} -> {row['output']}: est. {row['estimated_gpu_seconds']} GPU s "
              f"(one call would ask {row['one_call_would_ask']} s), {row['calls']} calls asking "
              f"{row['requested_seconds']} s")
    write_json(args.json, report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
