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
from dataclasses import dataclass, field
from typing import Any, Callable

from .weights import WeightSource, WeightsUnavailable, load_state_dict, resolve


@dataclass
class ModelSpec:
    id: str
    task: str
    build: Callable[..., Any]  # build(**config) -> the (uninitialised) model; weight-free models are complete here
    weights: WeightSource | None = None
    load: Callable[[Any, dict], None] | None = None  # how to put a state_dict into the built model
    config: Callable[[dict], dict] | None = None  # build arguments a checkpoint fixes, read from its state_dict
    license: str = "Apache-2.0"
    card: str | None = None  # path under weights/ of the model card
    label: str = ""
    description: str = ""
    default: bool = False
    cpu_default: bool = False  # the tab's default on a machine without an accelerator (a faster model)
    tags: tuple[str, ...] = field(default_factory=tuple)
    requires: tuple[str, ...] = ()  # ids of registered models this one is built from (e.g. a cascade's stages)
    #: why this id is not offered (set in models/catalog.py, README *Retired*): a retired model is left out of
    #: :func:`ids` (tabs, API, CLI, ``frameforge models``); it still builds untrained (``create(id,
    #: pretrained=False)``, training and benchmarks) and loads by id where its weights exist (the benchmarks)
    retired: str = ""

    def available(self) -> bool:
        """Its own weights are configured, and so are those of every model in ``requires``."""
        own = self.weights is None or self.weights.configured()
        return own and all(spec(r).available() for r in self.requires)

    def origin(self) -> str:
        """Where the weights come from, in a few words (for model choices and cards)."""
        if self.weights is None:
            inner = [spec(r).origin() for r in self.requires]
            return "weight-free" if not inner else "; ".join(dict.fromkeys(inner))
        return self.weights.origin()

    def card_text(self) -> str:
        """The model card (markdown): the header the registry knows, then the card file under weights/ if any."""
        from .weights import WEIGHTS_DIR

        head = (f"### {self.label or self.id}\n\n`{self.id}` — {self.description}\n\n"
                f"- **Weights**: {self.origin()}\n- **Licence**: {self.license}\n")
        path = WEIGHTS_DIR / self.card if self.card else None
        if path is not None and path.is_file():
            return head + "\n" + path.read_text()
        return head


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
    """A new model for ``model_id``: built once with the checkpoint's own arguments and ``overrides``, its weights
    loaded strictly when ``pretrained`` (and the spec has weights). Raises WeightsUnavailable with a clear message.
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
    model = s.build(**{**config, **overrides})
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
