"""Several space-time settings in one run and one table: ``python -m bench.stvsr_table --settings
DIR:S:T[,DIR:S:T...] --models a,b [--max-frames N] [--json PATH]``.

Each setting is one :func:`bench.stvsr.run` (same protocol, ``bench/stvsr.py``) over the folder ``DIR`` at space
scale S and time scale T; the models are the same for every setting. The JSON holds every setting's full
``bench.stvsr`` report under ``settings``; the markdown table has a row per model and, per setting, PSNR-Y over
all frames / over the in-between frames, and ms per output frame. Settings outside a model's training scales are
only marked in the heading (the caller names them with ``--out-of-range``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import common
from .stvsr import PROTOCOL, run


def parse_settings(text: str) -> list[tuple[str, float, int]]:
    """``DIR:S:T`` items, comma-separated -> [(dir, space, time)]; a clear ValueError for anything else."""
    out = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        parts = item.rsplit(":", 2)
        if len(parts) != 3:
            raise ValueError(f"setting {item!r} is not DIR:SPACE:TIME")
        folder, space, time_scale = parts
        try:
            s, t = float(space), int(time_scale)
        except ValueError:
            raise ValueError(f"setting {item!r}: SPACE must be a number and TIME an integer") from None
        if s <= 0 or t < 1:
            raise ValueError(f"setting {item!r}: SPACE must be > 0 and TIME >= 1")
        out.append((folder, int(s) if s.is_integer() else s, t))
    if not out:
        raise ValueError("no settings given")
    return out


def label(report: dict) -> str:
    return f"{Path(report['data']['path']).name} x{report['space']}/x{report['time']}"


def markdown(reports: list[dict], models: list[str]) -> str:
    heads = [label(r) for r in reports]
    lines = ["| model | " + " | ".join(f"{h}: all / in-between (dB), ms/frame" for h in heads) + " |",
             "|---|" + "---|" * len(heads)]
    for m in models:
        cells = []
        for r in reports:
            row = next((x for x in r["results"] if x["model"] == m), None)
            if row is None:
                cells.append("—")
                continue
            mid = row["psnr_y_interp"]
            cells.append(f"{row['psnr_y']:.2f} / {'—' if mid is None else f'{mid:.2f}'}, "
                         f"{row['ms_per_output_frame']:.0f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stvsr_table", description=__doc__.splitlines()[0])
    ap.add_argument("--settings", required=True, help="DIR:SPACE:TIME items, comma-separated")
    ap.add_argument("--models", required=True, help="comma-separated stvsr model ids (the same for every setting)")
    ap.add_argument("--max-frames", type=int, help="use only the first N frames of each sequence")
    ap.add_argument("--out-of-range", default="", help="settings (as given) outside the models' training scales")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="bench/results/stvsr_table.json")
    args = ap.parse_args(argv)
    try:
        settings = parse_settings(args.settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    models = common.resolve_models(args.models, "stvsr")
    t0, reports = time.time(), []
    for folder, space, time_scale in settings:
        print(f"== {folder} x{space} / x{time_scale}", flush=True)
        try:
            reports.append(run(folder, space, time_scale, models, args.max_frames, args.threads or None))
        except (common.DataError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        common.write_json(args.json, {"protocol": PROTOCOL, "models": models, "settings": reports,
                                      "max_frames": args.max_frames, "out_of_range": args.out_of_range,
                                      "wall_seconds": round(time.time() - t0, 1), "machine": common.machine(),
                                      "command": "python -m bench.stvsr_table " + " ".join(
                                          argv if argv is not None else sys.argv[1:])})
    table = markdown(reports, models)
    Path(args.json).with_suffix(".md").write_text(
        f"# `python -m bench.stvsr_table` ({', '.join(label(r) for r in reports)}; first "
        f"{args.max_frames or 'all'} frames per sequence)\n\n{table}\n")
    print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
