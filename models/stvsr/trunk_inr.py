"""VideoINR's and MoTIF's own encodings on the same pretrained trunk and residual start as ``bfstvsr``
(FrameForge's ``videoinr`` and ``motif``), so that the three encodings are compared on equal terms.

Shared with :class:`~models.stvsr.trunk.TrunkSTVSR`: the inputs (BasicVSR's standardised fused features F0, F1 through
a 1x1 adapter, SpyNet's V01 / V10, the ``basicvsr+rife`` base frame B_t), the conv encoding E(B_t) the decoder reads,
the optional refiner, and the residual I_t = clamp(B_t + r) with the last layers at zero (untrained = the base).

**MoTIF** (:class:`TrunkMoTIF`): coordinate-concatenation SIRENs and softmax splatting, as BF-STVSR's ablation, but
the motion INR reads MoTIF's *motion context* instead of the image feature:

  per source frame k, for its two motions (k->0, k->1; the self-motion zeroed):
      [v / 20, psi_photo, psi_flow / 10, psi_var, start / 8, duration / 8]                (7 ch, 14 per frame)
      psi_photo = mean_c |F_k - W(F_j, v)|,  psi_flow = |v + W(v_jk, v)|,  psi_var = local 3x3 std of v
  C_k = flow_process(...)  (two 3x3 convs, groups = 2: one group per motion)
  space: s = SIREN([f, δ]);   time: m(t') = SIREN([C_k(q), δ, t'])   -> departure from t'·V and the splat weight z

**VideoINR** (:class:`TrunkVideoINR`): no splatting; a spatial INR, a temporal INR that predicts two *backward*
flows from t, and backward warps:

  s(q, t)      = SIREN_feat([F0(q), F1(q), δ, t])                                        (spatial INR)
  f_{t->0,1}   = prior_t + SIREN_flow([s, F0(q), F1(q), t])                              (temporal INR, LR px)
      prior_t  = ( -(1-t)t V01 + t² V10 ,  (1-t)² V01 - t(1-t) V10 )    (Super SloMo's linear backward flows)
  r            = SIREN_dec([s, F0(p + f_{t->0}), F1(p + f_{t->1}), E(B_t), t])               (bilinear backward warps)

Departures from the papers (both): the encoder is the frozen BasicVSR, not a trained Zooming-SlowMo trunk; the flows
are SpyNet's (MoTIF: RAFT-small at inference), with the learned part a departure from linear motion; psi_photo is
measured on the trunk's features (the head is not given the LR frames); VideoINR's spatial INR does not read the raw
LR pair, and E(B_t) stands in for its middle feature F01; widths 32.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.ops.siren import Siren
from models.ops.warp import backward_warp, sample
from models.stvsr.bfstvsr import run_chunked
from models.stvsr.geometry import QueryGeometry
from models.stvsr.trunk import TrunkConcatSTVSR, TrunkSTVSR


# -- MoTIF ----------------------------------------------------------------------------------------------------------
def local_std(v: torch.Tensor) -> torch.Tensor:
    """(N, 2, h, w) flow -> (N, 1, h, w): the std of each component over the 3x3 neighbourhood (edges replicated),
    averaged over the two components."""
    p = F.pad(v, (1, 1, 1, 1), mode="replicate")
    mean = F.avg_pool2d(p, 3, 1)
    var = (F.avg_pool2d(p * p, 3, 1) - mean * mean).clamp_min(0)
    return var.sqrt().mean(1, keepdim=True)


def reliability(feat_src: torch.Tensor, feat_dst: torch.Tensor, flow: torch.Tensor, back: torch.Tensor):
    """MoTIF's reliability maps of the motion ``flow`` (N, 2, h, w) from a source frame to a destination frame
    (``back``: the destination's flow to the source): (psi_photo, psi_flow, psi_var), each (N, 1, h, w)."""
    photo = (feat_src - backward_warp(feat_dst, flow)).abs().mean(1, keepdim=True)
    cons = (flow + backward_warp(back, flow)).norm(dim=1, keepdim=True)
    return photo, cons, local_std(flow)


def motion_inputs(lr_feat: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """(2B, nf, h, w) features and (2B, 2, h, w) flows (V01 rows, then V10) -> (2B, 14, h, w), frame 0's rows
    holding (0->0 zeroed, 0->1) and frame 1's (1->0, 1->1 zeroed), each [v / 20, psi_photo, psi_flow / 10, psi_var,
    start / 8, duration / 8]."""
    b = lr_feat.shape[0] // 2
    f0, f1 = lr_feat[:b], lr_feat[b:]
    v01, v10 = flows[:b], flows[b:]
    zero = torch.zeros_like(v01[:, :1])

    def block(v, maps, start, duration):
        photo, cons, var = maps
        return torch.cat([v / 20, photo, cons / 10, var, zero + start / 8, zero + duration / 8], 1)

    still = (zero, zero, zero)
    frame0 = torch.cat([block(torch.zeros_like(v01), still, 0.0, 0.0),
                        block(v01, reliability(f0, f1, v01, v10), 0.0, 1.0)], 1)
    frame1 = torch.cat([block(v10, reliability(f1, f0, v10, v01), 1.0, -1.0),
                        block(torch.zeros_like(v10), still, 1.0, 0.0)], 1)
    return torch.cat([frame0, frame1], 0)


class TrunkMoTIF(TrunkConcatSTVSR):
    """MoTIF's encoding on the trunk: 41,575 parameters at the default size (56,295 with a 32-wide refiner)."""

    encoding = "motif"

    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.flow_process = nn.Sequential(nn.Conv2d(14, nf, 3, padding=1, groups=2), nn.LeakyReLU(0.1),
                                          nn.Conv2d(nf, nf, 3, padding=1))
        self.flow_imnet = Siren(nf + 3, hidden, 3, outermost_linear=True)  # [C_k(q), δ, t'] -> (flow, z)
        self.imnet = Siren(nf + 2, hidden, nf, outermost_linear=True)  # [f, δ] -> spatial feature

    def motion_state(self, q_feat, geo, lr_feat=None, flows=None):
        ctx = self.flow_process(motion_inputs(lr_feat, flows))  # (2B, nf, h, w)
        ctx_q = geo.nearest_rows(ctx)  # (2B, Q, nf)
        return (self._with_rel(ctx_q, geo),)


# -- VideoINR -------------------------------------------------------------------------------------------------------
def linear_backward_flows(v01: torch.Tensor, v10: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Super SloMo's approximation of the backward flows from time t to the two anchors (linear motion):
    f_{t->0} = -(1-t) t V01 + t² V10,  f_{t->1} = (1-t)² V01 - t (1-t) V10.   t broadcasts against (B, 1, ...)."""
    return -(1 - t) * t * v01 + t * t * v10, (1 - t) ** 2 * v01 - t * (1 - t) * v10


@dataclass
class INRCache:
    lr_feat: torch.Tensor  # (2B, nf, h, w): frame 0 rows, then frame 1
    q_feat: torch.Tensor  # (B, Q, 2nf) [F0(q), F1(q)]
    v01: torch.Tensor  # (B, 2, HH, WW) SpyNet flows at each query's LR cell, LR px
    v10: torch.Tensor
    pos: torch.Tensor  # (HH, WW, 2) (x, y) of each query in the LR crop's pixel coordinates
    geo: QueryGeometry


class TrunkVideoINR(TrunkSTVSR):
    """VideoINR's encoding on the trunk: 34,376 parameters at the default size (49,096 with a 32-wide refiner)."""

    encoding = "videoinr"

    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.feat_imnet = Siren(2 * nf + 3, hidden, nf, outermost_linear=True)  # [F0, F1, δ, t] -> s
        # [s, F0, F1, t] -> the departures of f_{t->0} and f_{t->1}
        self.flow_imnet = Siren(3 * nf + 1, hidden, 4, outermost_linear=True)

    def motion_head(self) -> nn.Linear:
        return self.flow_imnet.net[-1]

    @staticmethod
    def decoder_inputs(nf: int) -> int:
        """s nf + two warped features 2nf + E(B_t) nf + t 1"""
        return 4 * nf + 1

    def encode(self, feat0, feat1, flow01, flow10, out_size=None, geo=None) -> INRCache:
        geo, lr_feat = self.prepare(feat0, feat1, flow01, flow10, out_size, geo)
        b = feat0.shape[0]
        q = geo.nearest_rows(lr_feat)  # (2B, Q, nf)
        # the LR cell index plus the offset to its centre (rel is in half LR pixels)
        pos = torch.stack([geo.ix.view(1, -1).float() + geo.rel[..., 1] / 2,
                           geo.iy.view(-1, 1).float() + geo.rel[..., 0] / 2], -1)
        return INRCache(lr_feat, torch.cat([q[:b], q[b:]], -1), geo.nearest(flow01), geo.nearest(flow10),
                        pos.to(lr_feat.dtype), geo)

    @staticmethod
    def warp_features(cache: INRCache, f_t0: torch.Tensor, f_t1: torch.Tensor) -> list[torch.Tensor]:
        """F0 and F1 read at each query's LR position plus its backward flow (B, 2, HH, WW) (bilinear, edges
        repeated) -> 2 x (B, nf, HH, WW)."""
        b = f_t0.shape[0]
        x, y = cache.pos[..., 0], cache.pos[..., 1]
        return [sample(feat, x + f[:, 0], y + f[:, 1])
                for feat, f in ((cache.lr_feat[:b], f_t0), (cache.lr_feat[b:], f_t1))]

    def decode_t(self, cache: INRCache, base: torch.Tensor, t, return_motion: bool = False):
        geo = cache.geo
        hh, ww, b, t = self.query_times(geo, base, t)
        q = cache.q_feat
        tcol = t.view(b, 1, 1).expand(b, q.shape[1], 1).to(q.dtype)
        rel = geo.rel.reshape(1, -1, 2).expand(b, -1, -1).to(q.dtype)
        s = run_chunked(self.feat_imnet, torch.cat([q, rel, tcol], -1), self.chunk)  # (B, Q, nf)
        d = run_chunked(self.flow_imnet, torch.cat([s, q, tcol], -1), self.chunk)  # (B, Q, 4)
        d = d.transpose(1, 2).reshape(b, 4, hh, ww)
        prior0, prior1 = linear_backward_flows(cache.v01, cache.v10, t.view(b, 1, 1, 1))
        f_t0, f_t1 = prior0 + d[:, :2], prior1 + d[:, 2:]
        warped = self.warp_features(cache, f_t0, f_t1)
        enc = F.leaky_relu(self.base_enc(base), 0.1)
        s_map = s.transpose(1, 2).reshape(b, -1, hh, ww)
        tmap = t.view(b, 1, 1, 1).expand(b, 1, hh, ww)
        dec_in = torch.cat([s_map, *warped, enc, tmap], 1).flatten(2).transpose(1, 2)  # (B, Q, 4nf + 1)
        rgb = self.residual_frame(dec_in, base)
        # the learned departures as (2B, 2, HH, WW): rows 0..B-1 towards frame 0, then towards frame 1
        return (rgb, torch.cat([d[:, :2], d[:, 2:]], 0)) if return_motion else rgb


#: kind (``train.stvsr_trunk --model``) -> head class: every residual head on the trunk
TRUNK_HEADS = {"bfstvsr": TrunkSTVSR, "concat": TrunkConcatSTVSR, "videoinr": TrunkVideoINR, "motif": TrunkMoTIF}
#: kind -> registry id of the ``basicvsr+rife`` pipeline with that head
TRUNK_IDS = {"bfstvsr": "bfstvsr", "concat": "bfstvsr_concat", "videoinr": "videoinr", "motif": "motif"}
