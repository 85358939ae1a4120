"""What a zoo entry is: a name, a description and a loader (:class:`ZooEntry`), and
:func:`seeded` for reproducible random weights. The entry modules and :mod:`.zoo` share these,
so that the zoo can import its loaders at the top without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from circuitloupe.core.models.base import LoadedModel

DownloadProgress = Callable[[int, int], None]
# (weights spec: None = the entry's default, "random[:SEED]" or a file path; download progress)
LoadFn = Callable[[str | None, DownloadProgress | None], LoadedModel]


@dataclass(frozen=True)
class ZooEntry:
    """A named model. ``offline`` is True when its default weights need no network."""

    name: str
    description: str
    load: LoadFn
    offline: bool = False
    default_weights_available: Callable[[], bool] = lambda: False


def seeded(build: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """Build a module with deterministic random weights for ``seed``, leaving global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
