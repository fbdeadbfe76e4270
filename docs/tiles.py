"""The figure layout shared by the scripts in docs/: named images cropped to one box, side by side, each under its
name."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def tile_row(tiles: list[tuple[str, np.ndarray]], box: tuple[int, int, int, int], scale: int = 1) -> Image.Image:
    """tiles = [(name, uint8 (H, W, 3) image)], box = (x, y, width, height) in each image -> one white canvas with
    the crops (enlarged ``scale`` times without smoothing) 8 px apart and the names above them."""
    x, y, w, h = box
    cw = w * scale + 8
    canvas = Image.new("RGB", (len(tiles) * cw, h * scale + 28), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, img) in enumerate(tiles):
        crop = Image.fromarray(np.asarray(img)[y:y + h, x:x + w]).resize((w * scale, h * scale), Image.NEAREST)
        canvas.paste(crop, (i * cw, 24))
        draw.text((i * cw + 4, 4), name, fill="black")
    return canvas
