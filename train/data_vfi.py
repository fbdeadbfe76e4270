"""Frame-interpolation triplets from ``../shared/data/video_train`` (DAVIS-2016 JPEG sequences and mp4 clips).

The first run decodes every source once into ``runs/vfi_cache/<source>.npy`` (uint8 (N, H, W, 3), short side at
most 480 px, at most ``max_frames`` frames), so training reads memory-mapped arrays. Two sources are held out as the
validation split (:data:`VAL_SOURCES`); evaluation folders (``*_eval``) are never read here.

A training triplet is (I_s, I_s+g, I_s+2g) with gap g in 1..3, a random crop, random flips and random temporal
reversal; the target is the middle frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO.parent / "shared" / "data" / "video_train"
CACHE_DIR = REPO / "runs" / "vfi_cache"
VAL_SOURCES = ("davis2016__car-roundabout", "clips__02_cups")


class DataUnavailable(FileNotFoundError):
    """The training data folder is absent."""


def _resize(frame: np.ndarray, short_side: int) -> np.ndarray:
    import cv2

    h, w = frame.shape[:2]
    s = short_side / min(h, w)
    if s >= 1:
        return frame
    return cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def _read_jpgs(folder: Path, short_side: int, max_frames: int) -> np.ndarray:
    import cv2

    frames = []
    for p in sorted(folder.glob("*.jpg"))[:max_frames]:
        frames.append(_resize(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), short_side))
    return np.stack(frames)


def _read_mp4(path: Path, short_side: int, max_frames: int) -> np.ndarray:
    from models.video_io import iter_frames  # PyAV decode in display orientation

    return np.stack([_resize(f.image, short_side) for f in iter_frames(path, max_frames=max_frames)])


def build_cache(root: Path = DATA_ROOT, cache_dir: Path = CACHE_DIR, short_side: int = 480,
                max_frames: int = 240, log=print) -> list[Path]:
    """Decode every training source once; returns the cached .npy paths (existing ones are reused)."""
    root = Path(root)
    if not root.is_dir():
        raise DataUnavailable(f"training videos not found at {root}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    sources = [(f"davis2016__{d.name}", d) for d in sorted((root / "davis2016").glob("*")) if d.is_dir()]
    sources += [(f"clips__{p.stem}", p) for p in sorted((root / "clips").glob("*.mp4"))]
    out = []
    for name, src in sources:
        dst = cache_dir / f"{name}.npy"
        if not dst.is_file():
            arr = _read_jpgs(src, short_side, max_frames) if src.is_dir() else _read_mp4(src, short_side, max_frames)
            tmp = dst.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            tmp.rename(dst)
            log(f"cached {name}: {arr.shape}")
        out.append(dst)
    return out


def load_sources(cache_dir: Path = CACHE_DIR) -> dict[str, np.ndarray]:
    """Memory-mapped cached sources by name."""
    return {p.stem: np.load(p, mmap_mode="r") for p in sorted(Path(cache_dir).glob("*.npy"))
            if not p.name.endswith(".tmp.npy")}


def split(sources: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train, validation) by :data:`VAL_SOURCES`."""
    train = {k: v for k, v in sources.items() if k not in VAL_SOURCES}
    val = {k: v for k, v in sources.items() if k in VAL_SOURCES}
    return train, val


@dataclass
class SourceSampler:
    """Picks training sources in proportion to their frames, among those at least ``crop`` px and long enough."""

    sources: dict[str, np.ndarray]
    crop: int
    seed: int = 0

    def min_frames(self) -> int:
        return 3

    def __post_init__(self):
        self.names = [k for k, v in self.sources.items()
                      if v.shape[0] >= self.min_frames() and v.shape[1] >= self.crop and v.shape[2] >= self.crop]
        if not self.names:
            raise DataUnavailable(f"no source is at least {self.crop}x{self.crop} with {self.min_frames()} frames")
        sizes = np.array([self.sources[k].shape[0] for k in self.names], dtype=np.float64)
        self.p = sizes / sizes.sum()  # frames weight the sources
        self.rng = np.random.default_rng(self.seed)

    def reseed(self, *entropy: int) -> None:
        self.rng = np.random.default_rng([self.seed, *entropy])

    def source(self) -> np.ndarray:
        return self.sources[self.names[self.rng.choice(len(self.names), p=self.p)]]


@dataclass
class TripletSampler(SourceSampler):
    """Random training triplets as float32 arrays (B, 3, C, C) in [0, 1]: frame0, frame1 (target), frame2."""

    max_gap: int = 3

    def triplet(self) -> np.ndarray:
        rng = self.rng
        arr = self.source()
        n, h, w = arr.shape[:3]
        gap = int(rng.integers(1, min(self.max_gap, (n - 1) // 2) + 1))
        s = int(rng.integers(0, n - 2 * gap))
        y, x = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        t = np.stack([arr[s + i * gap, y:y + self.crop, x:x + self.crop] for i in range(3)])  # (3, C, C, 3)
        if rng.random() < 0.5:
            t = t[:, :, ::-1]
        if rng.random() < 0.5:
            t = t[:, ::-1]
        if rng.random() < 0.5:
            t = t[::-1]  # temporal reversal: the middle frame stays the target
        return t

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = np.stack([self.triplet() for _ in range(size)]).astype(np.float32) / 255.0  # (B, 3, C, C, 3)
        b = np.ascontiguousarray(b.transpose(1, 0, 4, 2, 3))  # (3, B, 3, C, C)
        return b[0], b[1], b[2]


def val_triplets(sources: dict[str, np.ndarray], gaps=(1, 2), per_source: int = 6,
                 crop: int | None = 256) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Fixed validation triplets (gap, frame0, middle, frame2) as uint8 centre crops (whole frames when ``crop``
    is None), evenly spaced in time."""
    out = []
    for name in sorted(sources):
        arr = sources[name]
        n, h, w = arr.shape[:3]
        ch, cw = (h, w) if crop is None else (min(crop, h), min(crop, w))
        y, x = (h - ch) // 2, (w - cw) // 2
        for gap in gaps:
            starts = np.linspace(0, n - 1 - 2 * gap, per_source).round().astype(int)
            for s in starts:
                f = [np.array(arr[s + i * gap, y:y + ch, x:x + cw]) for i in range(3)]  # writable copies
                out.append((gap, f[0], f[1], f[2]))
    return out


@dataclass
class TimedSampler(SourceSampler):
    """Random training windows for any-t interpolation: (I_s, I_s+k, I_s+n) with t = k / n, n in 2..``max_span``
    (triplets at n = 2, septuplet-like spans up to n = 8: t from 1/8 to 7/8), random crops, flips and temporal
    reversal (which maps t to 1 - t). Also unlabeled pairs (I_s, I_s+g), g in 1..3, for distillation."""

    max_span: int = 8

    def min_frames(self) -> int:
        return self.max_span + 1

    def _crop(self, arr: np.ndarray, idx: list[int]) -> np.ndarray:
        rng = self.rng
        h, w = arr.shape[1:3]
        y, x = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        f = np.stack([arr[i, y:y + self.crop, x:x + self.crop] for i in idx])  # (k, C, C, 3)
        if rng.random() < 0.5:
            f = f[:, :, ::-1]
        if rng.random() < 0.5:
            f = f[:, ::-1]
        return f

    def window(self) -> tuple[np.ndarray, float]:
        rng = self.rng
        arr = self.source()
        n = int(rng.integers(2, self.max_span + 1))
        k = int(rng.integers(1, n))
        s = int(rng.integers(0, arr.shape[0] - n))
        f = self._crop(arr, [s, s + k, s + n])
        t = k / n
        if rng.random() < 0.5:
            f, t = f[::-1], 1.0 - t
        return f, t

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """frame0, target, frame1 as float32 (B, 3, C, C) in [0, 1], and t (B,)."""
        rows = [self.window() for _ in range(size)]
        b = np.stack([r[0] for r in rows]).astype(np.float32) / 255.0  # (B, 3, C, C, 3)
        b = np.ascontiguousarray(b.transpose(1, 0, 4, 2, 3))
        return b[0], b[1], b[2], np.array([r[1] for r in rows], np.float32)

    def pairs(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unlabeled pairs (gap 1..3) and random t in (0, 1): frame0, frame1 (B, 3, C, C), t (B,)."""
        rng = self.rng
        out = []
        for _ in range(size):
            arr = self.source()
            g = int(rng.integers(1, 4))
            s = int(rng.integers(0, arr.shape[0] - g))
            out.append(self._crop(arr, [s, s + g]))
        b = np.ascontiguousarray(np.stack(out).astype(np.float32).transpose(1, 0, 4, 2, 3) / 255.0)
        return b[0], b[1], rng.uniform(0.1, 0.9, size).astype(np.float32)


def val_timed(sources: dict[str, np.ndarray], spans=(2, 4), per_source: int = 4,
              crop: int | None = 256) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Fixed validation windows (t, frame0, frame_t, frame1) as uint8 centre crops: span 2 gives t = 1/2, span 4
    gives t = 1/4, 1/2, 3/4; windows evenly spaced in time."""
    out = []
    for name in sorted(sources):
        arr = sources[name]
        n, h, w = arr.shape[:3]
        ch, cw = (h, w) if crop is None else (min(crop, h), min(crop, w))
        y, x = (h - ch) // 2, (w - cw) // 2
        for span in spans:
            for s in np.linspace(0, n - 1 - span, per_source).round().astype(int):
                ends = [np.array(arr[s + i, y:y + ch, x:x + cw]) for i in (0, span)]
                for k in range(1, span):
                    out.append((k / span, ends[0], np.array(arr[s + k, y:y + ch, x:x + cw]), ends[1]))
    return out
