"""DIS-flow frame interpolation: the weight-free, flow-based baseline every learned interpolator must beat.

For a pair (I_0, I_1) and times t in (0, 1):

1. Optical flow both ways with OpenCV DIS (Kroeger et al. 2016, preset MEDIUM) on grayscale, once per pair:
   F_0->1, F_1->0  (H, W, 2) in pixels, I_0(x) ~ I_1(x + F_0->1(x)).
2. Flow from time t to the inputs, linear in t (``approx="linear"``):

       F_t->0 = t F_1->0,        F_t->1 = (1 - t) F_0->1

   or each flow reversed at its own grid (``approx="linear_own"``):  F_t->0 = -t F_0->1,  F_t->1 = -(1 - t) F_1->0,
   or the Super-SloMo combination (``approx="slomo"``, Jiang et al. 2018, eq. 4):

       F_t->0 = -(1 - t) t F_0->1 + t^2 F_1->0,     F_t->1 = (1 - t)^2 F_0->1 - t (1 - t) F_1->0

3. Backward warp (bilinear, border replicate):  W_k(x) = I_k(x + F_t->k(x)).
4. Forward-backward consistency of each flow, at the pixels of frame k (k' the other frame):

       e_k(y) = | F_k->k'(y) + F_k'->k(y + F_k->k'(y)) |

   hard:  c_k = [e_k^2 < alpha (|F_k->k'|^2 + |F_k'->k(y + F_k->k')|^2) + beta]   (Sundaram et al. 2010)
   soft:  c_k = exp(-e_k^2 / (2 sigma^2))
   sampled at the same place as the colours:  C_k(x) = c_k(x + F_t->k(x)).
5. Occlusion-aware blend with time weights (1 - t) and t:

       I_t = ((1 - t) C_0 W_0 + t C_1 W_1) / ((1 - t) C_0 + t C_1)

   falling back to the plain time weights where both C_k vanish.

t = 0 and t = 1 return the inputs. Defaults (linear, hard, self weights) were picked on training data
(``video_train``), see ``bench/results/baselines.md``: hard beat soft; ``linear`` beat ``slomo`` and ``linear_own``.
``approx="linear_own"`` reproduces protocol.md's DIS-flow reference numbers (0.4-0.5 dB lower on DAVIS).
``weighting="cross"`` weights frame k by the other frame's consistency instead of its own.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..ops.warp import backward_warp_cv2
from ..imageio import PIXELS, check_pair, check_ts, to_uint8


#: Smallest width and height OpenCV's DIS flow accepts (its patches are 8x8).
DIS_MIN_SIDE = 8


def dis_flow(src: np.ndarray, dst: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> np.ndarray:
    """F_src->dst (H, W, 2) float32, (x, y) in pixels, of two uint8 RGB frames (DIS on grayscale):
    dst(p + F(p)) ~ src(p). Frames under :data:`DIS_MIN_SIDE` pixels on a side raise a ValueError saying so."""
    h, w = src.shape[:2]
    if min(h, w) < DIS_MIN_SIDE:
        raise ValueError(f"DIS optical flow needs frames at least {DIS_MIN_SIDE}x{DIS_MIN_SIDE} pixels; these are "
                         f"{w}x{h}. Use a larger video or another model (e.g. blend).")
    gray = lambda im: cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY)  # noqa: E731
    return cv2.DISOpticalFlow_create(preset).calc(gray(src), gray(dst), None)


def dis_flow_pair(frame0: np.ndarray, frame1: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Both flows F_0->1, F_1->0 (H, W, 2) float32 of two uint8 RGB frames (DIS on grayscale)."""
    return dis_flow(frame0, frame1, preset), dis_flow(frame1, frame0, preset)


def fb_consistency(f_ab: np.ndarray, f_ba: np.ndarray, mode: str = "hard", alpha: float = 0.01,
                   beta: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    """Consistency c (H, W) float32 in [0, 1] of ``f_ab`` at the pixels of frame a, checked against ``f_ba``."""
    back = backward_warp_cv2(f_ba, f_ab)  # F_b->a(y + F_a->b(y))
    err2 = np.sum((f_ab + back) ** 2, axis=2)
    if mode == "hard":
        bound = alpha * (np.sum(f_ab ** 2, axis=2) + np.sum(back ** 2, axis=2)) + beta
        return (err2 < bound).astype(np.float32)
    if mode == "soft":
        return np.exp(-err2 / (2.0 * sigma ** 2)).astype(np.float32)
    if mode == "none":
        return np.ones(err2.shape, np.float32)
    raise ValueError(f"unknown consistency mode {mode!r} (hard, soft, none)")


def flows_to_t(f01: np.ndarray, f10: np.ndarray, t: float, approx: str = "linear"
               ) -> tuple[np.ndarray, np.ndarray]:
    """(F_t->0, F_t->1) from the two input flows (see the module docstring)."""
    if approx == "linear":
        return t * f10, (1.0 - t) * f01
    if approx == "linear_own":
        return -t * f01, -(1.0 - t) * f10
    if approx == "slomo":
        ft0 = -(1.0 - t) * t * f01 + t * t * f10
        ft1 = (1.0 - t) ** 2 * f01 - t * (1.0 - t) * f10
        return ft0, ft1
    raise ValueError(f"unknown flow approximation {approx!r} (linear, linear_own, slomo)")


class DISFlowInterpolator:
    """:class:`~models.interfaces.FrameInterpolator`: DIS flow + backward warp + consistency-weighted blend."""

    arbitrary_t = True

    def __init__(self, approx: str = "linear", consistency: str = "hard", alpha: float = 0.01,
                 beta: float = 0.5, sigma: float = 1.0, weighting: str = "self",
                 preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        flows_to_t(np.zeros((1, 1, 2), np.float32), np.zeros((1, 1, 2), np.float32), 0.5, approx)  # validate
        if consistency not in ("hard", "soft", "none"):
            raise ValueError(f"unknown consistency mode {consistency!r} (hard, soft, none)")
        self.approx = approx
        self.consistency = consistency
        self.alpha, self.beta, self.sigma = alpha, beta, sigma
        if weighting not in ("self", "cross"):
            raise ValueError(f"unknown weighting {weighting!r} (self, cross)")
        self.weighting = weighting
        self.preset = preset

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        if all(t in (0.0, 1.0) for t in ts):
            return [frame0.copy() if t == 0.0 else frame1.copy() for t in ts]
        f01, f10 = dis_flow_pair(frame0, frame1, self.preset)  # once per pair, (H, W, 2)
        kw = dict(mode=self.consistency, alpha=self.alpha, beta=self.beta, sigma=self.sigma)
        c0 = fb_consistency(f01, f10, **kw)  # (H, W), at frame 0's pixels
        c1 = fb_consistency(f10, f01, **kw)  # (H, W), at frame 1's pixels
        # colours and consistency travel together: one remap of (R, G, B, c) per frame
        src0 = np.dstack([frame0.astype(np.float32), c0])  # (H, W, 4)
        src1 = np.dstack([frame1.astype(np.float32), c1])
        out = []
        for t in ts:
            if t == 0.0 or t == 1.0:
                out.append((frame0 if t == 0.0 else frame1).copy())
                continue
            ft0, ft1 = flows_to_t(f01, f10, t, self.approx)
            w0 = backward_warp_cv2(src0, ft0)  # (H, W, 4)
            w1 = backward_warp_cv2(src1, ft1)
            k0, k1 = (w0[..., 3:], w1[..., 3:]) if self.weighting == "self" else (w1[..., 3:], w0[..., 3:])
            a0 = (1.0 - t) * k0
            a1 = t * k1
            den = a0 + a1
            plain = den < 1e-6
            a0 = np.where(plain, 1.0 - t, a0)
            a1 = np.where(plain, t, a1)
            out.append(to_uint8((a0 * w0[..., :3] + a1 * w1[..., :3]) / (a0 + a1), PIXELS))
        return out
