"""BF-STVSR (Kim et al., CVPR 2025): continuous space-time video SR with a B-spline temporal mapper and a
Fourier spatial mapper.

Two LR frames I0, I1 -> encoder features F0, F01, F1 (Zooming-SlowMo). For an HR query with nearest LR feature
f (from F0 or F1) and offset δ = (dy, dx) to its LR cell centre:

* Fourier mapper (space):  A, F = conv3x3(SIREN(f)) on the HR grid;  s = A ⊙ [cos(π F δ); sin(π F δ)] -> Linear
* B-spline mapper (time):  c, k = SIREN([f, δ]);  m(t) = Linear(c ⊙ β³(d ⊙ (t' - k)))  with t' = t for frame 0,
  1 - t for frame 1, d = t_dilation(0.125). flow = m[0:2] · 20 · HH/H (forward flow source -> t, HR pixels),
  z = ReLU(m[2]) · α (α = -20 at init).
* softmax splatting of [s, flow/(20·HH/H), f] with weights e^z from both frames, normalised; extra channels
  [max e^z, count/16, Z/count];
* decoder SIREN([splat, extra, F01 nearest, t]) -> RGB, clamped to [0, 1] (in training too, as the official loss
  is on the clamped output; the RGB bias starts at 0.5 so that no channel starts outside the clamp).

``forward`` is the plain path (all t at once, everything recomputed); ``encode`` + ``decode_t`` is the cached
path: encoder, sampling, the Fourier mapper and the B-spline coefficients run once per frame pair, then each t
costs the basis, one Linear, the splat and the decoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.ops.bspline import cubic_bspline
from models.ops.fourier import fourier_basis
from models.ops.siren import Siren, SineLayer, sine_stack, siren_linear
from models.ops.softsplat import splat_two_frames
from models.stvsr.encoder import ZSMEncoder
from models.stvsr.geometry import QueryGeometry, query_geometry


def run_chunked(fn, x: torch.Tensor, chunk: int | None) -> torch.Tensor:
    """fn over x (B, Q, C) in slices of ``chunk`` queries (memory only; same result)."""
    if not chunk or x.shape[1] <= chunk:
        return fn(x)
    return torch.cat([fn(x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], 1)


class FourierMapper(nn.Module):
    """``STFSFourierMapper``: SIREN(f) -> (A | F) -> conv3x3 each on the HR grid -> A ⊙ basis(F, δ) -> Linear."""

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (64, 64, 256), fourier_features: int = 64,
                 out_features: int = 64):
        super().__init__()
        self.fourier_features = fourier_features
        self.net = nn.Sequential(*sine_stack(in_features, hidden), siren_linear(hidden[-1], 2 * fourier_features))
        self.coef = nn.Conv2d(fourier_features, fourier_features, 3, padding=1)
        self.freq = nn.Conv2d(fourier_features, fourier_features, 3, padding=1)
        self.phase = nn.Linear(1, fourier_features, bias=False)  # unused by the official forward; kept for loading
        self.final_linear = nn.Linear(fourier_features, out_features)

    def forward(self, lr_feat: torch.Tensor, geo: QueryGeometry, chunk: int | None = None) -> torch.Tensor:
        """lr_feat (BB, C, h, w) -> spatial feature (BB, HH·WW, out). The SIREN input is the nearest LR feature, so
        it runs once per LR cell and is gathered to the HR grid (the same numbers as running it per HR query)."""
        bb, c, h, w = lr_feat.shape
        hh, ww = geo.size
        coded = run_chunked(self.net, lr_feat.flatten(2).transpose(1, 2), chunk)  # (BB, h·w, 2F)
        coded = geo.nearest(coded.transpose(1, 2).reshape(bb, -1, h, w))  # (BB, 2F, HH, WW)
        amp, freq = torch.split(coded, self.fourier_features, 1)
        amp = self.coef(amp).flatten(2).transpose(1, 2)  # (BB, Q, F)
        freq = self.freq(freq).flatten(2).transpose(1, 2)
        rel = geo.rel.reshape(1, hh * ww, 2)
        return self.final_linear(amp * fourier_basis(freq, rel))


class BSplineMapper(nn.Module):
    """``STBSplineMapper``: c, k = SIREN([f, δ]); m(t') = Linear(c ⊙ β³(d ⊙ (t' - k))), d = t_dilation(t_res)."""

    def __init__(self, in_features: int = 66, hidden: Sequence[int] = (64, 64, 256), bspline_features: int = 64,
                 out_features: int = 3):
        super().__init__()
        self.bspline_features = bspline_features
        self.net = nn.Sequential(*sine_stack(in_features, hidden), siren_linear(hidden[-1], 2 * bspline_features))
        self.t_dilation = nn.Linear(1, bspline_features, bias=False)
        self.final_linear = nn.Linear(bspline_features, out_features)
        self.register_buffer("t_res", torch.tensor([0.125]))

    def coefficients(self, q: torch.Tensor, chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """q (BB, Q, C+2) -> coefficients c, knots k (BB, Q, F each); independent of t."""
        out = run_chunked(self.net, q, chunk)
        c, k = torch.split(out, self.bspline_features, -1)
        return c, k

    def dilation(self) -> torch.Tensor:
        return self.t_dilation(self.t_res)  # (F,)

    def at(self, c: torch.Tensor, k: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """t (BB,) frame-relative times -> (BB, Q, 3)."""
        x = self.dilation() * (t.view(-1, 1, 1) - k)
        return self.final_linear(c * cubic_bspline(x))


@dataclass
class PairCache:
    """What ``encode`` keeps for one frame pair (tensors over 2B = frame 0 then frame 1)."""

    spatial: torch.Tensor  # (2B, Q, S) Fourier mapper output
    q_feat: torch.Tensor  # (2B, Q, C) nearest F0 / F1
    q_res: torch.Tensor  # (B, Q, C) nearest F01
    motion: tuple  # model-specific t-independent state of the motion mapper
    geo: QueryGeometry


class BFSTVSR(nn.Module):
    """BF-STVSR. The defaults are the official size (nf 64, 5 extraction blocks, 40 trunk blocks, 8 deformable
    groups, TMBs kept); :func:`compact_config` gives the CPU variant.

    ``chunk``: run the per-pixel MLPs over at most this many queries at a time (None = all at once).
    """

    def __init__(self, nf: int = 64, n_extract: int = 5, n_trunk: int = 40, groups: int = 8, tmb: bool = True,
                 mapper_hidden: Sequence[int] = (64, 64, 256), fourier_features: int = 64,
                 bspline_features: int = 64, decoder_hidden: Sequence[int] = (64, 64, 64, 256),
                 chunk: int | None = None):
        super().__init__()
        self.nf, self.chunk = nf, chunk
        self.config = dict(nf=nf, n_extract=n_extract, n_trunk=n_trunk, groups=groups, tmb=tmb,
                           mapper_hidden=tuple(mapper_hidden), fourier_features=fourier_features,
                           bspline_features=bspline_features, decoder_hidden=tuple(decoder_hidden))
        self.encoder = ZSMEncoder(nf, n_extract, n_trunk, groups, tmb)
        self.build_mappers(nf, mapper_hidden, fourier_features, bspline_features)
        # decoder input: splat [spatial nf, flow 2, feature nf] + extra 3 + F01 nf + t 1
        self.synth_net = Siren(3 * nf + 6, decoder_hidden, 3, outermost_linear=True)
        # The RGB Linear's weights are tiny (SIREN bound), so a fresh decoder outputs ~ its bias. With PyTorch's
        # default bias U(±1/sqrt(in)) a colour channel whose bias is negative sits below the [0, 1] clamp on every
        # pixel and gets no gradient at all (a dead channel from step 0). Mid-grey puts every channel inside.
        nn.init.constant_(self.synth_net.net[-1].bias, 0.5)
        self.alpha = nn.Parameter(torch.tensor([-20.0]))

    # -- the two mappers (overridden by the concat ablation) -------------------------------------------------
    def build_mappers(self, nf, hidden, fourier_features, bspline_features):
        self.flow_imnet = BSplineMapper(nf + 2, hidden, bspline_features, 3)
        self.imnet = FourierMapper(nf, hidden, fourier_features, nf)

    def spatial_features(self, lr_feat: torch.Tensor, q_feat: torch.Tensor, geo: QueryGeometry) -> torch.Tensor:
        return self.imnet(lr_feat, geo, self.chunk)

    def motion_state(self, q_feat: torch.Tensor, geo: QueryGeometry) -> tuple:
        q = torch.cat([q_feat, geo.rel.reshape(1, -1, 2).expand(q_feat.shape[0], -1, -1)], -1)
        return self.flow_imnet.coefficients(q, self.chunk)

    def motion_at(self, state: tuple, t: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        """state over BB rows; t (BB·repeat,) ordered (row, repeat) -> (BB·repeat, Q, 3)."""
        c, k = (s.repeat_interleave(repeat, 0) if repeat > 1 else s for s in state)
        return self.flow_imnet.at(c, k, t)

    # -- shared pieces ------------------------------------------------------------------------------------------
    def _mlp(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return run_chunked(net, x, self.chunk)

    def _prepare(self, lr0: torch.Tensor, lr1: torch.Tensor, out_size, geo: QueryGeometry | None):
        if lr0.shape != lr1.shape or lr0.dim() != 4 or lr0.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) frames, got {tuple(lr0.shape)} and {tuple(lr1.shape)}")
        h, w = lr0.shape[-2:]
        if geo is None:
            geo = query_geometry((h, w), (int(out_size[0]), int(out_size[1]))).to(lr0.device)
        ph, pw = (-h) % 4, (-w) % 4  # zero-pad bottom/right to a multiple of 4, as the official test does
        x = torch.stack([lr0, lr1], 1)
        if ph or pw:
            x = F.pad(x.flatten(0, 1), (0, pw, 0, ph)).view(*x.shape[:3], h + ph, w + pw)
        return x, geo

    def _encode_features(self, x: torch.Tensor, geo: QueryGeometry):
        feats = self.encoder(x)  # (B, 3, C, h, w)
        lr_feat = torch.cat([feats[:, 0], feats[:, 2]], 0)  # (2B, C, h, w): F0 then F1
        return lr_feat, geo.nearest_rows(lr_feat), geo.nearest_rows(feats[:, 1])  # (2B, Q, C), (B, Q, C)

    def _synthesise(self, spatial, q_feat, q_res, motion, t, geo: QueryGeometry, n: int, flow_gt=None):
        """spatial/q_feat (2B, Q, ·), q_res (B, Q, C), motion (2·B·n, Q, 3) ordered (frame, b, n), t (B·n,)
        -> RGB (B·n, 3, HH, WW) and the predicted HR flow (2·B·n, 2, HH, WW)."""
        hh, ww = geo.size
        bn = t.shape[0]
        expand = lambda a: a.repeat_interleave(n, 0) if n > 1 else a  # noqa: E731
        motion = motion.transpose(1, 2).reshape(2 * bn, 3, hh, ww)
        flow = motion[:, :2] * (20.0 * geo.scale)
        z = F.relu(motion[:, 2:]) * self.alpha
        payload = torch.cat([expand(spatial), expand(q_feat)], -1).transpose(1, 2).reshape(2 * bn, -1, hh, ww)
        s = spatial.shape[-1]
        payload = torch.cat([payload[:, :s], motion[:, :2].detach(), payload[:, s:]], 1)
        warp = flow if flow_gt is None else flow_gt
        out, zsum, z_max, count = splat_two_frames(payload, warp, z, count_of=z)  # official: the count kernel is fed z
        count_ = torch.where(count == 0, torch.ones_like(count), count)
        zsum_ = torch.where(zsum == 1.0, torch.zeros_like(zsum), zsum)
        extra = torch.cat([z_max, count / 16.0, zsum_ / count_], 1)
        res = expand(q_res).transpose(1, 2).reshape(bn, -1, hh, ww)
        tmap = t.view(bn, 1, 1, 1).expand(bn, 1, hh, ww).to(out.dtype)
        dec_in = torch.cat([out, extra, res, tmap], 1).flatten(2).transpose(1, 2)  # (B·n, Q, 3C+6)
        rgb = self._mlp(self.synth_net, dec_in).transpose(1, 2).reshape(bn, 3, hh, ww)
        return rgb.clamp(0, 1), flow

    # -- public API ---------------------------------------------------------------------------------------------
    def forward(self, lr0: torch.Tensor, lr1: torch.Tensor, ts, out_size: tuple[int, int],
                flow_gt: torch.Tensor | None = None, geo: QueryGeometry | None = None, return_flow: bool = False):
        """Plain path. lr0, lr1 (B, 3, H, W) in [0, 1]; ts: N floats, (N,) or (B, N) -> (N, B, 3, HH, WW).

        ``flow_gt`` (2, B, N, 2, HH, WW): teacher-forcing flows (frame -> t, HR pixels) to splat with instead of the
        predicted ones. ``return_flow`` also returns the predicted flows in that layout.
        """
        x, geo = self._prepare(lr0, lr1, out_size, geo)
        b = x.shape[0]
        ts = torch.as_tensor(ts, dtype=lr0.dtype, device=lr0.device)
        ts = ts.expand(b, ts.shape[-1]) if ts.dim() == 1 else ts  # (B, N)
        n = ts.shape[1]
        lr_feat, q_feat, q_res = self._encode_features(x, geo)
        spatial = self.spatial_features(lr_feat, q_feat, geo)
        state = self.motion_state(q_feat, geo)
        tprime = torch.cat([ts.reshape(-1), 1 - ts.reshape(-1)])  # (2·B·N,) ordered (frame, b, n)
        motion = self.motion_at(state, tprime, repeat=n)
        if flow_gt is not None:
            flow_gt = flow_gt.reshape(2 * b * n, 2, *geo.size)
        rgb, flow = self._synthesise(spatial, q_feat, q_res, motion, ts.reshape(-1), geo, n, flow_gt)
        rgb = rgb.view(b, n, 3, *geo.size).transpose(0, 1)
        if return_flow:
            return rgb, flow.view(2, b, n, 2, *geo.size)
        return rgb

    def encode(self, lr0: torch.Tensor, lr1: torch.Tensor, out_size: tuple[int, int],
               geo: QueryGeometry | None = None) -> PairCache:
        """Cached path, once per frame pair: encoder, sampling, spatial features, motion coefficients."""
        x, geo = self._prepare(lr0, lr1, out_size, geo)
        lr_feat, q_feat, q_res = self._encode_features(x, geo)
        return PairCache(self.spatial_features(lr_feat, q_feat, geo), q_feat, q_res,
                         self.motion_state(q_feat, geo), geo)

    def decode_t(self, cache: PairCache, t: float) -> torch.Tensor:
        """Cached path, once per t -> (B, 3, HH, WW)."""
        b = cache.q_res.shape[0]
        tt = torch.full((b,), float(t), dtype=cache.q_res.dtype, device=cache.q_res.device)
        motion = self.motion_at(cache.motion, torch.cat([tt, 1 - tt]))
        return self._synthesise(cache.spatial, cache.q_feat, cache.q_res, motion, tt, cache.geo, 1)[0]

    def load_official(self, state: dict[str, torch.Tensor]) -> None:
        """Load an official checkpoint: ``flow_predictor.*`` (RAFT, training only) dropped, t_res set to 0.125."""
        state = {k: v for k, v in state.items() if not k.startswith("flow_predictor.")}
        state["flow_imnet.t_res"] = torch.tensor([0.125])
        self.load_state_dict(state, strict=True)


def compact_config() -> dict:
    """The bundled CPU variant: nf 32, 2 extraction + 6 trunk blocks, 4 deformable groups, no TMBs,
    mappers 32-32-128 with 32 features, decoder 32-32-32-128."""
    return dict(nf=32, n_extract=2, n_trunk=6, groups=4, tmb=False, mapper_hidden=(32, 32, 128),
                fourier_features=32, bspline_features=32, decoder_hidden=(32, 32, 32, 128))


__all__ = ["BFSTVSR", "BSplineMapper", "FourierMapper", "PairCache", "compact_config", "SineLayer"]
