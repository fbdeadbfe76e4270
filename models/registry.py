"""One registry of every FrameForge model (timm-style): id -> how to build it, where its weights come from,
its licence and card.

* :func:`create` (``create(id, pretrained=True, **overrides)``, timm's ``create_model``) is the only constructor:
  it reads the weights (when ``pretrained``), derives the build arguments a checkpoint fixes (``ModelSpec.config``,
  e.g. a width read from tensor shapes), builds the network once and loads the weights strictly. Training and
  benchmark commands call it with ``pretrained=False`` and their overrides.
* :func:`get` is ``create(id)`` cached: the tabs' lazy loading, on the CPU, once per id (thread-safe).

Tasks and the call each loaded model answers (see ``models/interfaces.py``):

* ``vfi``    — :class:`~models.interfaces.FrameInterpolator`
* ``sr``     — :class:`~models.interfaces.SpatialUpscaler`
* ``stvsr``  — :class:`~models.interfaces.SpaceTimeUpscaler`
* ``face``   — :class:`~models.interfaces.FaceRestorer`
* ``svs``    — generators whose weights can be pruned and scaled (diffusers UNet2DModel)
* ``metric`` — networks behind a metric (FD-MNISTNet)
"""
from __future__ import annotations

import threading
from functools import partial
from typing import Any

from .modelspec import ModelSpec
from .weights import WeightsUnavailable, load_state_dict, resolve

__all__ = ["ModelSpec", "create", "default_id", "get", "ids", "is_loaded", "register", "retired_reason", "spec",
           "unload"]


_SPECS: dict[str, ModelSpec] = {}
_LOADED: dict[str, Any] = {}
_LOCK = threading.RLock()
_populated = False


def register(spec: ModelSpec) -> ModelSpec:
    if spec.id in _SPECS:
        raise ValueError(f"model id {spec.id!r} is registered twice")
    spec.lookup = _lookup
    _SPECS[spec.id] = spec
    return spec


def _lookup(model_id: str) -> ModelSpec:
    return spec(model_id)


def _populate() -> None:
    """Register the catalogue's models (cheap: no weights are read)."""
    global _populated
    if _populated:
        return
    with _LOCK:
        if _populated:
            return
        from .catalog import specs

        for s in specs():
            register(s)
        _populated = True


def spec(model_id: str) -> ModelSpec:
    _populate()
    try:
        return _SPECS[model_id]
    except KeyError:
        raise KeyError(f"unknown model {model_id!r}; known: {', '.join(sorted(_SPECS))}") from None


def ids(task: str | None = None, available_only: bool = False, retired: bool = False) -> list[str]:
    """Model ids for ``task`` (all tasks when None), default first, in registration order; retired ids only
    when ``retired`` (the benchmarks' default lists)."""
    _populate()
    rows = [s for s in _SPECS.values() if (task is None or s.task == task) and (retired or not s.retired)]
    if available_only:
        rows = [s for s in rows if s.available()]
    rows.sort(key=lambda s: not s.default)
    return [s.id for s in rows]


def default_id(task: str) -> str | None:
    """The model a tab opens with: on a machine without an accelerator the available ``cpu_default`` model if the
    task has one, else the available ``default`` one, else the first available model."""
    from .device import accelerated

    available = ids(task, available_only=True)
    if not accelerated():
        cpu = [i for i in available if _SPECS[i].cpu_default]
        if cpu:
            return cpu[0]
    return available[0] if available else None


def retired_reason(model_id: str) -> str | None:
    """Why ``model_id`` is not offered (a retired id), or None (offered, or not a model at all)."""
    _populate()
    s = _SPECS.get(model_id)
    return s.retired if s is not None and s.retired else None


def is_loaded(model_id: str) -> bool:
    return model_id in _LOADED


def create(model_id: str, pretrained: bool = True, **overrides) -> Any:
    """A new model for ``model_id``: built once with the checkpoint's own arguments, a loader of each of its
    ``parts`` (:func:`get` of the part's id; an override of the same name replaces it) and ``overrides``, its
    weights loaded strictly when ``pretrained`` (and the spec has weights). Raises WeightsUnavailable with a clear
    message.
    """
    s = spec(model_id)
    state = None
    if pretrained and s.weights is not None:
        try:
            path = resolve(s.weights)
        except WeightsUnavailable as exc:
            if s.retired:
                raise WeightsUnavailable(f"{s.id} is retired ({s.retired}); it has no weights to load "
                                         f"(create({s.id!r}, pretrained=False) builds it for training)") from None
            raise WeightsUnavailable(f"{s.label or s.id}: {exc}") from None
        state = load_state_dict(path)
    config = s.config(state) if state is not None and s.config is not None else {}
    parts = {name: partial(get, part) for name, part in s.parts.items()}
    model = s.build(**{**config, **parts, **overrides})
    if state is not None:
        if s.load is not None:
            s.load(model, state)
        else:
            model.load_state_dict(state, strict=True)
    if hasattr(model, "eval"):
        model.eval()
    return model


def get(model_id: str) -> Any:
    """The built, weight-loaded model for ``model_id`` (:func:`create`, cached once per id)."""
    spec(model_id)
    with _LOCK:
        if model_id not in _LOADED:
            _LOADED[model_id] = create(model_id)
        return _LOADED[model_id]


def unload(model_id: str | None = None) -> None:
    """Drop cached models (all when None)."""
    with _LOCK:
        if model_id is None:
            _LOADED.clear()
        else:
            _LOADED.pop(model_id, None)
