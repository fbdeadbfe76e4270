"""The paper's ablation: BF-STVSR with plain coordinate concatenation instead of its two mappers
(the VideoINR / MoTIF-style encoding).

* space:  s = SIREN([f, dy, dx])                       (no Fourier basis, no HR convs)
* time:   m(t') = SIREN([f, dy, dx, t'])  -> flow (2), z (1)   (the whole MLP runs again for every t)

Everything else (encoder, sampling, splatting, decoder, cached path) is the BF-STVSR code.
"""
from __future__ import annotations

from typing import Sequence

import torch

from models.ops.siren import Siren
from models.stvsr.bfstvsr import BFSTVSR, run_chunked
from models.stvsr.geometry import QueryGeometry


class ConcatSTVSR(BFSTVSR):
    def build_mappers(self, nf: int, hidden: Sequence[int], fourier_features: int, bspline_features: int):
        self.flow_imnet = Siren(nf + 3, hidden, 3, outermost_linear=True)
        self.imnet = Siren(nf + 2, hidden, nf, outermost_linear=True)

    @staticmethod
    def _with_rel(q_feat: torch.Tensor, geo: QueryGeometry) -> torch.Tensor:
        return torch.cat([q_feat, geo.rel.reshape(1, -1, 2).expand(q_feat.shape[0], -1, -1)], -1)

    def spatial_features(self, lr_feat, q_feat, geo):
        return run_chunked(self.imnet, self._with_rel(q_feat, geo), self.chunk)

    def motion_state(self, q_feat, geo):
        return (self._with_rel(q_feat, geo),)

    def motion_at(self, state, t, repeat: int = 1):
        q = state[0].repeat_interleave(repeat, 0) if repeat > 1 else state[0]
        tcol = t.view(-1, 1, 1).expand(-1, q.shape[1], 1).to(q.dtype)
        return run_chunked(self.flow_imnet, torch.cat([q, tcol], -1), self.chunk)
