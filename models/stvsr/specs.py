"""Registry entries for continuous space-time video SR (task ``stvsr``); models/catalog.py registers them."""
from __future__ import annotations

import json

from models.modelspec import ModelSpec
from models.weights import WEIGHTS_DIR, WeightSource


def _bundled_config(name: str) -> dict | None:
    path = WEIGHTS_DIR / name
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["config"]) if "config" in meta else None


def _build(kind: str, bundled: str | None):
    def build(**config):
        """The upscaler around the network: the official size, or the bundled file's configuration (the compact
        one when there is none), updated with ``config``."""
        from models.stvsr.bfstvsr import BFSTVSR, compact_config
        from models.stvsr.upscaler import BFSTVSRUpscaler

        base = {} if kind == "official" else (_bundled_config(bundled) or compact_config())
        return BFSTVSRUpscaler(BFSTVSR(**{**base, **config}))

    return build


def _trunk(kind: str):
    def build(upscaler, interpolator, **config):
        """``basicvsr+rife`` (the loaded stages, the spec's parts) with a residual head of ``config``."""
        from models.stvsr.trunk_inr import TRUNK_HEADS
        from models.stvsr.trunk_pipeline import TrunkSpaceTime

        head = TRUNK_HEADS[kind](**config)
        return TrunkSpaceTime(head, upscaler(), interpolator())

    return build


def _trunk_config(state: dict) -> dict:
    """The head's size, read from its tensors (nf from the adapter, the refiner's width from its first conv)."""
    nf, trunk = state["adapter.weight"].shape[:2]
    refiner = int(state["refine.0.weight"].shape[0]) if "refine.0.weight" in state else 0
    return {"trunk_features": int(trunk), "nf": int(nf), "refiner": refiner}


def _load_head(up, state: dict) -> None:
    up.head.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def _trunk_spec(kind: str, env_var: str, label: str, description: str, tag: str = "pretrained") -> ModelSpec:
    """A residual head on ``basicvsr+rife``: bundled as ``weights/<id>.safetensors`` with ``<id>.md``, or the file
    ``env_var`` names; its size read from the file."""
    from models.stvsr.trunk_inr import TRUNK_IDS

    model_id = TRUNK_IDS[kind]
    return ModelSpec(id=model_id, task="stvsr", build=_trunk(kind), config=_trunk_config,
                     weights=WeightSource(bundled=f"{model_id}.safetensors", env_var=env_var), load=_load_head,
                     parts={"upscaler": "basicvsr", "interpolator": "rife"}, license=TRUNK_LICENSE,
                     card=f"{model_id}.md", label=label,
                     description=description, tags=("arbitrary_t", "arbitrary_scale", tag))


TRUNK_LICENSE = ("research only (head trained here on DAVIS / SA-V clips); BasicVSR Apache-2.0, RIFE MIT "
                 "(see their cards)")


def _load(up, state: dict) -> None:
    up.model.load_state_dict(state, strict=True)


def _load_official(up, state: dict) -> None:
    up.model.load_official(state)


def _official_inr(kind: str):
    def build(**config):
        """The official VideoINR (whole frames) or MoTIF (tiles, like BF-STVSR) network."""
        from models.stvsr.upscaler import BFSTVSRUpscaler, WholeFrameUpscaler

        if kind == "videoinr":
            from models.stvsr.videoinr import VideoINR

            return WholeFrameUpscaler(VideoINR(**config))
        from models.stvsr.motif import MoTIF

        return BFSTVSRUpscaler(MoTIF(**config))

    return build


def stvsr_specs() -> list[ModelSpec]:
    return [
        _trunk_spec("bfstvsr", "FRAMEFORGE_BFSTVSR_HEAD",
                    "BF-STVSR head on basicvsr+rife (paper comparison; no gain over its base yet)",
                    "the paper's B-spline (time) and Fourier (space) mappers, softmax splatting and SIREN decoder on "
                    "BasicVSR's features, added to the basicvsr+rife frame; any scale, any t"),
        _trunk_spec("concat", "FRAMEFORGE_BFSTVSR_CONCAT_HEAD",
                    "BF-STVSR ablation head on basicvsr+rife: (x, y, t) concatenation (no gain yet)",
                    "the same residual head with VideoINR/MoTIF-style (x, y, t) concatenation in place of the two "
                    "mappers (the paper's ablation)", tag="ablation"),
        _trunk_spec("videoinr", "FRAMEFORGE_VIDEOINR_HEAD",
                    "VideoINR head on basicvsr+rife (paper comparison; no gain over its base yet)",
                    "VideoINR's encoding on the same trunk as bfstvsr: a spatial INR over (feature, x, y, t), a "
                    "temporal INR predicting two backward flows from t, backward warps, SIREN decoder"),
        _trunk_spec("motif", "FRAMEFORGE_MOTIF_HEAD",
                    "MoTIF head on basicvsr+rife (paper comparison; no gain over its base yet)",
                    "MoTIF's encoding on the same trunk as bfstvsr: a motion context from flow reliability maps, "
                    "(x, y, t) SIRENs and softmax splatting, SIREN decoder"),
        ModelSpec(id="bfstvsr_scratch", task="stvsr", build=_build("bfstvsr", "bfstvsr_scratch.safetensors"),
                  weights=WeightSource(bundled="bfstvsr_scratch.safetensors"), load=_load,
                  license="research only (DAVIS / SA-V training data terms)", card="bfstvsr_scratch.md",
                  label="BF-STVSR (compact, from scratch)",
                  description="the whole compact network trained from scratch here (encoder included): far below "
                              "the two-stage pipelines; kept for reference",
                  tags=("arbitrary_t", "arbitrary_scale")),
        ModelSpec(id="bfstvsr_official", task="stvsr", build=_build("official", None),
                  weights=WeightSource(env_var="FRAMEFORGE_BFSTVSR_CKPT",
                                       hub_filename="bfstvsr.pth"),
                  load=_load_official, license="see Eunjnnn/bfstvsr (official checkpoint)",
                  label="BF-STVSR (official checkpoint)",
                  description="13.47 M-parameter official model; set FRAMEFORGE_BFSTVSR_CKPT to bfstvsr.pth "
                              "(or FRAMEFORGE_BFSTVSR_CKPT_REPO to a Hub repo holding it)",
                  tags=("arbitrary_t", "arbitrary_scale", "official")),
        ModelSpec(id="videoinr_official", task="stvsr", build=_official_inr("videoinr"),
                  weights=WeightSource(env_var="FRAMEFORGE_VIDEOINR_CKPT", hub_filename="VideoINR.pth"),
                  load=_load_official, license="see Picsart-AI-Research/VideoINR (official checkpoint)",
                  label="VideoINR (official checkpoint)",
                  description="11.31 M-parameter official model (whole frames, up to 1080p output); set "
                              "FRAMEFORGE_VIDEOINR_CKPT to its flat state_dict (or ..._REPO to a Hub repo)",
                  tags=("arbitrary_t", "arbitrary_scale", "official")),
        ModelSpec(id="motif_official", task="stvsr", build=_official_inr("motif"),
                  weights=WeightSource(env_var="FRAMEFORGE_MOTIF_CKPT", hub_filename="best.pth"),
                  load=_load_official, license="see sichun233746/MoTIF (official checkpoint)",
                  label="MoTIF (official checkpoint)",
                  description="13.78 M-parameter official model with RAFT-small at inference; set "
                              "FRAMEFORGE_MOTIF_CKPT to its flat state_dict best.pth (or ..._REPO to a Hub repo)",
                  tags=("arbitrary_t", "arbitrary_scale", "official")),
    ]
