"""BF-STVSR's two mappers on a pretrained trunk, as a residual on the best two-stage frame (FrameForge's ``bfstvsr``).

Inputs for one LR pair (I0, I1), an output size (HH, WW) and a time t:

* F0, F1: BasicVSR's fused propagated features (64 ch, LR) at the two anchors (the frozen pretrained trunk),
  standardised per channel (statistics of the training windows, stored as buffers) and reduced to ``nf`` channels by a
  learned 1x1 ``adapter``; V01, V10: SpyNet flows between the anchors (LR pixels).
* B_t: the base frame, ``basicvsr+rife`` at (t, HH x WW) (BasicVSR x4 -> Lanczos, RIFE at t).

For an HR query with nearest LR feature f (from F0 or F1) and offset δ to its LR cell centre:

* Fourier mapper (space): s = Linear(A ⊙ [cos(π F δ); sin(π F δ)]), A, F = conv3x3(SIREN(f))   (the paper's)
* B-spline mapper (time): c, k = SIREN([f, δ]); m(t') = Linear(c ⊙ β³(d ⊙ (t' - k)))          (the paper's)
  flow_{0->t} = t' · V01 · (HH/H) + m[0:2] · (HH/H),  z = ReLU(m[2]) · α                  (t' = t, or 1 - t for I1)
  i.e. the mapper learns the departure from linear motion along the SpyNet flow (the paper predicts the whole flow
  and forces it to RAFT flows early; here SpyNet's linear motion is the built-in teacher, and an L1 penalty on m
  keeps the learned part small).
* softmax splatting of [s, f] from both anchors to t (weights e^z), normalised, plus [max e^z, count/16, Z/count];
* decoder: r = SIREN([splat, extra, E(B_t), t]) with E a 3x3 conv + LReLU on the base frame (in place of ZSM's
  interpolated feature F01, which BasicVSR does not have);   I_t = clamp(B_t + r, 0, 1).

The decoder's last Linear (weights and bias) and the mapper's last Linear start at zero, so the untrained model
returns B_t exactly. ``forward`` is the plain path; ``encode`` + ``decode_t`` the cached one (adapter, sampling, the
Fourier mapper and the B-spline coefficients once per pair; each t costs the basis, the splat and the decoder).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.ops.siren import Siren
from models.ops.softsplat import pixel_rows, splat_two_frames
from models.stvsr.bfstvsr import BSplineMapper, FourierMapper, run_chunked
from models.stvsr.geometry import QueryGeometry, query_geometry


@dataclass
class TrunkCache:
    """What ``encode`` keeps for one pair (tensors over 2B rows: frame 0 then frame 1)."""

    payload: torch.Tensor  # (2B, Q, 2nf) what is splatted: [spatial feature s, trunk feature f]
    lin_flow: torch.Tensor  # (2B, 2, HH, WW) V01 (rows 0..B-1), V10 (rows B..) in HR pixels, nearest-sampled
    motion: tuple  # t-independent state of the motion mapper
    geo: QueryGeometry


class TrunkSTVSR(nn.Module):
    """The residual space-time head: 61,895 parameters at the default size (76,615 with a 32-wide refiner)."""

    encoding = "bspline_fourier"

    def __init__(self, trunk_features: int = 64, nf: int = 32, mapper_hidden: Sequence[int] = (32, 32, 128),
                 fourier_features: int = 32, bspline_features: int = 32,
                 decoder_hidden: Sequence[int] = (32, 32, 32, 128), refiner: int = 0, chunk: int | None = None):
        super().__init__()
        self.nf, self.chunk = nf, chunk
        self.config = dict(trunk_features=trunk_features, nf=nf, mapper_hidden=tuple(mapper_hidden),
                           fourier_features=fourier_features, bspline_features=bspline_features,
                           decoder_hidden=tuple(decoder_hidden), refiner=refiner)
        # the trunk's features are small (BasicVSR's fused feature: std ~0.05) and a SIREN's first layer barely
        # moves for inputs that small: they are standardised with per-channel statistics of the training windows
        self.register_buffer("feat_mean", torch.zeros(trunk_features))
        self.register_buffer("feat_std", torch.ones(trunk_features))
        self.adapter = nn.Conv2d(trunk_features, nf, 1)
        self.build_mappers(nf, mapper_hidden, fourier_features, bspline_features)
        self.base_enc = nn.Conv2d(3, nf, 3, padding=1)
        self.synth_net = Siren(self.decoder_inputs(nf), decoder_hidden, refiner or 3, outermost_linear=True)
        # refiner > 0: the decoder outputs a ``refiner``-channel map and two 3x3 convs (with the base frame) make
        # the residual: spatial context the per-pixel SIREN lacks
        self.refine = nn.Sequential(nn.Conv2d(refiner + 3, refiner, 3, padding=1), nn.LeakyReLU(0.1),
                                    nn.Conv2d(refiner, 3, 3, padding=1)) if refiner else None
        self.alpha = nn.Parameter(torch.tensor([-20.0]))
        self.zero_last()

    @torch.no_grad()
    def set_feature_stats(self, feats: torch.Tensor) -> None:
        """Per-channel mean and std of trunk features (N, C, h, w) for the standardisation (training start)."""
        self.feat_mean.copy_(feats.float().mean((0, 2, 3)))
        self.feat_std.copy_(feats.float().std((0, 2, 3)).clamp_min(1e-3))

    def output_layer(self) -> nn.Module:
        return self.refine[-1] if self.refine is not None else self.synth_net.net[-1]

    def zero_last(self) -> None:
        """The residual start: the output layer and the motion mapper's last layer at zero."""
        for lin in (self.output_layer(), self.motion_head()):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    # -- the two mappers (overridden by the concat ablation) -------------------------------------------------
    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.flow_imnet = BSplineMapper(nf + 2, hidden, bspline_features, 3)
        self.imnet = FourierMapper(nf, hidden, fourier_features, nf)

    def motion_head(self) -> nn.Linear:
        return self.flow_imnet.final_linear

    @staticmethod
    def decoder_inputs(nf: int) -> int:
        """splat [spatial nf, feature nf] + extra 3 + E(B_t) nf + t 1"""
        return 3 * nf + 4

    def spatial_features(self, lr_feat, q_feat, geo):
        return self.imnet(lr_feat, geo, self.chunk)

    def motion_state(self, q_feat, geo, lr_feat=None, flows=None):
        """t-independent motion state of the queries; ``lr_feat`` (2B, nf, h, w) and ``flows`` (2B, 2, h, w) (V01
        then V10, LR px) are there for encodings that read LR maps (MoTIF's motion context)."""
        q = torch.cat([q_feat, geo.rel.reshape(1, -1, 2).expand(q_feat.shape[0], -1, -1).to(q_feat.dtype)], -1)
        return self.flow_imnet.coefficients(q, self.chunk)

    def motion_at(self, state, t: torch.Tensor) -> torch.Tensor:
        """t (2B,) frame-relative times -> (2B, Q, 3)."""
        return self.flow_imnet.at(*state, t)

    # -- paths ------------------------------------------------------------------------------------------------
    def prepare(self, feat0: torch.Tensor, feat1: torch.Tensor, flow01: torch.Tensor, flow10: torch.Tensor,
                out_size: tuple[int, int] | None, geo: QueryGeometry | None) -> tuple[QueryGeometry, torch.Tensor]:
        """Checks the inputs; returns the query grid and the adapted LR features (2B, nf, h, w) (frame 0, frame 1)."""
        if feat0.shape != feat1.shape or flow01.shape != flow10.shape or flow01.shape[-2:] != feat0.shape[-2:]:
            raise ValueError(f"features {tuple(feat0.shape)}, {tuple(feat1.shape)} and flows "
                             f"{tuple(flow01.shape)}, {tuple(flow10.shape)} do not match")
        if geo is None:
            geo = query_geometry(tuple(feat0.shape[-2:]), (int(out_size[0]), int(out_size[1]))).to(feat0.device)
        feats = torch.cat([feat0, feat1], 0)
        feats = (feats - self.feat_mean.view(1, -1, 1, 1)) / self.feat_std.view(1, -1, 1, 1)
        return geo, self.adapter(feats)

    def encode(self, feat0: torch.Tensor, feat1: torch.Tensor, flow01: torch.Tensor, flow10: torch.Tensor,
               out_size: tuple[int, int] | None = None, geo: QueryGeometry | None = None) -> TrunkCache:
        """feat0/1 (B, Ct, h, w) trunk features, flow01/10 (B, 2, h, w) SpyNet flows (x, y) in LR pixels."""
        geo, lr_feat = self.prepare(feat0, feat1, flow01, flow10, out_size, geo)  # (2B, nf, h, w)
        q_feat = geo.nearest_rows(lr_feat)  # (2B, Q, nf)
        flows = torch.cat([flow01, flow10], 0)
        lin_flow = geo.nearest(flows) * geo.scale
        payload = torch.cat([self.spatial_features(lr_feat, q_feat, geo), q_feat], -1)
        return TrunkCache(payload, lin_flow, self.motion_state(q_feat, geo, lr_feat, flows), geo)

    @staticmethod
    def query_times(geo: QueryGeometry, base: torch.Tensor, t) -> tuple[int, int, int, torch.Tensor]:
        """Checks the base frame (B, 3, HH, WW) against the query grid: (HH, WW, B, t as (B,))."""
        hh, ww = geo.size
        if tuple(base.shape[-2:]) != (hh, ww):
            raise ValueError(f"base frame {tuple(base.shape[-2:])} does not match the query grid {(hh, ww)}")
        b = base.shape[0]
        return hh, ww, b, torch.as_tensor(t, dtype=base.dtype, device=base.device).reshape(-1).expand(b)

    def residual_frame(self, dec_in: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """The decoder over its per-query inputs (B, Q, ·), through the refiner when there is one, added to the base:
        clamp(B_t + r, 0, 1)."""
        b, _, hh, ww = base.shape
        res = run_chunked(self.synth_net, dec_in, self.chunk).transpose(1, 2).reshape(b, -1, hh, ww)
        if self.refine is not None:
            res = self.refine(torch.cat([res, base], 1))
        return (base + res).clamp(0, 1)

    def decode_t(self, cache: TrunkCache, base: torch.Tensor, t, return_motion: bool = False):
        """base (B, 3, HH, WW) in [0, 1] at time t (float or (B,)) -> (B, 3, HH, WW) [, the learned departure from
        linear motion m[0:2] (2B, 2, HH, WW), LR pixels]."""
        geo = cache.geo
        hh, ww, b, t = self.query_times(geo, base, t)
        tprime = torch.cat([t, 1 - t])  # (2B,)
        m = self.motion_at(cache.motion, tprime).transpose(1, 2).reshape(2 * b, 3, hh, ww)
        flow = tprime.view(-1, 1, 1, 1) * cache.lin_flow + m[:, :2] * geo.scale
        z = F.relu(m[:, 2:]) * self.alpha
        payload = cache.payload.transpose(1, 2).reshape(2 * b, -1, hh, ww)  # a channels-last view
        out, zsum, z_max, count = splat_two_frames(payload, flow, z, count_of=torch.ones_like(z))
        count_ = torch.where(count == 0, torch.ones_like(count), count)
        enc = F.leaky_relu(self.base_enc(base), 0.1)
        tcol = t.view(b, 1, 1).expand(b, hh * ww, 1)
        dec_in = torch.cat([pixel_rows(a) for a in (out, z_max, count / 16.0, zsum / count_, enc)] + [tcol],
                           -1)  # (B, Q, 3nf + 4): each (B, C, HH, WW) map as (B, Q, C) rows
        rgb = self.residual_frame(dec_in, base)
        return (rgb, m[:, :2]) if return_motion else rgb

    def forward(self, feat0, feat1, flow01, flow10, bases: torch.Tensor, ts: torch.Tensor,
                geo: QueryGeometry | None = None, return_motion: bool = False):
        """Plain path: bases (N, B, 3, HH, WW) at times ts (N,) or (B, N) -> (N, B, 3, HH, WW)
        [, the departures from linear motion (N, 2B, 2, HH, WW)]. ``geo``: the query grid of a window of the output
        (a tile: features cut to its LR cells), the whole (HH, WW) grid when None."""
        n, b = bases.shape[:2]
        ts = torch.as_tensor(ts, dtype=bases.dtype, device=bases.device)
        ts = ts.expand(b, n) if ts.dim() == 1 else ts
        cache = self.encode(feat0, feat1, flow01, flow10, bases.shape[-2:], geo)
        outs = [self.decode_t(cache, bases[i], ts[:, i], return_motion=True) for i in range(n)]
        rgb = torch.stack([o[0] for o in outs])
        return (rgb, torch.stack([o[1] for o in outs])) if return_motion else rgb


class TrunkConcatSTVSR(TrunkSTVSR):
    """The paper's ablation on the same trunk: (x, y, t) concatenation in place of the two mappers.

    space: s = SIREN([f, δ]);   time: m(t') = SIREN([f, δ, t'])   (the whole MLP runs again for every t)."""

    encoding = "concat"

    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.flow_imnet = Siren(nf + 3, hidden, 3, outermost_linear=True)
        self.imnet = Siren(nf + 2, hidden, nf, outermost_linear=True)

    def motion_head(self) -> nn.Linear:
        return self.flow_imnet.net[-1]

    @staticmethod
    def _with_rel(q_feat, geo):
        return torch.cat([q_feat, geo.rel.reshape(1, -1, 2).expand(q_feat.shape[0], -1, -1).to(q_feat.dtype)], -1)

    def spatial_features(self, lr_feat, q_feat, geo):
        return run_chunked(self.imnet, self._with_rel(q_feat, geo), self.chunk)

    def motion_state(self, q_feat, geo, lr_feat=None, flows=None):
        return (self._with_rel(q_feat, geo),)

    def motion_at(self, state, t):
        q = state[0]
        tcol = t.view(-1, 1, 1).expand(-1, q.shape[1], 1).to(q.dtype)
        return run_chunked(self.flow_imnet, torch.cat([q, tcol], -1), self.chunk)
