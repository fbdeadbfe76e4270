"""Registry entries for continuous space-time video SR (task ``stvsr``); models/catalog.py registers them."""
from __future__ import annotations

import json

from models.registry import ModelSpec
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
        from models.stvsr.concat import ConcatSTVSR
        from models.stvsr.upscaler import BFSTVSRUpscaler

        cls = ConcatSTVSR if kind == "concat" else BFSTVSR
        base = {} if kind == "official" else (_bundled_config(bundled) or compact_config())
        return BFSTVSRUpscaler(cls(**{**base, **config}))

    return build


def _load(up, state: dict) -> None:
    up.model.load_state_dict(state, strict=True)


def _load_official(up, state: dict) -> None:
    up.model.load_official(state)


def _bfstvsr_at_scale_one():
    from models import registry
    from models.stvsr.upscaler import ExactTInterpolator

    return ExactTInterpolator(registry.get("bfstvsr"))


def stvsr_specs() -> list[ModelSpec]:
    return [
        ModelSpec(id="bfstvsr", task="stvsr", build=_build("bfstvsr", "bfstvsr.safetensors"),
                  weights=WeightSource(bundled="bfstvsr.safetensors"), load=_load,
                  license="research only (DAVIS / SA-V training data terms)", card="bfstvsr.md",
                  label="BF-STVSR (compact, trained here)", default=True,
                  description="B-spline temporal + Fourier spatial mappers; any spatial scale and any t",
                  tags=("arbitrary_t", "arbitrary_scale")),
        ModelSpec(id="bfstvsr_concat", task="stvsr", build=_build("concat", "bfstvsr_concat.safetensors"),
                  weights=WeightSource(bundled="bfstvsr_concat.safetensors"), load=_load,
                  license="research only (DAVIS / SA-V training data terms)", card="bfstvsr_concat.md",
                  label="BF-STVSR ablation: coordinate concatenation",
                  description="the same compact network with VideoINR/MoTIF-style (x, y, t) concatenation",
                  tags=("arbitrary_t", "arbitrary_scale", "ablation")),
        ModelSpec(id="bfstvsr_official", task="stvsr", build=_build("official", None),
                  weights=WeightSource(env_var="FRAMEFORGE_BFSTVSR_CKPT",
                                       hub_filename="bfstvsr.pth"),
                  load=_load_official, license="see Eunjnnn/bfstvsr (official checkpoint)",
                  label="BF-STVSR (official checkpoint)",
                  description="13.47 M-parameter official model; set FRAMEFORGE_BFSTVSR_CKPT to bfstvsr.pth "
                              "(or FRAMEFORGE_BFSTVSR_CKPT_REPO to a Hub repo holding it)",
                  tags=("arbitrary_t", "arbitrary_scale", "official")),
        ModelSpec(id="bfstvsr_vfi", task="vfi", build=_bfstvsr_at_scale_one, requires=("bfstvsr",),
                  license="as bfstvsr", card="bfstvsr.md", label="BF-STVSR at scale 1 (exact t)",
                  description="the bundled BF-STVSR with output size = input size: frames at any t, no recursion",
                  tags=("arbitrary-t",)),
    ]
