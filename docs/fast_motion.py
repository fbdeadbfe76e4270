"""Make docs/fast_motion.png: a fast-motion crop of a Middlebury pair (../shared/data/examples/frame_pairs), its two
frames and the middle frame made by each model, side by side.

    python docs/fast_motion.py [--pair Basketball] [--models dis_flow,sf_adacof,rife,sf_adacof_aligned_cond]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAIRS = ROOT.parent / "shared" / "data" / "examples" / "frame_pairs"
#: The fast-moving part of each pair (x, y, width, height in the frame).
CROPS = {"Basketball": (40, 30, 240, 180), "Backyard": (160, 60, 240, 180)}


def main(argv=None) -> None:
    from models import registry
    from tiles import tile_row  # docs/tiles.py (this script's folder is on sys.path)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", default="Basketball", choices=sorted(CROPS))
    ap.add_argument("--models", default="dis_flow,sf_adacof,rife,sf_adacof_aligned_cond")
    ap.add_argument("--out", default=str(ROOT / "docs" / "fast_motion.png"))
    args = ap.parse_args(argv)
    a = np.asarray(Image.open(PAIRS / args.pair / "frame10.png").convert("RGB"))
    b = np.asarray(Image.open(PAIRS / args.pair / "frame11.png").convert("RGB"))
    tiles = [("frame 0", a), ("frame 1", b)]
    for mid in [m for m in args.models.split(",") if m and registry.spec(m).available()]:
        tiles.append((mid, registry.get(mid).interpolate(a, b, [0.5])[0]))
    tile_row(tiles, CROPS[args.pair], scale=2).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
