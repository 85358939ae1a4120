"""Layering rules: core never imports Qt, the layers contract and no import cycles (import-linter
contracts in pyproject.toml)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

ROOT = REPO


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_without_qt():
    code = ("import sys, circuitloupe.core.models, circuitloupe.core.activations, circuitloupe.core.figures;"
            "bad=[m for m in sys.modules if m.startswith(('PySide6','pyqtgraph','shiboken6'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nothing_reads_outside_the_repository():
    """A fresh clone has this repository only (not the shared folder beside it): neither the app nor a
    test may read outside it."""
    pattern = re.compile(r"\.\./shared|/ \"shared\"")
    offenders = [str(path.relative_to(ROOT)) for folder in ("app", "tests") for path in (ROOT / folder).rglob("*.py")
                 if path != Path(__file__).resolve() and pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (functions included), except for annotations."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotations_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                        and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("circuitloupe"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                      for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found & modules


def test_no_import_cycles():
    """No module imports itself back through others, not even from inside a function."""
    app = ROOT / "app"
    paths = {".".join(p.relative_to(app).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (app / "circuitloupe").rglob("*.py")}
    graph = {name: _imports(path, set(paths)) for name, path in paths.items()}
    cycles = []

    def visit(name: str, trail: list[str], done: set[str]) -> None:
        for other in sorted(graph[name]):
            if other in trail:
                cycles.append(trail[trail.index(other):] + [other])
            elif other not in done:
                visit(other, [*trail, other], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert cycles == []
