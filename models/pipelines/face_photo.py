"""Whole-photo face restoration: detect -> align -> restore -> paste back (the facexlib pipeline, anchors.md B2).

1. MTCNN finds every face and its 5 landmarks (:mod:`models.face.mtcnn`).
2. Each face is warped by a similarity transform onto the FFHQ template (:mod:`models.face.align`) at its *native*
   resolution S = face_size / s (s = the transform's scale at face_size, S clipped to [16, face_size]), so a
   restorer sees the low-resolution face the way the benchmark feeds it (x4: 128 -> 512).
3. ``restorer.restore(crop, face_size)`` (any :class:`~models.interfaces.FaceRestorer`).
4. The restored faces are blended into the photo upscaled by ``upscale`` (:mod:`models.face.paste`).

With ``aligned`` the input is itself an aligned face crop (the caller says so; nothing is detected): it is restored
to ``face_size`` and then resized to ``upscale`` x its own size, so the upscale factor means the same in both modes.
Without it, a photo in which no face is found is refused (:class:`NoFaceFound`), never "restored" as a face.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from models.face.align import align_face, similarity_to_template
from models.face.mtcnn import detect_faces, to_rgb
from models.face.pose import Selection, estimate_yaw
from models.face.paste import BackgroundUpscaler, lanczos_upscale, paste_faces

MIN_UPSCALE, MAX_UPSCALE = 1.0, 4.0
MAX_INPUT_PIXELS = 12_000_000
MAX_OUTPUT_PIXELS = 64_000_000
MIN_SIDE = 16

Progress = Callable[..., object]


class NoFaceFound(ValueError):
    """The photo has no detectable face."""


@dataclass
class FaceResult:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the input photo
    score: float
    landmarks: np.ndarray  # (5, 2) in the input photo
    crop_input: np.ndarray  # the aligned crop at the face's own resolution: the pixels the restorer got
    crop_after: np.ndarray  # restored crop, face_size x face_size
    number: int = 1  # the face's number in the photo (1 = largest), as in :class:`DetectedFace`
    yaw: float = float("nan")  # degrees, models.face.pose.estimate_yaw


@dataclass
class DetectedFace:
    """A face found in the photo, numbered largest first, with what decides whether it is restored."""

    number: int
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    yaw: float  # degrees (models.face.pose.estimate_yaw); NaN when undefined
    size: float  # the box's shorter side, input pixels
    output_px: int  # the side the face's aligned crop has in the output photo (native crop side x upscale)
    skipped: str | None = None  # why it is not restored (None: restored)
    crop_side: int = 0  # the aligned crop's side the restorer gets (the native side, clipped to [16, face_size])

    def label(self) -> str:
        yaw = "" if math.isnan(self.yaw) else f", yaw {self.yaw:+.0f}°"
        return f"face {self.number}: {self.size:.0f} px, score {self.score:.3f}{yaw}"


@dataclass
class PhotoResult:
    image: np.ndarray  # uint8 RGB, the upscaled photo with restored faces
    faces: list[FaceResult] = field(default_factory=list)
    aligned: bool = False  # True when the input was treated as an aligned crop
    detected: list[DetectedFace] = field(default_factory=list)  # every face found, restored or not (photos only)
    notes: list[str] = field(default_factory=list)  # what the user should know (faces left alone, large crops)

    @property
    def skipped(self) -> list[DetectedFace]:
        return [d for d in self.detected if d.skipped]


def check_upscale(upscale: float) -> float:
    try:
        u = float(upscale)
    except (TypeError, ValueError):
        raise ValueError(f"upscale must be a number, got {upscale!r}") from None
    if not math.isfinite(u) or not MIN_UPSCALE <= u <= MAX_UPSCALE:
        raise ValueError(f"upscale must be between {MIN_UPSCALE:g} and {MAX_UPSCALE:g}, got {upscale!r}")
    return u


def check_photo(image: np.ndarray, upscale: float) -> np.ndarray:
    """Validated uint8 RGB copy of ``image`` (grayscale / RGBA converted) within the size limits."""
    if image is None:
        raise ValueError("no image given")
    img = to_rgb(np.asarray(image))
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"image is too small ({w}x{h}); each side must be at least {MIN_SIDE} pixels")
    if h * w > MAX_INPUT_PIXELS:
        raise ValueError(f"image has {h * w / 1e6:.1f} MP; the limit is {MAX_INPUT_PIXELS / 1e6:g} MP")
    if h * w * upscale * upscale > MAX_OUTPUT_PIXELS:
        raise ValueError(f"output would have {h * w * upscale ** 2 / 1e6:.0f} MP; the limit is "
                         f"{MAX_OUTPUT_PIXELS / 1e6:g} MP: lower the upscale factor or the input size")
    return img


def _bicubic(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[:2] == (size, size):
        return img.copy()
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))


def _restore(restorer, crop: np.ndarray, face_size: int) -> np.ndarray:
    out = np.asarray(restorer.restore(crop, face_size))
    if out.shape != (face_size, face_size, 3) or out.dtype != np.uint8:
        raise RuntimeError(f"restorer returned {out.dtype} {out.shape}, expected uint8 ({face_size}, {face_size}, 3)")
    return out


def _native_size(landmarks: np.ndarray, face_size: int) -> int:
    """Side of the aligned crop that keeps the face at its resolution in the photo."""
    return int(np.clip(round(_native_side(landmarks, face_size)), MIN_SIDE, face_size))


def _native_side(landmarks: np.ndarray, face_size: int) -> float:
    """Side of the aligned crop at the face's own resolution, unclipped."""
    affine = similarity_to_template(landmarks, face_size)
    return face_size / math.hypot(affine[0, 0], affine[1, 0])  # photo -> face_size crop scale


def large_face(output_px: float, face_size: int = 512) -> bool:
    """A face is *large enough already* when its aligned crop would be wider than the restorer's ``face_size``
    (512 px) in the output photo: the restored crop would then be enlarged again when pasted (or the face shrunk to
    fit the restorer first) and comes out softer than the plain resize of the photo.

    Measured with face_basicvsr on photo_img2.jpg (../shared/data/examples/faces) downscaled and restored back,
    Laplacian energy of the face box relative to the true photo's: a crop of 735 px in the output 0.05 restored vs
    0.05 Lanczos (nothing gained), 367 px 0.17 vs 0.18, 185 px 0.31 vs 0.24 (restoring sharpens only small faces)."""
    return output_px > face_size


def find_faces(image: np.ndarray, upscale: float = 2, face_size: int = 512,
               selection: Selection | None = None) -> list[DetectedFace]:
    """Every face of a photo (uint8 RGB), numbered largest first, with its yaw, size, output size and - for a
    ``selection`` - why it would not be restored. The numbering is the one :func:`restore_photo` and the app's
    per-face checkboxes use."""
    img = to_rgb(np.asarray(image))
    h, w = img.shape[:2]
    faces = detect_faces(img, min_face_size=max(20.0, 0.025 * min(h, w)))
    faces.sort(key=lambda f: -f.area)  # largest first
    out = []
    for i, f in enumerate(faces):
        x1, y1, x2, y2 = f.box
        native = _native_side(f.landmarks, face_size)
        d = DetectedFace(number=i + 1, box=f.box, score=f.score, landmarks=f.landmarks, yaw=estimate_yaw(f.landmarks),
                         size=float(min(x2 - x1, y2 - y1)), output_px=int(round(native * float(upscale))),
                         crop_side=int(np.clip(round(native), MIN_SIDE, face_size)))
        if selection is not None:
            d.skipped = selection.skip_reason(d.number, d.size, d.score, d.yaw)
            if d.skipped is None and not selection.large_faces and large_face(d.output_px, face_size):
                d.skipped = (f"large enough already ({d.output_px} px in the output, above the restorer's "
                             f"{face_size} px): restoring would make it softer than the plain resize")
        out.append(d)
    if selection is not None and selection.faces is not None:
        missing = [n for n in selection.faces if n > len(out)]
        if missing:
            raise ValueError(f"face {missing[0]} does not exist: the photo has {len(out)} face(s), numbered 1 "
                             f"(largest) to {len(out)}")
    return out


MAX_PRETRAINED_BACKGROUND_PIXELS = 1_000_000


def pretrained_background(upscaler) -> BackgroundUpscaler:
    """The background upscaled by the pretrained BasicVSR x4 (the face models' base), then resized to the target:
    sharper than Lanczos, and slow on a CPU (about 4 s per 128x128 input pixels there), so inputs above
    ``MAX_PRETRAINED_BACKGROUND_PIXELS`` are refused with the reason. ``upscaler``: the registered ``basicvsr`` (any
    object with ``upscale(image, size)``), or a zero-argument loader of it, called on the first photo."""

    def run(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        nonlocal upscaler
        h, w = image.shape[:2]
        if h * w > MAX_PRETRAINED_BACKGROUND_PIXELS:
            raise ValueError(f"the pretrained background upscaler takes photos up to "
                             f"{MAX_PRETRAINED_BACKGROUND_PIXELS / 1e6:g} MP (this one has {h * w / 1e6:.1f} MP); "
                             "untick it to upscale the background with Lanczos")
        if not hasattr(upscaler, "upscale"):
            upscaler = upscaler()
        return np.asarray(upscaler.upscale(image, tuple(size)))

    return run


BACKGROUNDS = ("lanczos", "basicvsr")


def background_upscaler(kind: str, basicvsr=None) -> BackgroundUpscaler:
    """The background upscaler a user picks by name: "lanczos" or "basicvsr" (:func:`pretrained_background` of
    ``basicvsr``, the upscaler or its loader, which the caller takes from the registry)."""
    if kind not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {kind!r}")
    if kind == "lanczos":
        return lanczos_upscale
    if basicvsr is None:
        raise ValueError("the basicvsr background needs the upscaler: background_upscaler('basicvsr', "
                         "functools.partial(registry.get, 'basicvsr'))")
    return pretrained_background(basicvsr)


def check_face_count(count: int, max_faces: int | None = None) -> None:
    """Refuse a photo with more than ``max_faces`` faces to restore (default: ``FRAMEFORGE_MAX_FACES``)."""
    if max_faces is None:
        from models import settings

        max_faces = settings.get().max_faces
    if count > max_faces:
        raise ValueError(f"the photo has {count} faces to restore; the limit is {max_faces} per photo "
                         "(FRAMEFORGE_MAX_FACES). Choose fewer faces or crop the photo.")


def restore_photo(image: np.ndarray, restorer, upscale: float = 2, aligned: bool = False,
                  face_size: int = 512, only_largest: bool = False, progress: Progress | None = None,
                  background_upscaler: BackgroundUpscaler = lanczos_upscale,
                  selection: Selection | None = None, max_faces: int | None = None) -> PhotoResult:
    """Restore every face of ``image`` and return the photo upscaled by ``upscale`` (1-4) with the faces pasted.

    ``max_faces`` (default: the ``FRAMEFORGE_MAX_FACES`` setting): a photo with more faces to restore is refused
    with a ValueError saying how many it has (each face costs a restorer run; one photo must not hold the worker).

    ``aligned``: True = the image is an aligned face crop; False = a photo (raises :class:`NoFaceFound` if no face).
    ``progress(fraction, desc=...)`` is called between steps (gr.Progress fits).
    ``selection``: which faces to restore (:class:`~models.face.pose.Selection`: chosen numbers, minimum size and
    confidence, largest yaw, large faces); the others stay as the background upscaler made them and are listed in
    ``PhotoResult.detected`` with the reason. None restores every face found (the behaviour before selections).
    """
    u = check_upscale(upscale)
    img = check_photo(image, u)
    if not 64 <= int(face_size) <= 2048:
        raise ValueError(f"face_size must be in [64, 2048], got {face_size}")
    face_size = int(face_size)
    report = progress or (lambda *a, **k: None)
    h, w = img.shape[:2]

    faces, detected = [], []
    if not aligned:
        report(0.05, desc="Detecting faces")
        detected = find_faces(img, u, face_size, selection)
        if only_largest:
            detected = detected[:1]
        if not detected:
            raise NoFaceFound("no face was found in the photo; if it is an aligned face crop, tick "
                              "'input is an aligned face crop'")
        if selection is not None and selection.faces is not None and not selection.faces:
            raise ValueError("no face was chosen: tick at least one face")
        faces = [d for d in detected if not d.skipped]
        check_face_count(len(faces), max_faces)

    if aligned:
        if float(img.std()) < 2.0:
            raise ValueError("the image is blank (one flat colour): there is no face to restore")
        report(0.3, desc="Restoring the aligned face")
        crop = img if h == w else _bicubic(img, min(h, w))  # non-square crops are squashed to a square
        after = _restore(restorer, crop, face_size)
        out_side = (int(round(h * u)), int(round(w * u)))
        result = after if out_side == (face_size, face_size) else background_upscaler(after, out_side)
        notes = []
        if large_face(max(out_side), face_size):
            notes.append(f"The output crop ({out_side[1]}x{out_side[0]}) is larger than the restorer's {face_size} "
                         "px: the restored face was enlarged and may look softer than a plain resize of the input.")
        return PhotoResult(image=result, aligned=True, notes=notes,
                           faces=[FaceResult(box=(0.0, 0.0, float(w), float(h)), score=1.0,
                                             landmarks=np.full((5, 2), np.nan), crop_input=crop,
                                             crop_after=after)])

    results, pasted = [], []
    for i, f in enumerate(faces):
        report(0.1 + 0.8 * i / len(faces), desc=f"Restoring face {i + 1} of {len(faces)}")
        size = _native_size(f.landmarks, face_size)
        crop, affine = align_face(img, f.landmarks, size)
        after = _restore(restorer, crop, face_size)
        pasted.append((after, affine * (face_size / size)))  # photo -> restored crop
        results.append(FaceResult(box=f.box, score=f.score, landmarks=f.landmarks, crop_input=crop,
                                  crop_after=after, number=f.number, yaw=f.yaw))
    report(0.92, desc="Pasting faces back")
    photo = paste_faces(img, pasted, u, background_upscaler)
    report(1.0, desc="Done")
    notes = [f"Face {d.number} left as the plain resize: {d.skipped}." for d in detected if d.skipped]
    return PhotoResult(image=photo, faces=results, aligned=False, detected=detected, notes=notes)


#: Seconds for BasicVSR x4 (the base of every learned face model here) to restore one face, by the side of its
#: aligned crop at its own resolution (16..512 px, the pipeline's native crop): restorer.restore(align_face(photo,
#: landmarks, S), 512) on a real portrait (Adele_crop.png), warm model, on this 2-core CPU at low load (load average
#: about 2). Between the sides the time is interpolated linearly in S^2 (BasicVSR runs on the crop). The same runs at
#: load average 13-16 took 2-7x longer; the tab multiplies by the machine's measured speed now
#: (models.pipelines.estimate.speed_factor, when present).
BASE_SECONDS: dict[int, float] = {0: 0.0, 128: 5.7, 256: 13.1, 384: 45.0, 512: 104.0}
#: What each model adds per face on top of the base (its head at 512 px; weight-free resizes cost nothing). The
#: SFT students' and the teacher's heads measured +0.6 / +1.1 s on one thread (bench.face_speed), about +1 / +2.5 s
#: here (face_teacher is retired from the tab; its estimate stays for the API of the pipeline).
HEAD_SECONDS: dict[str, float] = {"face_basicvsr": 0.0, "face_student_perceptual": 1.0, "face_teacher": 2.5}
RESIZE_MODELS = ("face_bicubic", "face_lanczos")
#: Models whose cost per face does not grow with the crop: face_realesrgan shrinks every crop to 128 px first and
#: runs Real-ESRGAN x4 plus, below fidelity 1, BasicVSR on it: 2.5-3.5x BasicVSR's 128 px time here (measured side
#: by side at 128 and 384 px crops, two runs).
#: The blind students (face_student, face_student_nokd) shrink crops the same way and cost 0.15-0.17 s per face on
#: one thread (bench.face).
CONSTANT_SECONDS: dict[str, float] = {"face_realesrgan": 3.0 * 5.7, "face_student": 0.3, "face_student_nokd": 0.3}
#: The pretrained background upscaler (BasicVSR x4 on the whole photo): seconds per input megapixel (the same
#: network as the base: 5.7 s per 128x128 crop ~ 350 s/MP, less per pixel on larger inputs).
BACKGROUND_SECONDS_PER_MP = 240.0


def face_seconds(model_id: str, crop_side: float) -> float | None:
    """Estimated seconds to restore one face whose native aligned crop is ``crop_side`` px, on this CPU at low load
    (None: a model whose time was not measured)."""
    if model_id in RESIZE_MODELS:
        return 0.05
    if model_id in CONSTANT_SECONDS:
        return CONSTANT_SECONDS[model_id]
    if model_id not in HEAD_SECONDS:
        return None
    sides = sorted(BASE_SECONDS)
    s = float(np.clip(crop_side, MIN_SIDE, sides[-1]))
    base = float(np.interp(s * s, [k * k for k in sides], [BASE_SECONDS[k] for k in sides]))
    return base + HEAD_SECONDS[model_id]


#: Seconds per output megapixel of everything around the faces: detection, the Lanczos upscale, pasting and the PNG
#: written (a 3.6 MP photo x2 with no face restored: 13.7 s at speed 1.9 here).
OUTPUT_SECONDS_PER_MP = 0.5


def estimate_photo_seconds(model_id: str, crop_sides: list[float], photo_pixels: int = 0,
                           background: str = "lanczos", upscale: float = 1.0) -> float | None:
    """Estimated seconds of a whole-photo job on this machine's CPU: the chosen faces (their native crop sides)
    plus the background; None when the model's time was not measured."""
    per_face = [face_seconds(model_id, s) for s in crop_sides]
    if any(t is None for t in per_face):
        return None
    total = sum(per_face) + (BACKGROUND_SECONDS_PER_MP * photo_pixels / 1e6 if background == "basicvsr" else 0.0)
    return total + 0.5 + OUTPUT_SECONDS_PER_MP * photo_pixels * upscale ** 2 / 1e6


@dataclass
class RestorerRun:
    model_id: str
    result: PhotoResult
    seconds: float  # wall time of restore_photo with this restorer
    peak_mb: float  # peak memory above the start (models.memory.PeakMemory)
    memory_method: str  # "cuda", "VmHWM" or "ru_maxrss"


def compare_restorers(image: np.ndarray, restorers: dict, upscale: float = 2, aligned: bool = False,
                      face_size: int = 512, progress: Progress | None = None) -> list[RestorerRun]:
    """The same photo through each restorer ({model id: restorer}, in order), with each run's time and peak memory
    (the teacher / student comparison of the Face SR tab). Each restorer is warmed up on a small crop first, so
    loading and first-call costs are not counted. ``progress`` sees every step of every run (the app stops a job
    there), as fractions of the whole comparison."""
    import time

    from models.device import inference_device
    from models.memory import PeakMemory

    if len(restorers) < 2:
        raise ValueError("compare needs at least two restorers")
    report = progress or (lambda *a, **k: None)
    warm = np.full((32, 32, 3), 128, np.uint8)
    runs = []
    n = len(restorers)
    for i, (model_id, restorer) in enumerate(restorers.items()):
        report(i / n, desc=f"Running {model_id}")
        _restore(restorer, warm, 64)

        def step(fraction: float, desc: str | None = None, i=i, model_id=model_id) -> None:
            report((i + fraction) / n, desc=f"{model_id}: {desc}" if desc else model_id)

        with PeakMemory(inference_device()) as mem:
            t0 = time.perf_counter()
            result = restore_photo(image, restorer, upscale=upscale, aligned=aligned, face_size=face_size,
                                   progress=step)
            seconds = time.perf_counter() - t0
        runs.append(RestorerRun(model_id, result, seconds, mem.growth_mb, mem.method))
    report(1.0, desc="Done")
    return runs
