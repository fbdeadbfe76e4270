"""RIFE as a FrameForge model: :class:`RifeInterpolator` runs :class:`~models.backbones.ifnet.IFNet` on uint8 frames
at any t, and hands its motion (flows at t and blend mask) to the models that build on it.

* **Padding**: frames are edge-replicated at the bottom/right to a multiple of 4 x the coarsest level (64 for the
  default list), then cropped back.
* **Level list** per pair from the motion (``level_mode="motion"``, :func:`levels_for_motion`): the first IFNet
  block alone at 1/16 of the frame (:meth:`IFNet.coarse_flow`, on the encoder features the full pass reuses) gives
  the pair's displacement; a small one gets the finer list (8, 4, 2, 1, 0.5), a large one the frame-size rule. Or
  from the frame size alone (``level_mode="size"``, :func:`levels_for`, the rule before): RIFE's list
  (16, 8, 4, 2, 1) divided by a factor k (:data:`LEVEL_RULE`). Both picked on training clips with
  ``python -m bench.rife_levels`` (``--motion`` for the threshold).
* **Tiles**: frames above ``max_pixels`` are interpolated in overlapping tiles (``tile``, ``overlap``) with blended
  seams; the motion of the whole frame is not needed at once.
* **Precision**: fp16 autocast on CUDA (models.device); on the CPU fp32, or bf16 autocast with ``cpu_bf16=True``.
* **CPU form** (``cpu_mode``, :mod:`models.backbones.cpu_fast`): on the CPU IFNet runs as an inference copy in
  channels-last order or compiled, the same weights; None = :data:`CPU_MODE`, measured with
  ``python -m bench.vfi_speed --peers``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.device import inference_device
from models.imageio import check_pair, check_ts, to_tensor, to_uint8
from models.ops.tiles import tiled

from .ifnet import LEVELS, IFNet, merge
from .runner import NetRunner

#: Short-side bounds (pixels) -> level divisor k (levels = LEVELS / k), from ``python -m bench.rife_levels`` on
#: training triplets (bench/results/rife_levels.json): k = 2 wins at 240p (+0.25 dB, 239 ms), is only +0.09 dB at
#: 480p for 3.7x the time and loses at 720p, where k = 1 wins; k = 0.5 above 1440p is RIFE's own advice for UHD
#: (no UHD training clips here to check it).
LEVEL_RULE = ((360, 2.0), (1440, 1.0), (float("inf"), 0.5))


def levels_for(h: int, w: int, rule=LEVEL_RULE) -> tuple[float, ...]:
    """Level list for an (h, w) frame: LEVELS / k with k from the first rule row whose short side bound >= min(h, w).
    """
    short = min(h, w)
    k = next(k for bound, k in rule if short <= bound)
    return tuple(s / k for s in LEVELS)


#: The motion rule (``python -m bench.rife_levels --motion`` on training triplets, bench/results/rife_levels_motion.json):
#: motion = 2 x the ``quantile`` of the coarse flows' magnitude |F_t->0|, |F_t->1| at t = 0.5 (the frame-to-frame
#: displacement in pixels), in pixels of a frame scaled to a 480 px short side when ``per_480`` (else of the frame);
#: at most ``threshold`` -> LEVELS / ``k_small``, above -> LEVELS / ``k_large`` (None: the size rule's k). Frames with
#: a short side above ``max_short`` keep the size rule (no such training clips).
#: Tuned (bench/results/rife_levels_motion.json, 108 training triplets at 240/480/720p, gaps 1/2/4): against the
#: hypothesis "small motion, finer list", near-static pairs (<= 3 px) do better with the COARSER list (16..1: at 240p
#: +0.14 dB over the size rule's 8..0.5, for a third of the time) and moving ones with the finer; the best rule
#: overall (<= 4 px: 16..1, else 8..0.5 at every size) adds only +0.007 dB more for 2.2x the time, so the rule
#: taken is the best one no slower than the size rule.
MOTION_RULE = {"quantile": 0.9, "threshold": 3.0, "per_480": False, "k_small": 1.0, "k_large": None, "max_short": 720}
#: Level modes of :class:`RifeInterpolator`: per pair from the motion, or from the frame size alone.
LEVEL_MODES = ("motion", "size")
#: The mode of ``registry.create("rife")``: "motion", measured with ``python -m bench.rife_levels --eval`` (bench.vfi's
#: protocol, bench/results/rife_levels_eval_*.json): UCF101 34.220 dB against the size rule's 34.003, DAVIS 27.396
#: against 27.414, the gap-4 windows (480p: both rules give 16..1) equal; dis_flow 33.306 / 26.292 below.
DEFAULT_LEVEL_MODE = "motion"
#: IFNet's form on the CPU (:mod:`models.backbones.cpu_fast`) when ``cpu_mode`` is None: channels-last, which
#: needs no compiler (``python -m bench.vfi_speed --peers``: 2.09x / 2.14x the reference IFNet at 480p / 720p against
#: plain fp32's 1.73x / 1.66x, outputs 92-93 dB from plain's; bench/results/vfi_peers_speed.json).
CPU_MODE = "channels_last"
#: The sub-networks ``cpu_mode="compile"`` compiles.
COMPILE_PARTS = ("encode", "block0", "block1", "block2", "block3", "block4")


def motion_px(coarse: torch.Tensor, quantile: float = MOTION_RULE["quantile"]) -> torch.Tensor:
    """Per pair (B,) frame-to-frame displacement in pixels from :meth:`IFNet.coarse_flow` at t = 0.5 (B, 4, h, w):
    2 x the ``quantile`` over pixels of max(|F_t->0|, |F_t->1|)."""
    c = coarse.float()
    mag = torch.maximum(c[:, :2].norm(dim=1), c[:, 2:].norm(dim=1)).flatten(1)  # (B, h w)
    return 2.0 * torch.quantile(mag, quantile, dim=1)


def levels_for_motion(h: int, w: int, motion: float, rule=LEVEL_RULE, motion_rule: dict | None = None
                      ) -> tuple[float, ...]:
    """Level list for an (h, w) pair whose displacement is ``motion`` px (:func:`motion_px`): LEVELS / k_small when
    the motion (per 480 px of short side if ``per_480``) is at most the threshold, else LEVELS / k_large (None: the
    size rule's k); the size rule above max_short."""
    m = {**MOTION_RULE, **(motion_rule or {})}
    short = min(h, w)
    k = next(k for bound, k in rule if short <= bound)
    if short <= m["max_short"]:
        x = motion * 480.0 / short if m["per_480"] else motion
        k = (m["k_small"] if x <= m["threshold"] else m["k_large"]) or k
    return tuple(s / k for s in LEVELS)


class RifeInterpolator(NetRunner):
    """:class:`~models.interfaces.FrameInterpolator` with RIFE 4.25's IFNet; ``arbitrary_t``."""

    arbitrary_t = True

    def __init__(self, net: IFNet | None = None, levels: Sequence[float] | None = None,
                 max_pixels: int = 3840 * 2160, tile: int = 1024, overlap: int = 128, cpu_bf16: bool = False,
                 level_mode: str | None = None, cpu_mode: str | None = None, motion_rule: dict | None = None):
        from .cpu_fast import check_mode

        level_mode = level_mode or DEFAULT_LEVEL_MODE
        self.cpu_mode = check_mode(cpu_mode)
        self.motion_rule = dict(motion_rule) if motion_rule else None  # None: MOTION_RULE
        if level_mode not in LEVEL_MODES:
            raise ValueError(f"level_mode must be one of {LEVEL_MODES}, got {level_mode!r}")
        self.net = (net or IFNet()).eval()
        self.levels = tuple(levels) if levels else None  # None: per pair (level_mode)
        self.level_mode = level_mode
        self.max_pixels, self.tile, self.overlap = int(max_pixels), int(tile), int(overlap)
        self.cpu_bf16 = cpu_bf16

    def _net(self, device: torch.device) -> IFNet:
        """The network to run on ``device``: ``self.net`` there, or on the CPU its copy in the CPU form."""
        return self._net_on(device, self.cpu_mode or CPU_MODE, COMPILE_PARTS, "IFNet")

    def _levels(self, h: int, w: int) -> tuple[float, ...]:
        """The list that does not need the frames: fixed, or the size rule."""
        return self.levels or levels_for(h, w)

    def _by_motion(self, h: int, w: int) -> bool:
        """Whether the pair's motion picks its list: motion mode, no fixed list, and the rule offering two different
        lists at this size (at 720p both are 16..1: measuring would only cost time)."""
        rule = {**MOTION_RULE, **(self.motion_rule or {})}
        return (self.levels is None and self.level_mode == "motion" and min(h, w) <= rule["max_short"]
                and levels_for_motion(h, w, 0.0, motion_rule=self.motion_rule)
                != levels_for_motion(h, w, float("inf"), motion_rule=self.motion_rule))

    @torch.no_grad()
    def pair_levels(self, img0: torch.Tensor, img1: torch.Tensor) -> tuple[tuple[float, ...], float | None]:
        """(level list, displacement in px or None when not measured) for one pair of float frames (1, 3, H, W)."""
        h, w = img0.shape[-2:]
        if not self._by_motion(h, w):
            return self._levels(h, w), None
        net = self._net(img0.device)
        a, b = self._padded(img0, img1, 64)
        with self._precision(img0.device):
            m = float(motion_px(net.coarse_flow(a, b))[0])
        return levels_for_motion(h, w, m, motion_rule=self.motion_rule), m

    @staticmethod
    def _padded(img0: torch.Tensor, img1: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = img0.shape[-2:]
        pad = (0, (-w) % multiple, 0, (-h) % multiple)
        return F.pad(img0, pad, mode="replicate"), F.pad(img1, pad, mode="replicate")

    @torch.no_grad()
    def motion(self, img0: torch.Tensor, img1: torch.Tensor, t: float | torch.Tensor,
               levels: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """IFNet's motion at t for float frames (B, 3, H, W) in [0, 1], any H, W (padded inside):
        (F (B, 4, H, W): F_t->0 then F_t->1 in pixels, mask M (B, 1, H, W) in [0, 1], the weight of frame 0).

            I_t ~ M W(I_0, F_t->0) + (1 - M) W(I_1, F_t->1)

        ``levels``: the list to use; None: the fixed list, else the frame-size rule (the motion-chosen list is
        :meth:`pair_levels`; the aligned kernel models call this with the rule they were trained with).
        IFNet runs on the frames' device (callers such as the aligned interpolators pass frames already there).
        """
        net = self._net(img0.device)
        h, w = img0.shape[-2:]
        levels = tuple(levels) if levels else self._levels(h, w)
        a, b = self._padded(img0, img1, max(64, int(4 * max(levels))))
        return self._motion(net, a, b, t, levels, None, h, w)

    def _motion(self, net, a, b, t, levels, encoded, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        with self._precision(a.device):
            flow, mask = net.flows(a, b, t, levels, encoded=encoded)
        return flow[:, :, :h, :w].float(), torch.sigmoid(mask[:, :, :h, :w].float())

    @torch.no_grad()
    def _frames(self, img0: torch.Tensor, img1: torch.Tensor, ts: Sequence[float]) -> list[torch.Tensor]:
        """I_t (3, H, W) for each t, one IFNet pass per t (the blocks take t as input); the level list is chosen
        once for the pair (:meth:`pair_levels`), the encoder runs once."""
        net = self._net(img0.device)
        h, w = img0.shape[-2:]
        encoded = None
        if self._by_motion(h, w):
            # both candidate lists pad to 64 (coarsest level 16 or 8), so the encoder's features serve both passes
            a, b = self._padded(img0, img1, 64)
            with self._precision(img0.device):
                encoded = net.encode_pair(a, b)
                m = motion_px(net.coarse_flow(a, b, encoded=encoded))[0].item()  # the host value (CUDA syncs here)
            levels = levels_for_motion(h, w, m, motion_rule=self.motion_rule)
        else:
            levels = self._levels(h, w)
            a, b = self._padded(img0, img1, max(64, int(4 * max(levels))))
            if len(ts) > 1:
                with self._precision(img0.device):
                    encoded = net.encode_pair(a, b)
        self.last_levels = levels  # what the last pair used (benchmarks read it)
        out = []
        for t in ts:
            flow, m = self._motion(net, a, b, t, levels, encoded, h, w)
            out.append(merge(img0, img1, flow, m)[0])
        return out

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        check_pair(frame0, frame1)
        ts = check_ts(ts)
        inner = [t for t in ts if 0.0 < t < 1.0]
        made: dict[float, np.ndarray] = {}
        if inner:
            device = inference_device()  # motion() runs IFNet where the frames are
            h, w = frame0.shape[:2]
            if h * w <= self.max_pixels:
                x = to_tensor([frame0, frame1], device)
                made = {t: to_uint8(f) for t, f in zip(inner, self._frames(x[:1], x[1:], inner))}
            else:
                for t in inner:
                    def run(y, x0, th, tw, t=t):
                        x = to_tensor([frame0[y:y + th, x0:x0 + tw], frame1[y:y + th, x0:x0 + tw]], device)
                        return self._frames(x[:1], x[1:], [t])[0].float().permute(1, 2, 0).cpu().numpy()

                    made[t] = to_uint8(tiled(h, w, self.tile, self.overlap, run))
        return [frame0.copy() if t == 0.0 else frame1.copy() if t == 1.0 else made[t] for t in ts]

    def __repr__(self) -> str:
        return (f"RifeInterpolator(levels={self.levels or 'auto'}, level_mode={self.level_mode!r}, "
                f"cpu_bf16={self.cpu_bf16}, cpu_mode={self.cpu_mode or CPU_MODE!r})")

