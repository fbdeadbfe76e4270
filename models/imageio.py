"""The one image boundary of FrameForge: any uploaded image -> uint8 RGB (H, W, 3), or an :class:`ImageError` that says
what is wrong in words a user can act on.

* Files are opened lazily with Pillow; the size is read from the header and checked **before** the pixels are
  decoded (``FRAMEFORGE_MAX_IMAGE_PIXELS``), so a small file that would decode to gigabytes (a "PNG bomb") is
  refused cheaply. Truncated and non-image files get their own message.
* Only the documented formats are opened (:data:`FORMATS`: PNG, JPEG, WebP, BMP, TIFF; Pillow's other plugins, EPS
  and its Ghostscript call included, are never tried, whatever the file is named), and Pillow's own bomb guard
  stays on, set to the same limit (:func:`pillow_guard`), for any other code in the process that decodes images.
* Float images with NaN or infinite pixels are refused (they would silently turn black).
* EXIF orientation is applied (a phone photo comes out upright).
* 16-bit and 32-bit grey or colour are scaled to 8 bits (not clipped); palette, CMYK, 1-bit and LA images are
  converted; alpha is composited over white (transparent areas do not turn black).
* Arrays (what ``gr.Image(type="numpy")`` or a library caller gives) go through the same rules.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class ImageError(ValueError):
    """An image input FrameForge cannot use; the message names the input and the reason."""


#: The Pillow formats an image input may be (a camera's multi-picture JPEG opens through the JPEG plugin).
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")


#: File endings a data folder's image listing takes (benchmark and training folders: :func:`list_images`).
DATA_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def list_images(folder) -> list:
    """The image files of a data folder (``DATA_EXTS``), sorted by name."""
    from pathlib import Path

    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in DATA_EXTS)


def load_rgb(path) -> np.ndarray:
    """A data folder's image as uint8 RGB (H, W, 3) (benchmark and training folders; user inputs go through
    :func:`read_image`, which checks them)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def pillow_guard(max_pixels: int | None = None) -> int:
    """Keep Pillow's decompression-bomb guard on, at FrameForge's image limit (``FRAMEFORGE_MAX_IMAGE_PIXELS``):
    Pillow warns above it and refuses to decode above twice it, wherever an image is decoded in this process.
    Returns the limit set."""
    from PIL import Image

    limit = _limit(max_pixels)
    Image.MAX_IMAGE_PIXELS = limit
    return limit


def _limit(max_pixels: int | None) -> int:
    if max_pixels is not None:
        return max_pixels
    from . import settings

    return settings.get().max_image_pixels


def check_frame(frame, name: str = "frame") -> np.ndarray:
    """The one frame validator of the models: ``frame`` must already be uint8 RGB (H, W, 3) with H, W >= 1."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{getattr(frame, 'shape', type(frame).__name__)} {getattr(frame, 'dtype', '')}".strip()
        raise ValueError(f"{name} must be a uint8 RGB array (H, W, 3), got {got}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"{name} is empty ({frame.shape[1]}x{frame.shape[0]})")
    return frame


def check_pair(frame0, frame1) -> None:
    """Two frames of one interpolation call: each passes :func:`check_frame`, and both have the same size."""
    check_frame(frame0, "frame0")
    check_frame(frame1, "frame1")
    if frame0.shape != frame1.shape:
        raise ValueError(f"frames differ in size: {frame0.shape} vs {frame1.shape}")


def check_ts(ts) -> list[float]:
    """Times of one interpolation call as floats, each in [0, 1]; ValueError naming the ones outside."""
    ts = [float(t) for t in ts]
    bad = [t for t in ts if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"times must lie in [0, 1], got {bad}")
    return ts


def check_size(size) -> tuple[int, int]:
    """``size`` as a positive (height, width) of ints, or ValueError with the reason."""
    try:
        h, w = (int(size[0]), int(size[1]))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def lanczos(image: np.ndarray, size) -> np.ndarray:
    """The one Lanczos resize of FrameForge: uint8 RGB (H, W, 3) -> uint8 (h, w, 3), ``size`` = (h, w); a copy
    when the size is already right.

    The kernel is Pillow's ``Image.Resampling.LANCZOS``: a = 3 (sinc(x) sinc(x / 3) on |x| < 3), separable,
    evaluated at the exact output-pixel centres, and widened by the scale when shrinking, so a downscale is
    antialiased by the same kernel (no second filter). Chosen over OpenCV's ``INTER_LANCZOS4`` (a = 4 on a fixed
    8x8 window, aliasing when shrinking, so it needed INTER_AREA beside it): every measured number in the README
    that involves Lanczos (the ``lanczos+*`` pipelines, the x4-then-resize of BasicVSR and Real-ESRGAN, the face
    baselines) was made with Pillow's, and it is the kernel the test checks against a float64 reference."""
    from PIL import Image

    check_frame(image, "image")
    h, w = check_size(size)
    if image.shape[:2] == (h, w):
        return image.copy()
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS))


#: ``value_range`` of :func:`to_uint8` for float pixels already on the 0..255 scale.
PIXELS = (0.0, 255.0)


def to_tensor(frames, device=None, dtype=None, value_range: tuple[float, float] = (0.0, 1.0)):
    """The one uint8 -> tensor boundary of the models: one uint8 RGB frame (H, W, 3), a stack (N, H, W, 3) or a
    sequence of equal-size frames -> float (N, 3, H, W) scaled to ``value_range`` (0 -> lo, 255 -> hi), on
    ``device`` (default CPU) in ``dtype`` (default float32). The uint8 pixels travel to the device before the
    conversion (a quarter of the bytes of float32)."""
    import torch

    if isinstance(frames, np.ndarray):
        arr = np.asarray(frames)  # a subclass (a decoded frame that carries its QP) as a plain array
    else:
        arr = np.stack([np.asarray(f) for f in frames])
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or arr.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 RGB (H, W, 3) or (N, H, W, 3), got {arr.shape} {arr.dtype}")
    if not (arr.flags.writeable and arr.flags.c_contiguous):
        arr = np.array(arr)  # torch.from_numpy wants writable memory; a copy of a read-only view
    lo, hi = value_range
    x = torch.from_numpy(arr).to(device or "cpu")
    # channels-last views of the HWC pixels (no copy); one frame keeps the strides it always had, (3, 1, 3W, 3): the
    # CPU kernels pick their path from the strides, so this keeps the measured outputs bit for bit
    x = x.permute(2, 0, 1)[None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    x = x.to(dtype or torch.float32)
    x = x.div_(255.0 / (hi - lo))
    return x.add_(lo) if lo else x


def to_uint8(x, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """The one tensor -> uint8 boundary: values in ``value_range`` clamped to it, scaled to [0, 255] and rounded
    (half to even). A torch tensor is channels-first, (3, H, W) -> (H, W, 3) or (N, 3, H, W) -> (N, H, W, 3), and
    comes back to the CPU; a numpy array is already channels-last and keeps its shape."""
    lo, hi = value_range
    if isinstance(x, np.ndarray):
        y = np.clip(x, lo, hi)
        y = y * (255.0 / (hi - lo)) if lo == 0.0 else (y - lo) * (255.0 / (hi - lo))
        return np.rint(y).astype(np.uint8)
    y = x.float().clamp(lo, hi)
    y = y.mul(255.0 / (hi - lo)) if lo == 0.0 else y.sub(lo).mul(255.0 / (hi - lo))
    y = y.round().byte()
    return y.permute(*range(y.ndim - 3), -2, -1, -3).cpu().numpy()


def read_image(source, name: str = "image", max_pixels: int | None = None, min_side: int = 1) -> np.ndarray:
    """uint8 RGB (H, W, 3) from a file path, a PIL image or an array; raises :class:`ImageError` with the reason."""
    from PIL import Image

    limit = _limit(max_pixels)
    if source is None or (isinstance(source, str) and not source.strip()):
        raise ImageError(f"No {name} was given: upload an image file (PNG, JPEG, WebP, BMP, TIFF).")
    if isinstance(source, (str, Path)):
        return _read_file(Path(source), name, limit, min_side)
    if isinstance(source, Image.Image):
        _check_size(source.size, name, limit, min_side)
        return _pil_to_rgb(source, name)
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            _check_size((source.shape[1], source.shape[0]), name, limit, min_side)
        return as_rgb(source, name)
    raise ImageError(f"The {name} must be an image file, got {type(source).__name__}.")


def _check_size(size: tuple[int, int], name: str, limit: int, min_side: int) -> None:
    w, h = size
    if w * h > limit:
        raise ImageError(f"The {name} is {w}x{h} = {w * h:,} pixels; the limit is {limit:,} pixels "
                         "(FRAMEFORGE_MAX_IMAGE_PIXELS). Downscale it and try again.")
    if min(w, h) < min_side:
        raise ImageError(f"The {name} is {w}x{h} pixels; it must be at least {min_side} pixels on each side.")


def _read_file(path: Path, name: str, limit: int, min_side: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ImageError(f"The {name} file was not received (no file at the given path).")
    if path.stat().st_size == 0:
        raise ImageError(f"The {name} file is empty (0 bytes).")
    pillow_guard(limit)  # Pillow's guard stays on, at our limit; ours below is checked first, from the header
    try:
        with Image.open(path, formats=FORMATS) as im:
            _check_size(im.size, name, limit, min_side)
            im.load()
            return _pil_to_rgb(im, name)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # over twice our limit: Pillow's guard fired at open
        size = _header_size(path)
        if size is not None:
            _check_size(size, name, limit, min_side)
        raise ImageError(f"The {name} would decode to too many pixels ({exc}).") from None
    except UnidentifiedImageError:
        raise ImageError(f"The {name} file is not an image Pillow can read (use PNG, JPEG, WebP, BMP or TIFF).") \
            from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"The {name} file could not be decoded ({exc}); it may be truncated or corrupt.") from None


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header alone, with one of :data:`FORMATS`' plugins (no bomb check, no decode): for
    the message of an image that Pillow's own guard refused at open."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in FORMATS:
            factory, accept = Image.OPEN.get(fmt, (None, None))
            if factory is None or (accept and not accept(prefix)):
                continue
            try:
                fp.seek(0)
                return tuple(factory(fp, str(path)).size)
            except Exception:  # noqa: BLE001 - not this format
                continue
    return None


def _pil_to_rgb(im, name: str) -> np.ndarray:
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im) or im
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise ImageError(f"The {name} has {bad:,} NaN or infinite pixel value(s) (a float image); replace them "
                             "with numbers and try again.")
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) <= 65535) else None
        if top is None:  # 32-bit integer or float: stretch the range that is there
            lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        else:
            arr = arr * (255.0 / top)
        return as_rgb(np.clip(arr, 0, 255).round().astype(np.uint8), name)
    if mode == "P":
        im = im.convert("RGBA")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    arr = np.asarray(im)
    if mode == "LA" or arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        arr = np.dstack([arr[..., 0]] * 3 + [arr[..., 1]])
    return as_rgb(arr, name)


def as_rgb(image, name: str = "image") -> np.ndarray:
    """uint8 RGB from uint8/uint16/float arrays that are grayscale (H, W), (H, W, 1), RGB or RGBA.

    RGBA is composited over white, so transparent areas do not turn black. Floats in [0, 1] are scaled to 255;
    uint16 is scaled by 255 / 65535 (not clipped). Raises :class:`ImageError` with the reason for anything else.
    """
    if image is None:
        raise ImageError(f"no {name} was given")
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name} must be an image array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.size == 0:
        raise ImageError(f"{name} has shape {image.shape}; expected an RGB, RGBA or grayscale image")
    if image.dtype != np.uint8:
        if image.dtype.kind not in "fiub":
            raise ImageError(f"{name} has unsupported pixel type {image.dtype}")
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ImageError(f"{name} has NaN or infinite pixel values")
        if image.dtype == np.uint16:
            scale = 255.0 / 65535.0
        else:
            scale = 255.0 if image.dtype.kind == "f" and float(image.max(initial=0)) <= 1.0 else 1.0
        image = np.clip(image.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(image)
