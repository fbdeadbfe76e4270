"""Duplicate frames (animation on twos/threes, telecined film, screen recordings) found and re-timed, so an
interpolator moves evenly instead of stuttering (a morph between two equal frames is a pause, then a double step).

* :func:`frame_difference` measures how much two frames differ in a way that ignores sensor noise and compression:
  both are made grey, shrunk to at most :data:`ANALYSIS_SIDE` px (area average) and their difference is blurred
  (Gaussian, sigma 1.5 px), so independent noise of sigma s per frame leaves about 0.2 * 1.4 * s; the score is the
  99th percentile of the absolute blurred difference in grey levels, so an object moving over 1 % of the picture
  counts. Frames scoring below ``threshold`` (default :data:`DUP_THRESHOLD` = 2 grey levels) are duplicates.
* :func:`dedup_frames` drops every frame that duplicates the first frame of its run and re-times the run's kept
  frame to the **centre** of the run (a drawing held 2 frames at 0, 1 is shown at 0.5): holds of 2 and 3 frames
  mixed (3:2 pulldown) or regular (twos) then come out evenly spaced. The first run keeps its first time and the
  last run its last time (no duplicate at the ends, the duration is kept). A run longer than :data:`MAX_RUN` frames
  is a still, not a hold: it stays a still (its first and last instants are kept, the output holds it). So is a
  run whose frames are further apart than 1.5 frame periods of the stream's nominal rate (``fps``): in a variable
  frame-rate recording a repeated picture after a pause is a pause, not a drawing to re-time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from .. import video_io

#: Grey levels (99th percentile of the blurred difference) below which two frames count as the same picture.
DUP_THRESHOLD = 2.0
#: Longest run of equal frames treated as a hold to re-time; longer runs are stills and stay still.
MAX_RUN = 4
#: Longest side of the grey copies compared.
ANALYSIS_SIDE = 480


def _grey(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = ANALYSIS_SIDE / max(h, w)
    if scale < 1:
        g = cv2.resize(g, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return g.astype(np.float32)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The 99th percentile of |blurred grey difference| of two RGB frames, in grey levels (0 = the same picture)."""
    if a.shape != b.shape:
        return float("inf")
    d = cv2.GaussianBlur(_grey(a) - _grey(b), (0, 0), 1.5)
    return float(np.percentile(np.abs(d), 99))


@dataclass
class DedupStats:
    """What :func:`dedup_frames` found: ``duplicates`` frames dropped, ``holds`` runs re-timed to their centre,
    ``stills`` runs longer than MAX_RUN kept still."""

    frames: int = 0
    duplicates: int = 0
    holds: int = 0
    stills: int = 0

    def summary(self) -> str:
        if not self.duplicates:
            return f"no duplicate frames found in {self.frames}"
        return (f"{self.duplicates} duplicate frame(s) of {self.frames} dropped ({self.holds} hold(s) re-timed to "
                f"their centre" + (f", {self.stills} still(s) longer than {MAX_RUN} frames kept still" if self.stills
                                   else "") + ")")


def dedup_frames(frames: Iterable[video_io.Frame], threshold: float = DUP_THRESHOLD, max_run: int = MAX_RUN,
                 stats: DedupStats | None = None, fps: float | None = None) -> Iterator[video_io.Frame]:
    """The frames without duplicates, re-timed (see the module notes). Holds two frames in memory. A still's end is
    yielded as a frame with the *same* image object as its start (pipelines hold it instead of interpolating)."""
    if not threshold or threshold <= 0:
        yield from frames
        return
    stats = stats if stats is not None else DedupStats()
    run: list[video_io.Frame] = []  # the run's first frame and its latest duplicate
    length = 0
    first_run = True

    def flush(final: bool):
        nonlocal first_run
        head, tail = run[0], run[-1]
        paused = fps is not None and tail.time - head.time > (length - 1) * 1.5 / fps
        if length == 1:
            out = [head]
        elif length > max_run or paused or (first_run and final):
            stats.stills += length > max_run or paused
            stats.holds += length <= max_run and not paused
            out = [head, video_io.Frame(head.image, tail.time, tail.index)]
        else:
            stats.holds += 1
            time = head.time if first_run else tail.time if final else (head.time + tail.time) / 2
            out = [video_io.Frame(head.image, time, tail.index if final and not first_run else head.index)]
        first_run = False
        return out

    for frame in frames:
        stats.frames += 1
        if run and frame_difference(run[0].image, frame.image) < threshold:
            stats.duplicates += 1
            length += 1
            run[1:] = [frame]
            continue
        if run:
            yield from flush(final=False)
        run, length = [frame], 1
    if run:
        yield from flush(final=True)
