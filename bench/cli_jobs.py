"""Whole CLI jobs before/after the CPU work of issue 31: time per output frame.

    python -m bench.cli_jobs [--seconds 10] [--source CLIP] [--jobs interpolate,video-sr] [--threads 2]
                             [--json bench/results/cli_jobs.json]

The input is ``--seconds`` of a 720p 30 fps clip (``--source``, default the first training clip of at least 720p,
scaled to 1280x720 and resampled to 30 fps by ffmpeg). Jobs: ``interpolate`` (``python -m frameforge interpolate IN
--fps 60``, model ``rife``) and ``video-sr`` (``python -m frameforge video-sr IN --scale 2 --model lanczos+rife``,
time factor 2). Each job runs as ``before`` (IFNet plain fp32 and the frame-size level rule: the code before issue
31) and ``after`` (the current defaults), alternating, in fresh processes on ``--threads`` threads; time per output
frame = wall time of the whole command (model load, decode, encode included) / frames written. The load average is
recorded: the machine may be shared.

``--before-tree DIR`` (a checkout of older code, e.g. ``git worktree add /tmp/old <commit>``): ``before`` runs that
tree's CLI with its own defaults instead of the emulation above, so the A/B spans code changes the emulation cannot
undo (e.g. IFNet's faster flows); ``--rounds R`` alternates before/after R times (medians reported).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common

RESULTS = Path(__file__).resolve().parent / "results"
BEFORE = "import models.backbones.rife as r; r.CPU_MODE = 'plain'; r.DEFAULT_LEVEL_MODE = 'size'; "
JOBS = {"interpolate": ["interpolate", "--fps", "60", "--model", "rife"],
        "video-sr": ["video-sr", "--scale", "2", "--time-factor", "2", "--model", "lanczos+rife"]}


def make_clip(source: Path, seconds: float, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-t", str(seconds), "-vf",
                    "scale=1280:720,fps=30", "-an", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(out)],
                   check=True)
    return out


def default_source() -> Path:
    from models.video_io import probe
    from train.data_vfi import DATA_ROOT

    for p in sorted((DATA_ROOT / "clips").glob("*.mp4")):
        info = probe(p)
        if min(info.height, info.width) >= 720:
            return p
    raise SystemExit(f"no training clip of at least 720p under {DATA_ROOT / 'clips'}: pass --source")


def frames_in(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames", "-of", "csv=p=0", str(path)], capture_output=True, text=True)
    return int(out.stdout.strip())


def run_job(job: str, clip: Path, which: str, threads: int, tmp: Path, tree: Path | None = None) -> dict:
    """One whole CLI job in a fresh process: in ``tree`` with its defaults when given, else here (``before``: the
    :data:`BEFORE` emulation)."""
    out = tmp / f"{job}_{which}"
    shutil.rmtree(out, ignore_errors=True)
    args = [JOBS[job][0], str(clip), "-o", str(out), *JOBS[job][1:]]
    code = (BEFORE if which == "before" and tree is None else "") + \
        f"import sys; from frameforge.__main__ import main; sys.exit(main({args!r}))"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), FRAMEFORGE_DEVICE="cpu")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=tree or Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{job} {which} failed:\n{proc.stderr[-2000:]}")
    files = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".mp4", ".mkv", ".webm")]
    n = frames_in(files[0])
    return {"job": job, "which": which, "wall_s": wall, "frames_out": n, "s_per_output_frame": wall / n}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cli_jobs", description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--source", default=None)
    ap.add_argument("--jobs", default="interpolate,video-sr")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(RESULTS / "cli_jobs.json"))
    ap.add_argument("--before-tree", default=None, help="run 'before' in this checkout with its own defaults")
    ap.add_argument("--rounds", type=int, default=1, help="before/after alternations (medians reported)")
    args = ap.parse_args(argv)
    tree = Path(args.before_tree).resolve() if args.before_tree else None
    if tree is not None and not (tree / "frameforge" / "__main__.py").is_file():
        raise SystemExit(f"--before-tree {tree}: not a FrameForge checkout (no frameforge/__main__.py)")
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = make_clip(Path(args.source) if args.source else default_source(), args.seconds, tmp / "in.mp4")
        for job in [j.strip() for j in args.jobs.split(",") if j.strip()]:
            runs = {"before": [], "after": []}
            for _ in range(max(1, args.rounds)):
                for which in ("before", "after"):
                    where = tree if which == "before" else None
                    runs[which].append(run_job(job, clip, which, args.threads, tmp, where))
                    print(f"{job} {which}: {runs[which][-1]['s_per_output_frame']:.2f} s per output frame", flush=True)
            for which in ("before", "after"):
                row = dict(runs[which][0])
                row["wall_s"] = statistics.median(r["wall_s"] for r in runs[which])
                row["s_per_output_frame"] = row["wall_s"] / row["frames_out"]
                row["walls_s"] = [r["wall_s"] for r in runs[which]]
                rows.append(row)
            b, a = rows[-2], rows[-1]
            a["speedup_vs_before"] = b["s_per_output_frame"] / a["s_per_output_frame"]
    before = (f"before = the checkout {tree} with its own defaults" if tree else
              "before = IFNet plain fp32 + frame-size level rule")
    report = {"protocol": f"{args.seconds:g} s of a 720p 30 fps clip; whole CLI command wall time / frames written "
                          f"(median of {max(1, args.rounds)} alternating rounds); {before}, after = current defaults",
              "machine": common.machine(), "threads": args.threads, "load_average_start": load0,
              "load_average_end": os.getloadavg(), "note": "shared machine: loaded timings", "results": rows}
    return common.publish(report, report["protocol"], [("job", "job", "s"), ("which", "", "s"),
                                                       ("frames_out", "frames", "d"),
                                                       ("s_per_output_frame", "s/frame", ".2f"),
                                                       ("speedup_vs_before", "x before", ".2f")], args.json)


if __name__ == "__main__":
    raise SystemExit(main())
