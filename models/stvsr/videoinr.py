"""VideoINR (Chen et al., CVPR 2022, "VideoINR: Learning Video Implicit Neural Representation for Continuous
Space-Time Super-Resolution"), the official ``LunaTokis(64, 6, 8, 5, 40)`` of ``models/modules/Sakuya_arch.py``.

Two LR frames I0, I1 (B, 3, H, W) -> Zooming-SlowMo encoder (PCD without time-modulation blocks, bidirectional
deformable ConvLSTM, 40 residual blocks) -> F0, F01, F1; the feature is F = [F0, F01, F1] (192 ch) and the input
pair X = [I0, I1] (6 ch). For an HR query at normalised position c (row, col), time t:

* spatial INR:   S(c) = feat_imnet([F(q), X(q), (c - q)·(H, W), t])              (201 -> 64)
  with q the LR cell containing c (nearest sampling, no local ensemble and — unlike BF-STVSR / MoTIF — no
  +1e-6 shift, see :func:`nearest_cells`), S an HR feature map (B, 64, HH, WW);
* temporal INR:  (v0, v1)(c) = flow_imnet([S(c), F~(c), X^(c), t])               (263 -> 4)
  F~ = bilinear F (LR), X^ = bilinear X↑4 (the test path's x4 upsampled input); v0, v1 are **backward** flows
  from time t to frames 0 and 1 (HR pixels, channel 0 = x);
* warps (``warpgrid``): g_k = base(c) + v_k / ((WW-1)/2, (HH-1)/2), base = linspace(-1, 1) (align_corners=True
  style), clamped to ±(1 - 1e-6), then sampled with grid_sample(align_corners=False, zero padding) — the official
  mix of conventions, kept;
* decoder:       RGB(c) = encode_imnet([S(g0), S(g1), F~(g0), F~(g1), X^(g0), X^(g1), t])   (525 -> 3).

There is no splatting and no optical-flow network. ``upconv1``, ``upconv2``, ``HRconv`` and ``conv_last`` (the
Zooming-SlowMo upsampler) are never called but are in the checkpoint; they are kept so it loads strictly.
The module *is* the encoder (the official keys ``conv_first``, ``pcd_align``, ``ConvBLSTM``, ... sit at the top
level), so it subclasses :class:`ZSMEncoder`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.ops.siren import Siren
from models.stvsr.bfstvsr import run_chunked
from models.stvsr.encoder import ZSMEncoder

HR_DIM = 64  # width of the spatial INR's HR feature (hard-coded 64 in the official code)


def make_coord_1d(n: int, device, dtype=torch.float32) -> torch.Tensor:
    """Official ``make_coord`` along one axis: pixel centres -1 + r + 2r·i, r = 1/n (same float order)."""
    r = 1.0 / n
    return -1 + r + (2 * r) * torch.arange(n, device=device).to(dtype)


def hr_centres(hh: int, ww: int, device, dtype=torch.float32) -> torch.Tensor:
    """Official ``make_coord((HH, WW)).clamp(-1 + 1e-6, 1 - 1e-6)``: (HH·WW, 2) pixel centres (row, col) in [-1, 1]."""
    ys, xs = make_coord_1d(hh, device, dtype), make_coord_1d(ww, device, dtype)
    c = torch.stack(torch.broadcast_tensors(ys[:, None], xs[None, :]), -1).reshape(-1, 2)
    return c.clamp(-1 + 1e-6, 1 - 1e-6)


def nearest_cells(coord: torch.Tensor, lr_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LR cell that a nearest ``grid_sample`` (align_corners=False) picks for each HR centre coord (Q, 2),
    without BF-STVSR's +1e-6 shift (VideoINR has none, so exact ties round half to even as grid_sample does;
    they occur at non-integer scales such as x2.5). Returns row and column indices (Q,) and
    rel = (c - q)·(H, W) (Q, 2) with q the cell centre."""
    h, w = lr_size
    dev, dt = coord.device, coord.dtype
    idx = torch.stack(torch.meshgrid(torch.arange(h, device=dev, dtype=dt), torch.arange(w, device=dev, dtype=dt),
                                     indexing="ij"))[None]  # (1, 2, H, W): the cell index as a picture
    cell = F.grid_sample(idx, coord.flip(-1).view(1, 1, -1, 2), mode="nearest", align_corners=False)[0, :, 0]
    iy, ix = cell.round().long()
    q = torch.stack([make_coord_1d(h, dev, dt)[iy], make_coord_1d(w, dev, dt)[ix]], -1)
    return iy, ix, (coord - q) * torch.tensor([float(h), float(w)], device=dev, dtype=dt)


def sample_at(img: torch.Tensor, coord: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of img (B, C, h, w) at normalised (row, col) coords (B, Q, 2) -> (B, Q, C)
    (grid_sample, align_corners=False, zero padding: the official ``grid_sample(feat, coord.flip(-1))``)."""
    out = F.grid_sample(img, coord.flip(-1).unsqueeze(1), mode="bilinear", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


class VideoINR(ZSMEncoder):
    """VideoINR at the official size (nf 64, 5 extraction blocks, 40 trunk blocks, 8 deformable groups, no TMBs):
    11,312,698 parameters. ``chunk``: run the decoding over at most this many HR queries at a time."""

    def __init__(self, nf: int = 64, n_extract: int = 5, n_trunk: int = 40, groups: int = 8,
                 inr_hidden: Sequence[int] = (64, 64, 256), decoder_hidden: Sequence[int] = (64, 64, 256, 256),
                 chunk: int | None = None):
        super().__init__(nf, n_extract, n_trunk, groups, tmb=False)
        self.chunk = chunk
        # the Zooming-SlowMo upsampler: never called, kept for the checkpoint
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, 64 * 4, 3, 1, 1)
        self.HRconv = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)
        c = 3 * nf  # [F0, F01, F1]
        self.feat_imnet = Siren(c + 6 + 2 + 1, inr_hidden, HR_DIM)  # [F(q), X(q), rel, t]
        self.flow_imnet = Siren(HR_DIM + c + 6 + 1, inr_hidden, 4)  # [S, F~, X^, t]
        self.encode_imnet = Siren(2 * HR_DIM + 2 * c + 2 * 6 + 1, decoder_hidden, 3)

    # -- encoder --------------------------------------------------------------------------------------------------
    def encode(self, lr0: torch.Tensor, lr1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """lr0, lr1 (B, 3, H, W) in [0, 1] -> feature F (B, 3·nf, Hp, Wp) and input pair X (B, 6, Hp, Wp), both
        zero-padded at the bottom/right to a multiple of 4 (as the official test pads its LR input)."""
        if lr0.shape != lr1.shape or lr0.dim() != 4 or lr0.shape[1] != 3:
            raise ValueError(f"expected two (B, 3, H, W) frames, got {tuple(lr0.shape)} and {tuple(lr1.shape)}")
        h, w = lr0.shape[-2:]
        x = torch.stack([lr0, lr1], 1)  # (B, 2, 3, H, W)
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x.flatten(0, 1), (0, pw, 0, ph)).view(*x.shape[:3], h + ph, w + pw)
        feats = ZSMEncoder.forward(self, x)  # (B, 3, nf, Hp, Wp)
        b = x.shape[0]
        return feats.flatten(1, 2), x.reshape(b, 6, *x.shape[-2:])

    # -- decoder --------------------------------------------------------------------------------------------------
    def decode(self, feat: torch.Tensor, inp: torch.Tensor, t: torch.Tensor, hr_size: tuple[int, int]):
        """feat (B, 3·nf, h, w), inp (B, 6, h, w), t (B,) -> raw RGB (B, 3, HH, WW) (not clamped)."""
        b, _, h, w = feat.shape
        hh, ww = hr_size
        q = hh * ww
        dev, dt = feat.device, feat.dtype
        coord = hr_centres(hh, ww, dev, dt).unsqueeze(0).expand(b, q, 2)
        tq = t.to(dt).view(b, 1, 1).expand(b, q, 1)

        # spatial INR on the nearest LR cell (LIIF-style, no ensemble) -> HR feature S (B, 64, HH, WW)
        iy, ix, rel = nearest_cells(coord[0], (h, w))
        near = lambda f: f[:, :, iy, ix].transpose(1, 2)  # noqa: E731  (B, Q, C)
        rel = rel.unsqueeze(0).expand(b, q, 2)
        s_in = torch.cat([near(feat), near(inp), rel, tq], -1)  # (B, Q, 201)
        hr_feat = run_chunked(self.feat_imnet, s_in, self.chunk).transpose(1, 2).reshape(b, HR_DIM, hh, ww)
        del s_in
        hr_inp = F.interpolate(inp, scale_factor=4, mode="bilinear", align_corners=False)  # official: fixed x4

        # per query chunk: temporal INR -> two backward warps -> decoder
        base_x = torch.linspace(-1.0, 1.0, ww, device=dev, dtype=dt)
        base_y = torch.linspace(-1.0, 1.0, hh, device=dev, dtype=dt)
        step = self.chunk or q
        out = []
        for a in range(0, q, step):
            idx = torch.arange(a, min(a + step, q), device=dev)
            c = coord[:, a:a + step]
            s = hr_feat.flatten(2)[:, :, idx].transpose(1, 2)  # S at its own pixel centres (nearest = identity)
            flow = self.flow_imnet(torch.cat([s, sample_at(feat, c), sample_at(hr_inp, c), tq[:, a:a + step]], -1))
            gx = base_x[idx % ww].view(1, -1)
            gy = base_y[idx // ww].view(1, -1)
            samples = [[], [], []]
            for k in (0, 1):  # warpgrid: flow / ((size - 1) / 2) on an align_corners=True base grid
                g = torch.stack([gy + flow[..., 2 * k + 1] / ((hh - 1) / 2.0 if hh > 1 else 1.0),
                                 gx + flow[..., 2 * k] / ((ww - 1) / 2.0 if ww > 1 else 1.0)], -1)
                g = g.clamp(-1 + 1e-6, 1 - 1e-6)
                samples[0].append(sample_at(hr_feat, g))
                samples[1].append(sample_at(feat, g))
                samples[2].append(sample_at(hr_inp, g))
            dec_in = torch.cat([*samples[0], *samples[1], *samples[2], tq[:, a:a + step]], -1)  # (B, q, 525)
            out.append(self.encode_imnet(dec_in))
        return torch.cat(out, 1).transpose(1, 2).reshape(b, 3, hh, ww)

    def forward(self, lr0: torch.Tensor, lr1: torch.Tensor, ts, out_size: tuple[int, int],
                clamp: bool = True) -> torch.Tensor:
        """lr0, lr1 (B, 3, H, W) in [0, 1]; ts: N floats, (N,) or (B, N) -> (N, B, 3, HH, WW), clamped to [0, 1]
        unless ``clamp=False`` (the official network returns the raw decoder output).

        An LR size that is not a multiple of 4 is padded and the output computed at the padded HR size
        (round(Hp·HH/H), round(Wp·WW/W)), then cropped to (HH, WW), as the official test does."""
        h, w = lr0.shape[-2:]
        hh, ww = int(out_size[0]), int(out_size[1])
        feat, inp = self.encode(lr0, lr1)
        b, _, hp, wp = feat.shape
        hr = (round(hp * hh / h), round(wp * ww / w))
        ts = torch.as_tensor(ts, dtype=lr0.dtype, device=lr0.device)
        ts = ts.expand(b, ts.shape[-1]) if ts.dim() == 1 else ts  # (B, N)
        outs = [self.decode(feat, inp, ts[:, i], hr)[:, :, :hh, :ww] for i in range(ts.shape[1])]
        out = torch.stack(outs, 0)
        return out.clamp(0, 1) if clamp else out

    def load_official(self, state: dict[str, torch.Tensor]) -> None:
        """Strict load of an official flat state_dict (a ``module.`` prefix is stripped)."""
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        self.load_state_dict(state, strict=True)


__all__ = ["VideoINR", "hr_centres", "nearest_cells", "sample_at"]
