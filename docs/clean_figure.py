"""Make docs/clean_crf.png: a crop of a DAVIS-2016 evaluation frame, its LR sequence shrunk x4 and compressed
(``models.degrade``, CRF 23 by default), upscaled without and with the pre-cleaner, and the truth.

    python docs/clean_figure.py [--sequence car-shadow] [--preset crf23] [--frames 7]

Tiles: the compressed LR frame (Lanczos to the HR size, for display), ``basicvsr`` and ``cleaner`` + ``basicvsr``
over the same LR sequence (BasicVSR sees all ``--frames`` frames; the middle one is shown), ``lanczos`` and
``cleaner`` + ``lanczos``, the truth.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "video_eval" / "davis2016"
#: A textured region of each sequence (x, y, width, height at HR).
CROPS = {"car-shadow": (300, 120, 240, 180), "blackswan": (330, 100, 240, 180), "kite-surf": (300, 200, 240, 180)}


def main(argv=None) -> None:
    from models import degrade, registry
    from models.baselines.resize import Lanczos
    from models.clean.cleaner import CleanedUpscaler
    from tiles import tile_row  # docs/tiles.py

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequence", default="car-shadow", choices=sorted(CROPS))
    ap.add_argument("--preset", default="crf23")
    ap.add_argument("--frames", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "docs" / "clean_crf.png"))
    args = ap.parse_args(argv)
    paths = sorted((DATA / args.sequence).glob("*.jpg"))[: args.frames]
    hr = [np.asarray(Image.open(p).convert("RGB"))[:480 // 4 * 4, :852] for p in paths]
    size = hr[0].shape[:2]
    lr = degrade.degrade_frames(hr, (size[0] // 4, size[1] // 4), args.preset, seed=0)
    mid = len(hr) // 2
    cleaner, basicvsr, lanczos = registry.get("cleaner"), registry.get("basicvsr"), Lanczos()

    def stream(up):
        return list(up.upscale_stream([(f, False) for f in lr], size))[mid]

    tiles = [(f"input ({args.preset}, Lanczos)", lanczos.upscale(lr[mid], size)),
             ("basicvsr", stream(basicvsr)), ("cleaner + basicvsr", stream(CleanedUpscaler(cleaner, basicvsr))),
             ("cleaner + lanczos", CleanedUpscaler(cleaner, lanczos).upscale(lr[mid], size)), ("truth", hr[mid])]
    tile_row(tiles, CROPS[args.sequence], scale=1).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
