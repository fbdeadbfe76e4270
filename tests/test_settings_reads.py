"""models/settings.py is the one module that reads FRAMEFORGE_* variables (README, *Settings and limits*): the
settings table through :func:`settings.get`, the per-model weight locations through :func:`settings.weight_location`.
The tree is read from the AST, function-level code included."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("models", "demos", "frameforge", "bench", "train", "docs")
WRITES = ("setdefault", "pop", "update", "copy")  # setting a variable (app.py's defaults) or copying env for a child


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def _frameforge_or_unknown(key: ast.AST) -> bool:
    """A key that is, or may be, a FRAMEFORGE_* name (a non-constant key may hold one)."""
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value.startswith("FRAMEFORGE_")
    if isinstance(key, ast.JoinedStr):  # f"FRAMEFORGE_{x}" or f"{var}_REPO"
        head = key.values[0] if key.values else None
        return not (isinstance(head, ast.Constant) and not str(head.value).startswith("FRAMEFORGE_"))
    return True


def environment_reads(source: str, filename: str = "<code>") -> list[str]:
    """``line: code`` of every read of a FRAMEFORGE_* variable (or of a variable named at run time) in ``source``:
    ``os.environ.get(k)``, ``os.environ[k]``, ``os.getenv(k)``, ``k in os.environ``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            f = node.func
            if (_is_environ(f.value) and f.attr == "get") or (
                    f.attr == "getenv" and isinstance(f.value, ast.Name) and f.value.id == "os"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            key = node.left
        if key is not None and _frameforge_or_unknown(key):
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_checker_finds_every_form_of_read():
    code = "\n".join([
        'import os',
        'a = os.environ.get("FRAMEFORGE_MAX_FACES")',
        'b = os.environ["FRAMEFORGE_DEVICE"]',
        'c = os.getenv("FRAMEFORGE_MCP", "1")',
        'd = "FRAMEFORGE_MCP" in os.environ',
        'e = os.environ.get(name)',
        'f = os.environ.get(f"{var}_REPO")',
        'ok1 = os.environ.get("SPACES_ZERO_GPU")',
        'ok2 = os.environ.get(f"PYTHON{x}")',
        'os.environ["FRAMEFORGE_DEVICE"] = "cpu"',
        'os.environ.setdefault("FRAMEFORGE_OUTPUT_DIR", "/tmp/x")',
        'env = dict(os.environ, FRAMEFORGE_DEVICE="cpu")',
    ])
    assert [line.split(":")[1] for line in environment_reads(code)] == ["2", "3", "4", "5", "6", "7"]


def test_no_module_but_settings_reads_a_frameforge_variable():
    files = [ROOT / "app.py"] + [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 100
    reads = []
    for path in files:
        if path == ROOT / "models" / "settings.py":
            continue
        reads += environment_reads(path.read_text(), str(path.relative_to(ROOT)))
    assert not reads, "read FRAMEFORGE_* through models/settings.py instead:\n" + "\n".join(reads)
    settings_reads = environment_reads((ROOT / "models" / "settings.py").read_text())
    assert settings_reads  # the one reader (the checker sees it)


def test_weight_locations_are_read_when_asked(monkeypatch, tmp_path):
    """A weight file named after start-up is found (the registry resolves lazily), an empty value is unset, and
    only FRAMEFORGE_* names are read."""
    from models import settings
    from models.weights import WeightSource, resolve

    monkeypatch.delenv("FRAMEFORGE_TEST_CKPT", raising=False)
    assert settings.weight_location("FRAMEFORGE_TEST_CKPT") is None
    source = WeightSource(env_var="FRAMEFORGE_TEST_CKPT")
    assert not source.configured()
    (tmp_path / "w.safetensors").write_bytes(b"x")
    monkeypatch.setenv("FRAMEFORGE_TEST_CKPT", str(tmp_path / "w.safetensors"))
    assert source.configured() and resolve(source) == tmp_path / "w.safetensors"
    monkeypatch.setenv("FRAMEFORGE_TEST_CKPT", "")
    assert settings.weight_location("FRAMEFORGE_TEST_CKPT") is None and not source.configured()
    with pytest.raises(ValueError, match="not a FrameForge variable"):
        settings.weight_location("HOME")
