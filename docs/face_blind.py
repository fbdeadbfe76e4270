"""Make docs/face_blind.png: faces of the evaluation set degraded like an old photo (``models.degrade`` preset
``jpeg``: blur, x4 down to 128 px, noise, JPEG q 30-80; seed = face index, as ``bench.face --degrade jpeg``), restored
to 512 by the faithful ``face_basicvsr``, the blind ``face_realesrgan`` (fidelity 0.7, the default, and 1) and its
distilled student ``face_student``, beside the truth.

    python docs/face_blind.py [--faces 00000,00003] [--data ../shared/data/faces_eval/ffhq]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CROP = (96, 120, 320, 300)  # x, y, width, height at 512: eyes to chin


def main(argv=None) -> None:
    from bench.face import load_pairs
    from models import registry
    from tiles import tile_row  # docs/tiles.py (this script's folder is on sys.path)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "faces_eval" / "ffhq"))
    ap.add_argument("--faces", default="00000,00003", help="file stems in --data")
    ap.add_argument("--out", default=str(ROOT / "docs" / "face_blind.png"))
    args = ap.parse_args(argv)
    pairs = load_pairs(args.data, 4, preset="jpeg")  # the benchmark's pairs: seed = index in the sorted folder
    wanted = args.faces.split(",")
    rows = []
    blind, faithful = registry.get("face_realesrgan"), registry.get("face_basicvsr")
    student = registry.get("face_student")
    for name, gt, lr in pairs:
        if Path(name).stem not in wanted:
            continue
        tiles = [("degraded input (jpeg, 128 px)", np.asarray(Image.fromarray(lr).resize((512, 512), Image.NEAREST))),
                 ("face_basicvsr", faithful.restore(lr, 512)),
                 ("face_realesrgan, fidelity 0.7", blind.restore(lr, 512, fidelity=0.7)),
                 ("face_realesrgan, fidelity 1", blind.restore(lr, 512, fidelity=1.0)),
                 ("face_student", student.restore(lr, 512)), ("truth", gt)]
        rows.append(tile_row(tiles, CROP))
    if not rows:
        raise SystemExit(f"none of {wanted} in {args.data}")
    canvas = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    for i, r in enumerate(rows):
        canvas.paste(r, (0, sum(x.height for x in rows[:i])))
    canvas.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
