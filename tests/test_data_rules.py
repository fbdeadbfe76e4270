"""No test reads an evaluation folder of ../shared/data (``*_eval``: the benchmarks' alone, never training or
tuning, and so never a test's threshold either): the tests' code is read from the AST, docstrings aside."""
from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
EVAL = re.compile(r"\b[a-z0-9]+_eval\b")


def eval_paths(source: str) -> list[str]:
    """String constants naming an ``*_eval`` folder, docstrings excepted (f-string parts included)."""
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [f"{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
            and EVAL.search(n.value)]


def test_the_check_sees_a_path_and_skips_docstrings():
    code = '"""About faces_eval."""\nroot = shared / "vfi_eval" / "davis"\nx = f"{root}/video_eval/a"\n'
    assert sorted(hit.split(":")[0] for hit in eval_paths(code)) == ["2", "3"]


def test_no_test_names_an_eval_folder():
    hits = [f"{path.name}:{hit}" for path in sorted(TESTS.rglob("*.py")) if path.name != Path(__file__).name
            for hit in eval_paths(path.read_text())]
    assert not hits, "tests must use training folders or fixtures:\n" + "\n".join(hits)
