"""One registry of every FrameForge model (timm-style): id -> how to build it, where its weights come from,
its licence and card. Models are built and loaded lazily on first :func:`get`, on the CPU, once (thread-safe).

Tasks and the call each loaded model answers (see ``models/interfaces.py``):

* ``vfi``    — :class:`~models.interfaces.FrameInterpolator`
* ``sr``     — :class:`~models.interfaces.SpatialUpscaler`
* ``stvsr``  — :class:`~models.interfaces.SpaceTimeUpscaler`
* ``face``   — :class:`~models.interfaces.FaceRestorer`
* ``svs``    — generators whose weights can be scaled (diffusers UNet2DModel)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .weights import WeightSource, WeightsUnavailable, load_state_dict, resolve


@dataclass
class ModelSpec:
    id: str
    task: str
    build: Callable[[], Any]  # returns the (uninitialised) model; weight-free models are complete here
    weights: WeightSource | None = None
    load: Callable[[Any, dict], None] | None = None  # how to put a state_dict into the built model
    license: str = "Apache-2.0"
    card: str | None = None  # path under weights/ of the model card
    label: str = ""
    description: str = ""
    default: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    requires: tuple[str, ...] = ()  # ids of registered models this one is built from (e.g. a cascade's stages)

    def available(self) -> bool:
        """Its own weights are configured, and so are those of every model in ``requires``."""
        own = self.weights is None or self.weights.configured()
        return own and all(spec(r).available() for r in self.requires)


_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, Any] = {}
_LOCK = threading.RLock()
_populated = False


def register(spec: ModelSpec) -> ModelSpec:
    if spec.id in _SPECS:
        raise ValueError(f"model id {spec.id!r} is registered twice")
    _SPECS[spec.id] = spec
    return spec


def _populate() -> None:
    """Import the modules that register models (cheap: no weights are read)."""
    global _populated
    if _populated:
        return
    with _LOCK:
        if _populated:
            return
        from . import catalog  # noqa: F401  (registers everything)

        _populated = True


def spec(model_id: str) -> ModelSpec:
    _populate()
    try:
        return _SPECS[model_id]
    except KeyError:
        raise KeyError(f"unknown model {model_id!r}; known: {', '.join(sorted(_SPECS))}") from None


def ids(task: str | None = None, available_only: bool = False) -> list[str]:
    """Model ids for ``task`` (all tasks when None), default first, in registration order."""
    _populate()
    rows = [s for s in _SPECS.values() if task is None or s.task == task]
    if available_only:
        rows = [s for s in rows if s.available()]
    rows.sort(key=lambda s: not s.default)
    return [s.id for s in rows]


def is_loaded(model_id: str) -> bool:
    return model_id in _LOADED


def get(model_id: str) -> Any:
    """The built, weight-loaded model for ``model_id`` (cached). Raises WeightsUnavailable with a clear message."""
    s = spec(model_id)
    with _LOCK:
        if model_id in _LOADED:
            return _LOADED[model_id]
        model = s.build()
        if s.weights is not None:
            try:
                path = resolve(s.weights)
            except WeightsUnavailable as exc:
                raise WeightsUnavailable(f"{s.label or s.id}: {exc}") from None
            state = load_state_dict(path)
            if s.load is not None:
                s.load(model, state)
            else:
                model.load_state_dict(state, strict=True)
        if hasattr(model, "eval"):
            model.eval()
        _LOADED[model_id] = model
        return model


def unload(model_id: str | None = None) -> None:
    """Drop cached models (all when None)."""
    with _LOCK:
        if model_id is None:
            _LOADED.clear()
        else:
            _LOADED.pop(model_id, None)
