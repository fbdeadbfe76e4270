"""The input boundaries the README promises: a PNG sequence opens its frames with Pillow's PNG plugin only, as
models.imageio does for uploads (no other plugin, EPS and its Ghostscript call among them, is tried on a file that
only claims to be a PNG)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from models import video_io


def _zip_of(tmp_path, frames: dict[str, bytes]):
    path = tmp_path / "frames.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in frames.items():
            zf.writestr(name, data)
    return path


def _encoded(fmt: str, value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 10, 3), value, np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def test_a_png_sequence_reads_pngs_and_refuses_other_formats_named_png(tmp_path):
    good = _zip_of(tmp_path, {"0001.png": _encoded("PNG", 10), "0002.png": _encoded("PNG", 20)})
    frames = list(video_io.iter_sequence(good, fps=5))
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20] and frames[1].time == pytest.approx(0.2)
    (tmp_path / "bad").mkdir()
    disguised = _zip_of(tmp_path / "bad", {"0001.png": _encoded("PNG", 10), "0002.png": _encoded("BMP", 20)})
    assert Image.open(io.BytesIO(_encoded("BMP", 20))).format == "BMP"  # Pillow alone would open it
    with pytest.raises(video_io.VideoError, match="0002.png is not a readable PNG"):
        list(video_io.iter_sequence(disguised, fps=5))
