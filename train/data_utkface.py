"""The aligned UTKFace chips of the public repository ``mattans/AgeProgression`` as a training folder.

    python -m train.data_utkface --repo /work/.mirror/mattans+AgeProgression/repo --out runs/utkface --top 3000

``--repo`` is a git directory of that repository (what the library's ``fetch github:mattans/AgeProgression``
returns; a bare repository or a checkout). Its ``data/UTKFace/unlabeled/*.chip.jpg`` (23,706 aligned 200x200
chips) are read straight from git objects, scored by sharpness (variance of the 3x3 Laplacian of the grey image,
the chips being JPEGs of mixed quality) and the ``--top`` sharpest written unchanged (the original JPEG bytes) to
``--out``, with ``manifest.json`` (name, git blob, score). Chips already in ``--exclude`` (default
``../shared/data/faces_train/utkface_sharp``, the 1,500 the data catalogue ships) are skipped, so the two folders
never hold the same face twice.

Terms: UTKFace is for non-commercial research only; weights trained on it say so in their card.
"""
from __future__ import annotations

import argparse
import heapq
import json
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHIPS = "data/UTKFace/unlabeled/"
EXCLUDE = REPO.parent / "shared" / "data" / "faces_train" / "utkface_sharp"


def list_chips(repo: Path) -> list[tuple[str, str]]:
    """(file name, blob id) of every chip in the repository's HEAD tree."""
    out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "HEAD", CHIPS], check=True,
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        _, kind, blob = meta.split()
        if kind == "blob" and path.endswith(".jpg"):
            rows.append((path.rsplit("/", 1)[1], blob))
    if not rows:
        raise FileNotFoundError(f"{repo}: no {CHIPS}*.jpg in HEAD (is this mattans/AgeProgression?)")
    return rows


def read_blobs(repo: Path, blobs: list[str]):
    """Yield each blob's bytes, in order, through one ``git cat-file --batch`` process."""
    proc = subprocess.Popen(["git", "--git-dir", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        for blob in blobs:
            proc.stdin.write(blob.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise ValueError(f"git cat-file: unexpected answer {header!r} for {blob}")
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after the contents
            yield data
    finally:
        proc.stdin.close()
        proc.wait()


def sharpness(jpeg: bytes) -> float:
    """Variance of the 3x3 Laplacian of the grey image (higher = sharper); -1 for an unreadable file."""
    import cv2

    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.shape[0] < 16 or grey.shape[1] < 16:
        return -1.0
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F, ksize=1).var())


def build(repo: Path, out: Path, top: int, exclude: Path | None = EXCLUDE) -> list[dict]:
    rows = list_chips(repo)
    skip = {p.name for p in exclude.iterdir()} if exclude is not None and exclude.is_dir() else set()
    total = len(rows)
    rows = [r for r in rows if r[0] not in skip]
    blobs = read_blobs(repo, [b for _, b in rows])
    scored = ((sharpness(data), name, blob, data) for (name, blob), data in zip(rows, blobs))
    # one pass over the blobs: only the ``top`` sharpest (ties by name) are held, with their bytes
    best = heapq.nsmallest(top, (s for s in scored if s[0] >= 0), key=lambda s: (-s[0], s[1]))
    out.mkdir(parents=True, exist_ok=True)
    keep = sorted(best, key=lambda s: s[1])
    for _, name, _, data in keep:
        (out / name).write_bytes(data)
    manifest = [{"name": n, "blob": b, "sharpness": round(s, 2)} for s, n, b, _ in keep]
    (out / "manifest.json").write_text(json.dumps({"source": "github:mattans/AgeProgression " + CHIPS,
                                                   "terms": "UTKFace: non-commercial research only",
                                                   "chips_in_repo": total, "excluded": total - len(rows),
                                                   "kept": len(manifest),
                                                   "chips": manifest}, indent=1))
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", required=True, type=Path, help="git directory of mattans/AgeProgression")
    ap.add_argument("--out", default=REPO / "runs" / "utkface", type=Path)
    ap.add_argument("--top", type=int, default=3000)
    ap.add_argument("--exclude", default=str(EXCLUDE), help="folder whose file names are skipped ('' for none)")
    a = ap.parse_args(argv)
    kept = build(a.repo, a.out, a.top, Path(a.exclude) if a.exclude else None)
    print(f"{len(kept)} chips -> {a.out} (sharpness {kept and min(k['sharpness'] for k in kept)}..."
          f"{kept and max(k['sharpness'] for k in kept)})")


if __name__ == "__main__":
    main()
