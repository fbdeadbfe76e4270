"""MoTIF (Chen et al., 2025, "MoTIF: Learning Motion Trajectories with Local Implicit Neural Functions for
Continuous Space-Time Video Super-Resolution"), the official ``LunaTokis(setting=5)`` of
sichun233746/MoTIF ``models/modules/Ours.py`` (also Eunjnnn/bfstvsr ``models/modules/MoTIF.py``).

BF-STVSR was built from this code: the encoder, the nearest-cell query sampling, the softmax splatting, the extra
channels and the 198-input SIREN decoder are the same, so :class:`MoTIF` subclasses :class:`BFSTVSR` and only
replaces the two mappers and adds the motion inputs. Per frame pair (LR I0, I1 (B, 3, H, W), HR size HH x WW):

1. **RAFT-small at inference** (no grad): both frames bilinearly upsampled to HH x WW, flows f_ab = RAFT(I_a↑, I_b↑)
   for (a, b) = 00, 01, 10, 11 (``iters`` = 4 as in the official test), resized to LR and scaled by H/HH;
   f_00 = f_11 = 0. (Here: x by W/WW and y by H/HH — the same at a uniform scale; HH, WW are rounded up to
   multiples of 8 for RAFT, which the official code requires outright.)
2. **Reliability maps** per flow f_ab (LR):
   psi_photo = mean_c |I_a - W(I_b, f_ab)|,  psi_flow = mean_c |f_ab + W(f_ba, f_ab)| / 10,
   psi_var = mean_c sqrt(max(G*f² - (G*f)², 1e-9))  (G = the 3x3 Gaussian ``g_filter``, reflect padding),
   with W the official ``BackWarp``: bilinear, border padding, align_corners=True but normalised by x/W
   (so a sample lands at (p + f)·(W-1)/W; the quirk is kept).
3. ``flow_process`` (conv encoder, groups=2): per source frame a, the 14 channels
   [f_a0/20, psi(f_a0), (a, 0), f_a1/20, psi(f_a1), (a, 1)] (the official ``ref_start_durations`` / 8) ->
   motion context T_a (64 ch, LR).
4. INRs on the nearest LR cell q of each HR query, δ = (c - q)·(H, W):
   spatial  s_a = imnet([F_a(q), δ])                         (66 -> 64; replaces BF-STVSR's Fourier mapper)
   motion   m_a(t) = flow_imnet([T_a(q), t, δ])              (67 -> 3; replaces the B-spline mapper; the time
   input is t for **both** frames — the frame identity is in T_a)
   flow_a = m_a[0:2]·20·HH/H (forward flow a -> t), z_a = ReLU(m_a[2])·α.
5. softmax splatting, extra channels and decoder exactly as BF-STVSR (``BFSTVSR._synthesise``).

Unused official parameters kept for a strict load: ``norm_gamma`` (1, 3, 1), ``norm_beta`` (1, 3, 1),
``shuffle`` (1x1 conv 64 -> 64). RAFT-small is a submodule ``flow_predictor`` (990,162 parameters);
13,775,768 parameters in all (``g_filter`` included, as a non-trainable Parameter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.backbones.raft_small import RAFTSmall
from models.ops.siren import Siren
from models.ops.warp import sample
from models.stvsr.bfstvsr import BFSTVSR, run_chunked
from models.stvsr.geometry import QueryGeometry


class LateralBlock(nn.Module):
    """x + conv3x3(LReLU(conv3x3(x)))  (keys ``layers.0``, ``layers.2``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(dim, dim, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def flow_encoder(in_ch: int = 14, nf: int = 64) -> nn.Sequential:
    """``flow_process``: conv(g2) -> conv(g2) -> LReLU -> 5 LateralBlocks -> LReLU -> conv (reflect padding)."""
    return nn.Sequential(nn.Conv2d(in_ch, nf, 3, 1, 1, groups=2), nn.Conv2d(nf, nf, 3, 1, 1, groups=2),
                         nn.LeakyReLU(0.1), *[LateralBlock(nf) for _ in range(5)], nn.LeakyReLU(0.1),
                         nn.Conv2d(nf, nf, 3, 1, 1, padding_mode="reflect"))


def official_backwarp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """MoTIF's ``BackWarp(clip=True)``: img(p + f(p)) sampled at ((p + f)·(size-1)/size), border padding.

    (The official code normalises x/W·2-1 but samples with align_corners=True, so positions shrink by (W-1)/W.)"""
    h, w = flow.shape[-2:]
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    return sample(img, (xs + flow[:, 0]) * ((w - 1) / w), (ys + flow[:, 1]) * ((h - 1) / h), "border")


@dataclass
class MotionGeometry(QueryGeometry):
    """The query geometry plus this frame pair's LR motion context T (2B, C, Hp, Wp), frame 0 rows first.

    Built per call by :meth:`MoTIF._prepare`, so the inherited plain and cached paths carry it to the motion
    mapper."""

    context: torch.Tensor | None = None

    def to(self, device) -> "MotionGeometry":
        ctx = None if self.context is None else self.context.to(device)
        return MotionGeometry(self.iy.to(device), self.ix.to(device), self.rel.to(device), self.scale, self.size, ctx)


class MoTIF(BFSTVSR):
    """MoTIF at the official size. ``raft_iters``: RAFT refinements at inference (official test: 4)."""

    def __init__(self, nf: int = 64, n_extract: int = 5, n_trunk: int = 40, groups: int = 8, tmb: bool = True,
                 mapper_hidden: Sequence[int] = (64, 64, 256), decoder_hidden: Sequence[int] = (64, 64, 64, 256),
                 raft_iters: int = 4, chunk: int | None = None):
        super().__init__(nf, n_extract, n_trunk, groups, tmb, mapper_hidden, nf, nf, decoder_hidden, chunk)
        self.raft_iters = raft_iters
        self.flow_predictor = RAFTSmall()
        self.flow_process = flow_encoder(14, nf)
        g = torch.tensor([[1 / 16, 1 / 8, 1 / 16], [1 / 8, 1 / 4, 1 / 8], [1 / 16, 1 / 8, 1 / 16]])
        self.g_filter = nn.Parameter(g.view(1, 1, 1, 3, 3), requires_grad=False)
        self.norm_gamma = nn.Parameter(torch.ones(1, 3, 1))  # unused by the official forward
        self.norm_beta = nn.Parameter(torch.zeros(1, 3, 1))  # unused
        self.shuffle = nn.Conv2d(nf, nf, 1)  # unused

    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.flow_imnet = Siren(nf + 1 + 2, hidden, 3)  # [T_a(q), t, δ] -> (flow, z)
        self.imnet = Siren(nf + 2, hidden, nf)  # [F_a(q), δ] -> spatial feature

    # -- motion inputs ----------------------------------------------------------------------------------------
    @staticmethod
    def raft_size(hr_size: tuple[int, int]) -> tuple[int, int]:
        """The size RAFT runs at: HH x WW rounded up to multiples of 8 (the official code requires multiples)."""
        return tuple(8 * math.ceil(n / 8) for n in hr_size)

    @torch.no_grad()
    def motion_inputs(self, x: torch.Tensor, hr_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 2, 3, H, W) in [0, 1] -> flows (4B, 2, H, W) ordered (ab = 00, 01, 10, 11; b) in LR pixels, and
        reliability maps (4B, 3, H, W) = [psi_photo, psi_flow / 10, psi_var]."""
        b, _, _, h, w = x.shape
        rh, rw = self.raft_size(hr_size)
        up = F.interpolate(x.reshape(b, 6, h, w), size=(rh, rw), mode="bilinear", align_corners=False)
        u0, u1 = up[:, :3], up[:, 3:]
        flow = self.flow_predictor(torch.cat([u0, u0, u1, u1]) * 255.0, torch.cat([u0, u1, u0, u1]) * 255.0,
                                   iters=self.raft_iters)
        # back to LR; the official scales both components by H/HH (the same as W/WW at a uniform scale)
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        flow = flow * torch.tensor([w / rw, h / rh], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
        flow = flow.view(4, b, 2, h, w)
        flow[0] = 0.0  # 0 -> 0
        flow[3] = 0.0  # 1 -> 1
        flow = flow.reshape(4 * b, 2, h, w)
        fr0, fr1 = x[:, 0], x[:, 1]
        warped = official_backwarp(torch.cat([fr0, fr1, fr0, fr1]), flow)
        psi_photo = (torch.cat([fr0, fr0, fr1, fr1]) - warped).abs().mean(1)
        f4 = flow.view(4, b, 2, h, w)
        back = official_backwarp(-torch.cat([f4[0], f4[2], f4[1], f4[3]]), flow)  # f_ba warped onto a
        psi_flow = (flow - back).abs().mean(1)
        stats = F.conv3d(F.pad(torch.cat([flow ** 2, flow], 1), (1, 1, 1, 1), mode="reflect").unsqueeze(1),
                         self.g_filter.to(flow.dtype)).squeeze(1)  # (4B, 4, H, W): G*f², G*f
        mean_sq, mean = torch.split(stats, 2, 1)
        psi_var = (mean_sq - mean ** 2).clamp(min=1e-9).sqrt().mean(1)
        return flow, torch.stack([psi_photo, psi_flow / 10.0, psi_var], 1)

    def motion_context(self, flow: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """flows / psi (4B, ·, H, W) ordered (ab, b) -> T (2B, nf, H, W), frame 0 rows first."""
        b4, _, h, w = flow.shape
        b = b4 // 4
        per_src = lambda a: a.view(2, 2, b, -1, h, w).transpose(1, 2)  # noqa: E731  (a, b, target, C, H, W)
        src = torch.arange(2, dtype=flow.dtype, device=flow.device).view(2, 1, 1, 1, 1, 1)  # a
        tgt = torch.arange(2, dtype=flow.dtype, device=flow.device).view(1, 1, 2, 1, 1, 1)  # target
        ids = torch.cat(torch.broadcast_tensors(src, tgt), 3).expand(2, b, 2, 2, h, w)
        feat = torch.cat([per_src(flow) / 20.0, per_src(psi), ids], 3)  # (2, B, 2, 7, H, W)
        return self.flow_process(feat.reshape(2 * b, 14, h, w))

    def _prepare(self, lr0: torch.Tensor, lr1: torch.Tensor, out_size, geo: QueryGeometry | None):
        x, geo = super()._prepare(lr0, lr1, out_size, geo)
        h, w = lr0.shape[-2:]
        hp, wp = x.shape[-2:]  # padded LR: RAFT runs at the matching HR size
        hr = (round(hp * geo.scale), round(wp * geo.scale))  # geo.scale = HH / H (also for a tile's geometry)
        context = self.motion_context(*self.motion_inputs(x, hr))
        return x, MotionGeometry(geo.iy, geo.ix, geo.rel, geo.scale, geo.size, context)

    # -- the two mappers ----------------------------------------------------------------------------------------
    def _with_rel(self, q: torch.Tensor, geo: QueryGeometry) -> torch.Tensor:
        return torch.cat([q, geo.rel.reshape(1, -1, 2).expand(q.shape[0], -1, -1).to(q.dtype)], -1)

    def spatial_features(self, lr_feat: torch.Tensor, q_feat: torch.Tensor, geo: QueryGeometry) -> torch.Tensor:
        return run_chunked(self.imnet, self._with_rel(q_feat, geo), self.chunk)

    def motion_state(self, q_feat: torch.Tensor, geo: MotionGeometry) -> tuple:
        ctx = geo.nearest_rows(geo.context)  # (2B, Q, nf) nearest T_a
        return (ctx, geo.rel.reshape(1, -1, 2).to(ctx.dtype))

    def motion_at(self, state: tuple, t: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        """t (2·B·repeat,) = [t, 1 - t] as BFSTVSR passes it (frame, b, n); MoTIF feeds t to both frames."""
        ctx, rel = state
        ctx = ctx.repeat_interleave(repeat, 0) if repeat > 1 else ctx
        half = t.shape[0] // 2
        t = torch.cat([t[:half], 1 - t[half:]])
        rows, q = ctx.shape[:2]
        x = torch.cat([ctx, t.view(-1, 1, 1).expand(rows, q, 1).to(ctx.dtype), rel.expand(rows, q, 2)], -1)
        return run_chunked(self.flow_imnet, x, self.chunk)

    def load_official(self, state: dict[str, torch.Tensor]) -> None:
        """Strict load of an official flat state_dict, RAFT-small included (a ``module.`` prefix is stripped)."""
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        self.load_state_dict(state, strict=True)


__all__ = ["MoTIF", "MotionGeometry", "flow_encoder", "official_backwarp"]
