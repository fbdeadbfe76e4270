"""The import graph of FrameForge's own code, read from the AST (function-level imports included): no cycle, and
no model family module fetches its parts from the registry (composition happens in the ``specs.py`` builders)."""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "demos", "train", "bench", "frameforge")
FAMILIES = ("backbones", "baselines", "clean", "face", "ops", "stvsr", "svs", "vfi")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    files = [ROOT / "app.py"] + [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return {module_name(p): p for p in files}


def imported(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that ``mod`` imports anywhere in its body (``from pkg import name`` counts as the submodule
    pkg.name when that is a module, else as pkg)."""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # an attribute or a module outside the tree: its nearest package
                name = name.rpartition(".")[0]
            if name and name != mod:
                out.add(name)
    return out


@cache
def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imported(m, p, known) for m, p in known.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_graph_is_read_from_the_ast():
    g = graph()
    assert "models.registry" in g and "app" in g and "bench.face" in g
    assert "models.catalog" in g["models.registry"]  # a function-level import counts
    assert "models.imageio" in g["models.backbones.rife"]  # "from models.imageio import ..." names the module
    assert "models.backbones.specs" in g["models.catalog"]  # "from .backbones.specs import ..." too
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def registry_calls(path: Path) -> list[str]:
    """``registry.get(...)`` / ``registry.create(...)`` calls (any receiver spelled ``registry``) and direct calls of
    a ``get`` / ``create`` imported from the registry module."""
    tree = ast.parse(path.read_text(), str(path))
    direct = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              and (node.module or "").endswith("registry") for a in node.names if a.name in ("get", "create")}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("get", "create") and (
                isinstance(f.value, ast.Name) and f.value.id == "registry"
                or isinstance(f.value, ast.Attribute) and f.value.attr == "registry"):
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} registry.{f.attr}")
        elif isinstance(f, ast.Name) and f.id in direct:
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {f.id}")
    return out


def test_registry_call_detector_sees_calls():
    sample = ROOT / "models" / "registry.py"  # get() calls create(): a direct call the detector must see
    assert not registry_calls(sample)  # defined there, not imported: not a "registry" call
    assert any("registry.get" in c for c in registry_calls(ROOT / "frameforge" / "__main__.py"))


def test_no_model_module_calls_the_registry():
    calls = [c for fam in FAMILIES for p in sorted((ROOT / "models" / fam).rglob("*.py")) if p.name != "specs.py"
             for c in registry_calls(p)]
    assert not calls, "model modules fetching parts from the registry (pass them in from specs.py): " + ", ".join(calls)


def test_specs_pass_parts_as_lazy_loaders():
    """Composition in the specs: ``registry.create`` hands each part to the builder as a zero-argument loader; a
    model that needs a part only on first use is built without loading it."""
    from models import registry
    from models.modelspec import ModelSpec

    calls = []

    class Outer:
        def __init__(self, inner):
            self.load_inner = inner

    inner = ModelSpec(id="test_graph_inner", task="test", build=lambda: calls.append("built") or "inner model")
    outer = ModelSpec(id="test_graph_outer", task="test", build=Outer, parts={"inner": "test_graph_inner"},
                      requires=("test_graph_inner",))
    try:
        registry.register(inner)
        registry.register(outer)
        assert outer.requires == ("test_graph_inner",) and outer.available()
        made = registry.create("test_graph_outer")
        assert calls == [] and not registry.is_loaded("test_graph_inner")  # nothing loaded by building
        assert made.load_inner() == "inner model" and made.load_inner() == "inner model" and calls == ["built"]
        override = registry.create("test_graph_outer", inner=lambda: "mine")  # a part can be replaced by name
        assert override.load_inner() == "mine"
    finally:
        for i in ("test_graph_outer", "test_graph_inner"):
            registry.unload(i)
            registry._SPECS.pop(i, None)

    real = registry.spec("face_realesrgan")  # a shipped composition: its parts are required and passed lazily
    assert real.parts == {"upscaler": "realesrgan_x4plus", "faithful": "face_basicvsr"}
    assert set(real.parts.values()) <= set(real.requires)
    restorer = registry.create("face_realesrgan")
    assert restorer.upscaler is None and restorer.faithful is None
    assert restorer.load_upscaler.func is registry.get and restorer.load_upscaler.args == ("realesrgan_x4plus",)
