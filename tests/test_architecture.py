"""Layering rules: core never imports Qt (import-linter contracts in pyproject.toml)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
    """A fresh clone has no ../shared: neither the app nor a test may read it."""
    pattern = re.compile(r"\.\./shared|/ \"shared\"")
    offenders = [str(path.relative_to(ROOT)) for folder in ("app", "tests") for path in (ROOT / folder).rglob("*.py")
                 if path != Path(__file__).resolve() and pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
