"""Layering rules: core never imports Qt (import-linter contracts in pyproject.toml)."""

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
