"""One registry entry, :class:`ModelSpec`: a leaf module (it imports no model and not the registry), so the
``specs.py`` files of the model families import it and nothing above them, and ``models/catalog.py`` collects their
lists for :mod:`models.registry` without an import cycle."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .weights import WeightSource


@dataclass
class ModelSpec:
    id: str
    task: str
    build: Callable[..., Any]  # build(**config, **parts) -> the (uninitialised) model; weight-free models are complete
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
    #: the registered models this one is composed of: build argument -> model id. ``registry.create`` passes each as
    #: a zero-argument loader (``registry.get(id)``, cached and shared), which the builder calls at once or hands to
    #: the constructor to call on first use (so building a model never loads a part it may not need). The ids
    #: join ``requires``.
    parts: dict[str, str] = field(default_factory=dict)
    #: why this id is not offered (set in models/catalog.py, README *Retired*): a retired model is left out of
    #: ``registry.ids`` (tabs, API, CLI, ``frameforge models``); it still builds untrained (``create(id,
    #: pretrained=False)``, training and benchmarks) and loads by id where its weights exist (the benchmarks)
    retired: str = ""
    #: how this spec finds the specs it requires by id: set by ``registry.register``
    lookup: Callable[[str], "ModelSpec"] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.requires = tuple(dict.fromkeys((*self.requires, *self.parts.values())))

    def _required(self) -> list["ModelSpec"]:
        if self.requires and self.lookup is None:
            raise RuntimeError(f"{self.id} requires {', '.join(self.requires)}: register it first")
        return [self.lookup(r) for r in self.requires]

    def available(self) -> bool:
        """Its own weights are configured, and so are those of every model in ``requires``."""
        own = self.weights is None or self.weights.configured()
        return own and all(s.available() for s in self._required())

    def origin(self) -> str:
        """Where the weights come from, in a few words (for model choices and cards)."""
        if self.weights is None:
            inner = [s.origin() for s in self._required()]
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
