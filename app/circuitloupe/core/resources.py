"""Files shipped with the app (bundled weights, model cards, samples, icons)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource: inside the installed package, or the checkout's resources/."""
    packaged = Path(str(files("circuitloupe"))) / "resources"
    root = packaged if packaged.is_dir() else Path(__file__).resolve().parents[3] / "resources"
    return root.joinpath(*parts)
