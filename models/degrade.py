"""The one degradation module: what happens to a picture between the camera and FrameForge, seeded and deterministic.

Used by training (the pre-cleaner, the face student), by the benchmarks (``--degrade PRESET``) and by tests. Every
operation takes and returns uint8 RGB ``(H, W, 3)`` arrays; randomness comes only from a ``numpy`` generator built
from the caller's seed, so the same preset and seed give the same frames (and, for the video presets, the same
encoded bytes: libx264 runs single-threaded).

Image operations (Real-ESRGAN's vocabulary, Wang et al. 2021):

* :func:`blur` with :func:`gaussian_kernel`: isotropic or anisotropic Gaussian,
  ``k(x) ∝ exp(-½ xᵀ Σ⁻¹ x)`` with ``Σ = R(θ) diag(σ_x², σ_y²) R(θ)ᵀ``;
* :func:`resize` with a named kernel (``area``, ``bilinear``, ``bicubic``, ``lanczos``; PIL's antialiased filters);
* :func:`gaussian_noise` (``y = x + σ n``, colour or grey) and :func:`poisson_noise`
  (``y = Poisson(255 x / s · 10) · s / 10``-style shot noise, scale ``s``);
* :func:`jpeg` (Pillow's encoder, 4:2:0, the given quality).

Video operations: :func:`encode` a frame sequence like an ordinary upload (libx264 at a CRF, yuv420p, a GOP of two
seconds with B-frames; libx265 and VP9 where the PyAV build has them) and :func:`decode` it back, optionally with the
decoder's per-macroblock QP map and frame type (the cleaner's side information).

Presets (:data:`PRESETS`), applied by :func:`degrade_frames` to HR frames with the LR size to reach:

=========  ============================================================================================
``bi``     PIL bicubic resize only: the academic protocol and every benchmark's default (unchanged)
``crfNN``  bicubic resize, then libx264 at CRF NN (``crf18``, ``crf23``, ``crf28``, ``crf30``, ``crf33``, any 0-51)
``jpeg``   per image: Gaussian blur σ ∈ [0.5, 2.5], bicubic down, Gaussian noise σ ∈ [0, 8], JPEG q ∈ [30, 80]
           (old photos; the face benchmark's blind protocol)
``real``   the random second-order chain of Real-ESRGAN / RealBasicVSR, one draw of parameters per sequence:
           (blur → random resize → noise) twice, then resize to the LR size and compress (libx264 CRF ∈ [18, 35]
           for sequences, JPEG q ∈ [30, 95] for a single image); for training
=========  ============================================================================================
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .imageio import PIXELS, to_uint8

#: the named presets; ``crfNN`` also accepts any CRF in 0..51
PRESETS = ("bi", "crf18", "crf23", "crf28", "crf30", "crf33", "jpeg", "real")

RESAMPLE = {"area": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}

#: the encoder settings of :func:`encode` ("like real uploads": a two-second GOP at 24 fps, 3 B-frames)
ENCODE_DEFAULTS = {"gop": 48, "bframes": 3, "preset": "medium"}
CODECS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9"}


def check_preset(preset: str) -> str:
    """The preset's canonical name, or ValueError naming the choices."""
    p = str(preset).strip().lower()
    m = re.fullmatch(r"crf(\d{1,2})", p)
    if p in PRESETS or (m and 0 <= int(m.group(1)) <= 51):
        return p
    raise ValueError(f"Unknown degradation preset {preset!r}: use one of {', '.join(PRESETS)} (or crfNN, NN in 0..51).")


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check(img: np.ndarray, name: str = "image") -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must be a uint8 RGB array (H, W, 3), got {getattr(img, 'shape', type(img))}")
    return img


# ---------------------------------------------------------------------------------------------------- image ops
def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """(size, size) float64 kernel summing to 1: ``exp(-½ xᵀ Σ⁻¹ x)``, ``Σ = R(θ) diag(σx², σy²) R(θ)ᵀ``."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigmas must be > 0, got {sigma_x}, {sigma_y}")
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T
    inv = np.linalg.inv(cov)
    r = np.arange(size) - size // 2
    xx, yy = np.meshgrid(r, r)
    pts = np.stack([xx, yy], -1)  # (size, size, 2) as (x, y)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    return k / k.sum()


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``img`` convolved with ``kernel`` (reflected borders), rounded back to uint8."""
    import cv2

    _check(img)
    out = cv2.filter2D(img.astype(np.float32), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    return to_uint8(out, PIXELS)


def resize(img: np.ndarray, size: tuple[int, int], mode: str = "bicubic") -> np.ndarray:
    """PIL resize to ``size`` = (h, w) with one of :data:`RESAMPLE`'s kernels."""
    _check(img)
    if mode not in RESAMPLE:
        raise ValueError(f"resize mode must be one of {sorted(RESAMPLE)}, got {mode!r}")
    h, w = max(1, int(size[0])), max(1, int(size[1]))
    if (h, w) == img.shape[:2]:
        return img.copy()
    return np.asarray(Image.fromarray(img).resize((w, h), RESAMPLE[mode]))


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    """``img + σ n``, n ~ N(0, 1) per pixel (one n for all channels when ``gray``), σ on the 0-255 scale."""
    _check(img)
    shape = img.shape[:2] + ((1,) if gray else (3,))
    return to_uint8(img.astype(np.float32) + np.float32(sigma) * rng.standard_normal(shape, dtype=np.float32), PIXELS)


def poisson_noise(img: np.ndarray, scale: float, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    """Shot noise of strength ``scale``: the image's (or its luma's) photon count ``x·255/scale`` redrawn from a
    Poisson law; ``scale`` 0 returns the image."""
    _check(img)
    if scale <= 0:
        return img.copy()
    x = img.astype(np.float64) / 255.0
    base = x.mean(axis=2, keepdims=True) if gray else x
    lam = base * 255.0 / scale
    noisy = rng.poisson(lam) * scale / 255.0
    return to_uint8((x + (noisy - base)) * 255.0, PIXELS)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode with Pillow's JPEG at ``quality`` (1-95, 4:2:0) and decode back."""
    _check(img)
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------------------------------------------- video ops
@dataclass
class Decoded:
    """Frames decoded from a stream, with the decoder's side information when asked for.

    ``qp``: per frame, the (ceil(H/16), ceil(W/16)) macroblock QP map (float32), or None where the codec exports
    none; ``types``: per frame "I", "P" or "B".
    """
    frames: list[np.ndarray]
    qp: list[np.ndarray | None] = field(default_factory=list)
    types: list[str] = field(default_factory=list)

    def coded(self) -> list[np.ndarray]:
        """The frames as :class:`CodedFrame` where side information is known, else as they are."""
        if not self.qp:
            return list(self.frames)
        return [f if q is None else CodedFrame(f, q, t) for f, q, t in zip(self.frames, self.qp, self.types)]


class CodedFrame(np.ndarray):
    """A decoded uint8 RGB frame that carries its decoder's side information, ``qp`` (the macroblock QP map) and
    ``frame_type`` ("I", "P", "B"), to the models that use it (the pre-cleaner); to any other code it is a plain
    array. Views of the same shape keep the side information, any other shape (a crop, a resize) drops it."""

    def __new__(cls, image: np.ndarray, qp: np.ndarray | None = None, frame_type: str | None = None):
        obj = np.asarray(image).view(cls)
        obj.qp, obj.frame_type = qp, frame_type
        return obj

    def __array_finalize__(self, obj) -> None:
        same = obj is not None and getattr(obj, "shape", None) == self.shape
        self.qp = getattr(obj, "qp", None) if same else None
        self.frame_type = getattr(obj, "frame_type", None) if same else None


#: the width each codec's frames are padded to a multiple of (:func:`_pad`)
PAD_WIDTH = {"h264": 128, "h265": 64, "vp9": 64}


def _pad(img: np.ndarray, multiple: int) -> np.ndarray:
    """Replicate the last row/column to an even height and a width that is a multiple of ``multiple``: yuv420p needs
    even sides, and single-threaded libx264 (its x86 SIMD paths) gives different bytes from call to call at some
    widths. Measured: at 214 px padded to 224, 2 to 6 distinct streams in 6 calls; at padded widths 64, 192 and 448
    (odd multiples of 64) up to 18 distinct streams in 30 calls; at multiples of 128 (128..768, heights 16..240,
    CRF 23 and 32, synthetic and DAVIS frames, 8 calls each) always one. libx265 and VP9 repeat at multiples of 64."""
    h, w = img.shape[:2]
    ph, pw = h % 2, -w % multiple
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return np.ascontiguousarray(img)


# BT.601 limited range, the convention of ordinary H.264 uploads. The conversion is done here, in float64 numpy,
# rather than by swscale: swscale's SIMD paths depend on the arrays' memory alignment, so the same RGB frames gave
# different bytes from one call to the next.
_RGB2YUV = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_RANGE = np.array([219.0, 224.0, 224.0]) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_yuv420(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB with even sides -> PyAV's planar yuv420p array (H * 3 / 2, W): Y, then U, then V
    (chroma = mean of each 2x2 block)."""
    h, w = img.shape[:2]
    yuv = img.astype(np.float64) @ _RGB2YUV.T * _RANGE + _OFFSET  # (H, W, 3)
    y = yuv[..., 0]
    uv = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))  # (H/2, W/2, 2)
    planes = [y.ravel(), uv[..., 0].ravel(), uv[..., 1].ravel()]
    return to_uint8(np.concatenate(planes), PIXELS).reshape(h * 3 // 2, w)


def _upsample2(c: np.ndarray) -> np.ndarray:
    """Centre-sited bilinear x2 of a chroma plane (weights 3/4, 1/4; edges replicated)."""
    p = np.pad(c, 1, mode="edge")
    rows = np.empty((2 * c.shape[0], c.shape[1] + 2))
    rows[0::2] = 0.75 * p[1:-1] + 0.25 * p[:-2]
    rows[1::2] = 0.75 * p[1:-1] + 0.25 * p[2:]
    out = np.empty((rows.shape[0], 2 * c.shape[1]))
    out[:, 0::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, :-2]
    out[:, 1::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    return out


def yuv420_to_rgb(planar: np.ndarray, h: int, w: int) -> np.ndarray:
    """Inverse of :func:`rgb_to_yuv420` (chroma upsampled bilinearly) -> (h, w, 3) uint8 RGB."""
    n = h * w
    flat = planar.reshape(-1).astype(np.float64)
    y = flat[:n].reshape(h, w)
    u = _upsample2(flat[n:n + n // 4].reshape(h // 2, w // 2))
    v = _upsample2(flat[n + n // 4:n + n // 2].reshape(h // 2, w // 2))
    yuv = (np.stack([y, u, v], -1) - _OFFSET) / _RANGE
    return to_uint8(yuv @ np.linalg.inv(_RGB2YUV).T, PIXELS)


def encode(frames: list[np.ndarray], crf: int, codec: str = "h264", fps: float = 24.0, gop: int | None = None,
           bframes: int | None = None, preset: str | None = None) -> bytes:
    """The frames as one compressed stream in a container (mp4; webm for VP9), deterministic for the same input.

    libx264 / libx265 run single-threaded at ``crf`` (0-51) with ``gop`` and ``bframes`` (defaults
    :data:`ENCODE_DEFAULTS`); VP9 uses constant quality ``crf`` (0-63). Sides are padded by replication (:func:`_pad`);
    :func:`decode` crops them off when given the size.
    """
    import av

    if not frames:
        raise ValueError("no frames to encode")
    for i, f in enumerate(frames):
        _check(f, f"frame {i}")
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
    limit = 63 if codec == "vp9" else 51
    if not 0 <= int(crf) <= limit:
        raise ValueError(f"crf must be in 0..{limit} for {codec}, got {crf}")
    name = CODECS[codec]
    if name not in av.codecs_available:
        raise ValueError(f"this PyAV build has no {name} encoder")
    gop = ENCODE_DEFAULTS["gop"] if gop is None else int(gop)
    bframes = ENCODE_DEFAULTS["bframes"] if bframes is None else int(bframes)
    preset = ENCODE_DEFAULTS["preset"] if preset is None else preset
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    # bitexact: no encoder version string or random track UIDs in the container, so the bytes repeat
    with av.open(buf, "w", format="webm" if codec == "vp9" else "mp4", options={"fflags": "+bitexact"}) as out:
        from fractions import Fraction

        stream = out.add_stream(name, rate=Fraction(fps).limit_denominator(1001))
        stream.height, stream.width = h + h % 2, w + -w % PAD_WIDTH[codec]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        if codec == "h264":
            stream.options = {"crf": str(int(crf)), "preset": preset, "bf": str(bframes), "g": str(gop),
                              "threads": "1"}
        elif codec == "h265":
            stream.options = {"crf": str(int(crf)), "preset": preset, "g": str(gop),
                              "x265-params": f"bframes={bframes}:pools=none:frame-threads=1:log-level=error"}
        else:
            stream.options = {"crf": str(int(crf)), "b": "0", "g": str(gop), "threads": "1", "row-mt": "0",
                              "deadline": "good", "cpu-used": "4"}
        for i, f in enumerate(frames):
            if f.shape[:2] != (h, w):
                raise ValueError(f"frame {i} is {f.shape[1]}x{f.shape[0]}, the first was {w}x{h}")
            vf = av.VideoFrame.from_ndarray(rgb_to_yuv420(_pad(f, PAD_WIDTH[codec])), format="yuv420p")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
    return buf.getvalue()


#: PyAV's picture types (``VideoFrame.pict_type``) by name
PICTURE_TYPES = {1: "I", 2: "P", 3: "B"}


def decode(data: bytes, size: tuple[int, int] | None = None, side_data: bool = False) -> Decoded:
    """Frames of a stream made by :func:`encode`, cropped to ``size`` = (h, w) when given; with ``side_data`` also
    the QP maps and frame types (with ``size``, each QP map cropped to the frame's (ceil(h/16), ceil(w/16))
    macroblocks; without, the padded stream's grid)."""
    import av

    frames, qps, types = [], [], []
    with av.open(io.BytesIO(data)) as inp:
        stream = inp.streams.video[0]
        if side_data:
            stream.codec_context.options = {"export_side_data": "venc_params"}
        stream.codec_context.thread_count = 1
        for fr in inp.decode(stream):
            if fr.format.name != "yuv420p":
                raise ValueError(f"expected a yuv420p stream, got {fr.format.name}")
            img = yuv420_to_rgb(fr.to_ndarray(), fr.height, fr.width)
            if size is not None:
                img = img[: size[0], : size[1]]
            frames.append(np.ascontiguousarray(img))
            if side_data:
                qp = None
                for sd in fr.side_data:
                    if hasattr(sd, "qp_map"):
                        qp = np.asarray(sd.qp_map(), dtype=np.float32)
                if qp is not None and size is not None:
                    qp = np.ascontiguousarray(qp[: -(-size[0] // 16), : -(-size[1] // 16)])
                qps.append(qp)
                types.append(PICTURE_TYPES.get(int(fr.pict_type), "P"))
    return Decoded(frames, qps, types)


def compress(frames: list[np.ndarray], crf: int, codec: str = "h264", fps: float = 24.0, side_data: bool = False,
             **options) -> Decoded:
    """:func:`encode` then :func:`decode`: the frames as a viewer of the compressed upload sees them."""
    out = decode(encode(frames, crf, codec=codec, fps=fps, **options), frames[0].shape[:2], side_data=side_data)
    if len(out.frames) != len(frames):
        raise RuntimeError(f"the codec returned {len(out.frames)} frames for {len(frames)}")
    return out


# ---------------------------------------------------------------------------------------------------- presets
def _random_kernel(rng: np.random.Generator, sigma: tuple[float, float]) -> np.ndarray:
    size = int(rng.choice([7, 9, 11, 13, 15, 17, 19, 21]))
    if rng.random() < 0.5:
        s = rng.uniform(*sigma)
        return gaussian_kernel(size, s)
    return gaussian_kernel(size, rng.uniform(*sigma), rng.uniform(*sigma), rng.uniform(0, np.pi))


@dataclass
class _Stage:
    """One draw of an order of the ``real`` chain (the same for every frame of a sequence)."""
    kernel: np.ndarray | None
    scale: float
    mode: str
    gaussian: bool
    noise: float
    gray: bool


def _draw_stage(rng: np.random.Generator, second: bool) -> _Stage:
    kernel = None if (second and rng.random() > 0.8) else _random_kernel(rng, (0.2, 1.5 if second else 3.0))
    kind = rng.choice(["up", "down", "keep"], p=[0.2, 0.7, 0.1] if not second else [0.3, 0.4, 0.3])
    lo = 0.3 if second else 0.15
    scale = {"up": rng.uniform(1.0, 1.2 if second else 1.5), "down": rng.uniform(lo, 1.0), "keep": 1.0}[str(kind)]
    mode = str(rng.choice(["area", "bilinear", "bicubic"]))
    gaussian = bool(rng.random() < 0.5)
    noise = rng.uniform(1, 25 if second else 30) if gaussian else rng.uniform(0.05, 2.5 if second else 3.0)
    return _Stage(kernel, float(scale), mode, gaussian, float(noise), bool(rng.random() < 0.4))


def _apply_stage(img: np.ndarray, st: _Stage, size0: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if st.kernel is not None:
        img = blur(img, st.kernel)
    h, w = max(2, round(size0[0] * st.scale)), max(2, round(size0[1] * st.scale))
    img = resize(img, (h, w), st.mode)
    if st.gaussian:
        return gaussian_noise(img, st.noise, rng, st.gray)
    return poisson_noise(img, st.noise, rng, st.gray)


def _real(hr: list[np.ndarray], size: tuple[int, int], rng: np.random.Generator, fps: float,
          side_data: bool = False) -> Decoded:
    """Real-ESRGAN's second-order chain with RealBasicVSR's video compression; parameters drawn once per sequence,
    noise per frame. The first order's resize is relative to the HR size, the second's to the LR size × 2
    (from x4 to x2 on the way down), then the final resize to ``size``."""
    first, second = _draw_stage(rng, False), _draw_stage(rng, True)
    mid = (max(2, size[0] * 2), max(2, size[1] * 2))
    h0 = hr[0].shape[:2]
    out = []
    for f in hr:
        x = _apply_stage(f, first, h0, rng)
        x = resize(x, mid, "bicubic") if x.shape[:2] != mid else x
        x = _apply_stage(x, second, mid, rng)
        out.append(resize(x, size, str(rng.choice(["area", "bilinear", "bicubic"]))))
    if len(out) == 1:
        return Decoded([jpeg(out[0], int(rng.integers(30, 96)))], [None], ["I"])
    return compress(out, int(rng.integers(18, 36)), fps=fps, side_data=side_data)


def _old_photo(hr: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    x = blur(hr, gaussian_kernel(21, rng.uniform(0.5, 2.5)))
    x = resize(x, size, "bicubic")
    x = gaussian_noise(x, rng.uniform(0, 8), rng, gray=bool(rng.random() < 0.3))
    return jpeg(x, int(rng.integers(30, 81)))


def degrade_sequence(hr: list[np.ndarray], size: tuple[int, int], preset: str = "bi", seed: int = 0,
                     fps: float = 24.0, side_data: bool = False) -> Decoded:
    """:func:`degrade_frames` with the decoder's side information when ``side_data`` (QP maps and frame types of
    the video presets; None / "I" where a preset encodes no video)."""
    preset = check_preset(preset)
    hr = [_check(f, f"frame {i}") for i, f in enumerate(hr)]
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if not hr:
        return Decoded([], [], [])
    rng = _rng(seed)
    if preset == "jpeg":
        frames = [_old_photo(f, size, rng) for f in hr]
        return Decoded(frames, [None] * len(frames), ["I"] * len(frames))
    if preset == "real":
        return _real(hr, size, rng, fps, side_data)
    lr = [resize(f, size, "bicubic") for f in hr]
    if preset == "bi":
        return Decoded(lr, [None] * len(lr), ["I"] * len(lr))
    return compress(lr, int(preset[3:]), fps=fps, side_data=side_data)


def degrade_frames(hr: list[np.ndarray], size: tuple[int, int], preset: str = "bi", seed: int = 0,
                   fps: float = 24.0) -> list[np.ndarray]:
    """The LR frames (``size`` = (h, w)) that ``preset`` makes of the HR frames ``hr`` (one sequence), deterministic
    for ``seed``. ``bi`` is exactly PIL's bicubic resize of each frame (the protocol of every benchmark)."""
    return degrade_sequence(hr, size, preset, seed, fps).frames


def apply_image(hr: np.ndarray, size: tuple[int, int], preset: str = "bi", seed: int = 0) -> np.ndarray:
    """One image: :func:`degrade_frames` of a one-frame sequence (``crfNN`` makes it an intra-coded frame)."""
    return degrade_frames([hr], size, preset, seed)[0]

