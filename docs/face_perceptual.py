"""Make docs/face_perceptual.png: the repository's aligned astronaut crop (examples/faces, 128 px; NASA, public
domain) restored to 512 by each face model, the eyes and nose region side by side.

    python docs/face_perceptual.py [--models face_bicubic,face_basicvsr,face_student_perceptual]

(The SFT ``face_student`` tile of earlier figures is gone with that model: ``face_student`` is now the blind student,
made for degraded faces, not this clean crop; see docs/face_blind.py.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACE = ROOT / "examples" / "faces" / "astronaut_aligned_128.png"
CROP = (128, 160, 256, 224)  # x, y, width, height at 512: eyes, nose and mouth


def main(argv=None) -> None:
    from models import registry
    from tiles import tile_row  # docs/tiles.py (this script's folder is on sys.path)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="face_bicubic,face_basicvsr,face_student_perceptual")
    ap.add_argument("--out", default=str(ROOT / "docs" / "face_perceptual.png"))
    args = ap.parse_args(argv)
    lr = np.asarray(Image.open(FACE).convert("RGB"))
    tiles = [("input (128 px, enlarged)", np.asarray(Image.fromarray(lr).resize((512, 512), Image.NEAREST)))]
    for mid in [m for m in args.models.split(",") if m and registry.spec(m).available()]:
        tiles.append((mid, registry.get(mid).restore(lr, 512)))
    tile_row(tiles, CROP).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
