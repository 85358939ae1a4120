"""The syntax of model and weights specs, shared by the model zoo and project files.

A model spec ``path/to/file.py:factory`` names a Python model file (loading it runs that file);
a weights spec ``random`` or ``random:SEED`` asks for seeded random weights, and anything else
is a weights file's path.
"""

from __future__ import annotations

import os
import re

from circuitloupe.core.errors import WeightsError

MAX_SEED = 2**64 - 1
_RANDOM_SPEC = re.compile(r"random(?::([0-9]+))?")


def is_custom_spec(spec: str) -> bool:
    """Whether ``spec`` names a model file (``file.py:factory``)."""
    path, sep, _ = spec.rpartition(":")
    return bool(sep) and path.endswith(".py")


def parse_random_spec(weights: str | None) -> int | None:
    """The seed when ``weights`` asks for seeded random weights, else None (a file, or the default).

    Only ``random`` (seed 0) and ``random:SEED`` (SEED a whole number from 0 to MAX_SEED) mean
    random weights; anything else is a weights file path, ``random_trained.safetensors`` too.
    ``random:`` followed by anything else is an error, unless a file of that name exists.
    """
    if weights is None:
        return None
    match = _RANDOM_SPEC.fullmatch(weights)
    if match and len(match.group(1) or "") <= 20 and int(match.group(1) or 0) <= MAX_SEED:
        return int(match.group(1) or 0)
    if weights.startswith("random:") and not os.path.lexists(weights):
        raise WeightsError(f"{_clip(repr(weights))} is neither random:SEED (SEED a whole number from 0 to {MAX_SEED}) "
                           "nor an existing weights file")
    return None


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
