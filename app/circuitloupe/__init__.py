"""Circuit Loupe: take a trained vision network apart the way the Distill Circuits thread did.

``import circuitloupe as cl`` is light (no torch); ``cl.load``, ``cl.featvis`` and the other
task functions of :mod:`circuitloupe.api` are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # A submodule (``from circuitloupe import cli``) is imported by the import system, not here,
    # so that importing it never pulls in torch through the API.
    if name.startswith("_") or find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module 'circuitloupe' has no attribute '{name}'")
    api = import_module("circuitloupe.api")
    if name not in api.__all__:
        raise AttributeError(f"module 'circuitloupe' has no attribute '{name}'")
    return getattr(api, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *import_module("circuitloupe.api").__all__})
