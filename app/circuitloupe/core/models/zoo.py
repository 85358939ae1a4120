"""The model zoo: resolve a model spec (zoo name or ``file.py:factory``) to a LoadedModel.

Built-in entries live in the modules listed in ``_ENTRY_MODULES``; each exposes ``ZOO``, a
list of :class:`ZooEntry`. Any torchvision classifier name is accepted as well.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Callable

import torch

from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import LoadedModel

DownloadProgress = Callable[[int, int], None]
# (weights spec: None = the entry's default, "random[:SEED]" or a file path; download progress)
LoadFn = Callable[[str | None, DownloadProgress | None], LoadedModel]

_ENTRY_MODULES = (
    "circuitloupe.core.models.inceptionv1_entry",
    "circuitloupe.core.models.efficientnet_entry",
    "circuitloupe.core.models.bundled",
    "circuitloupe.core.models.gcnn_entry",
)


@dataclass(frozen=True)
class ZooEntry:
    """A named model. ``offline`` is True when its default weights need no network."""

    name: str
    description: str
    load: LoadFn
    offline: bool = False
    default_weights_available: Callable[[], bool] = lambda: False


def entries() -> list[ZooEntry]:
    """Built-in zoo entries, in menu order."""
    found = []
    for module_name in _ENTRY_MODULES:
        found.extend(importlib.import_module(module_name).ZOO)
    return found


def torchvision_names() -> list[str]:
    """Torchvision classification model names, e.g. googlenet, alexnet, vgg16, resnet50."""
    from circuitloupe.core.models import torchvision_zoo

    return torchvision_zoo.classifier_names()


def find_entry(name: str) -> ZooEntry:
    """The zoo entry for ``name`` (built-in or torchvision), or a readable error."""
    lowered = name.lower()
    for entry in entries():
        if entry.name == lowered:
            return entry
    from circuitloupe.core.models import torchvision_zoo

    if lowered in torchvision_zoo.classifier_names():
        return torchvision_zoo.entry(lowered)
    known = [e.name for e in entries()] + torchvision_names()
    close = difflib.get_close_matches(lowered, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `circuitloupe models` lists them"
    raise UserError(f"no model called '{name}'{hint}")


def load_model(spec: str, weights: str | None = None, device: str | torch.device = "cpu",
               progress: DownloadProgress | None = None) -> LoadedModel:
    """Load a model by spec: a zoo name or ``path/to/file.py:factory``.

    ``weights``: None for the entry's default weights (downloaded once or bundled),
    ``random`` / ``random:SEED`` for seeded random weights, or a path to a weights file.
    """
    from circuitloupe.core.models import custom, weights_io

    if custom.is_custom_spec(spec):
        model = custom.load_custom(spec, weights)
    else:
        model = find_entry(spec).load(weights, progress)
    model.spec = spec
    model.weights_spec = weights_io.canonical_spec(weights)
    return model.to(device)


def default_model_spec() -> str:
    """The model a new session opens: the first entry whose default weights are at hand."""
    for entry in entries():
        if entry.default_weights_available():
            return entry.name
    known = entries()
    return next((e.name for e in known if e.offline), known[0].name)


def seeded(build: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """Build a module with deterministic random weights for ``seed``, leaving global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def pick_device(preference: str | None = None) -> torch.device:
    """The device to run on: the user's choice, else CUDA, else MPS, else CPU."""
    if preference and preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
