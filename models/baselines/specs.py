"""Registry entries of the weight-free baselines; ``models/catalog.py`` registers ``baseline_specs()``."""
from __future__ import annotations

from ..modelspec import ModelSpec


def _lanczos(**kw):
    from .resize import Lanczos

    return Lanczos(**kw)


def _bicubic(**kw):
    from .resize import Bicubic

    return Bicubic(**kw)


def _blend(**kw):
    from .blend import Blend

    return Blend(**kw)


def _dis_flow(**kw):
    from .dis_flow import DISFlowInterpolator

    return DISFlowInterpolator(**kw)


def _lanczos_dis():
    from .dis_flow import DISFlowInterpolator
    from .resize import Lanczos
    from .two_stage import TwoStage

    return TwoStage(Lanczos(), DISFlowInterpolator())


def _bicubic_dis():
    from .dis_flow import DISFlowInterpolator
    from .resize import Bicubic
    from .two_stage import TwoStage

    return TwoStage(Bicubic(), DISFlowInterpolator())


def baseline_specs() -> list[ModelSpec]:
    """Weight-free baselines: no weights, no card, Apache-2.0 (our code; OpenCV and Pillow do the work)."""
    return [
        ModelSpec(id="lanczos", task="sr", build=_lanczos, label="Lanczos (PIL)",
                  description="PIL Lanczos resize; the spatial floor.", tags=("baseline", "weight-free")),
        ModelSpec(id="bicubic", task="sr", build=_bicubic, label="Bicubic (PIL)",
                  description="PIL bicubic resize.", tags=("baseline", "weight-free")),
        ModelSpec(id="blend", task="vfi", build=_blend, label="Linear blend",
                  description="(1 - t) I0 + t I1; the temporal floor.", tags=("baseline", "weight-free")),
        ModelSpec(id="dis_flow", task="vfi", build=_dis_flow, label="DIS optical flow", default=True,
                  description="OpenCV DIS flow both ways, linear flow to t, backward warp, hard "
                              "forward-backward consistency blend. Any t.",
                  tags=("baseline", "weight-free", "arbitrary-t")),
        ModelSpec(id="lanczos+dis", task="stvsr", build=_lanczos_dis, label="Lanczos + DIS flow", default=True,
                  description="Two-stage: Lanczos upscaling of both frames, then DIS-flow interpolation at HR.",
                  tags=("baseline", "weight-free", "two-stage", "arbitrary-t")),
        ModelSpec(id="bicubic+dis", task="stvsr", build=_bicubic_dis, label="Bicubic + DIS flow",
                  description="Two-stage: bicubic upscaling, then DIS-flow interpolation at HR.",
                  tags=("baseline", "weight-free", "two-stage", "arbitrary-t")),
    ]
