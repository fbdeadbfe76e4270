"""Registry entries of the face restorers; ``models/catalog.py`` registers ``face_specs()``."""
from __future__ import annotations

from ..registry import ModelSpec


def _bicubic():
    from .baselines import BicubicFaceRestorer

    return BicubicFaceRestorer()


def _lanczos():
    from .baselines import LanczosFaceRestorer

    return LanczosFaceRestorer()


def face_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="face_bicubic", task="face", build=_bicubic, label="Bicubic",
                  description="PIL bicubic resize of the aligned face crop (baseline).", tags=("baseline",)),
        ModelSpec(id="face_lanczos", task="face", build=_lanczos, label="Lanczos",
                  description="PIL Lanczos resize of the aligned face crop (baseline).", tags=("baseline",)),
    ]
