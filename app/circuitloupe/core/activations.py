"""Activation capture with hooks that never outlive a call, and the truncated forward.

``capture`` runs images through a model and returns the requested layers. It stops the forward
pass right after the deepest requested layer has been computed, so asking for ``mixed3b`` never
pays for ``mixed4a`` onwards. Hooks are removed in ``finally``; returned tensors are clones.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch

from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


class _StopForward(Exception):
    """Raised by the last needed hook to end the forward pass early."""


@contextmanager
def recording(model: LoadedModel, layers: Sequence[str], stop_after: str | None = None,
              detach: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, forward passes fill the yielded dict with ``layer -> output``.

    With ``stop_after``, the forward pass is cut off (by an exception the caller must let
    :func:`forward_until` handle) once that layer and all requested ones are recorded.
    ``detach=False`` keeps the autograd graph (for feature visualisation and attribution).
    """
    found: dict[str, torch.Tensor] = {}
    wanted = set(layers)
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            value = output.detach().clone() if detach else output.clone()
            found[name] = value
            if stop_after is not None and name == stop_after and wanted <= found.keys():
                raise _StopForward()
        return hook

    try:
        for name in wanted:
            handles.append(model.hook_points[name].register_forward_hook(make_hook(name)))
        yield found
    finally:
        for handle in handles:
            handle.remove()


def forward_until(model: LoadedModel, images: torch.Tensor, layers: Sequence[str],
                  truncate: bool = True, detach: bool = True) -> dict[str, torch.Tensor]:
    """Run ``images`` ([B, C, H, W] in [0, 1]) and return ``{layer: tensor}`` for ``layers``.

    Layer names must be catalogue names (see :meth:`LayerCatalogue.canonical`).
    """
    catalogue = model.catalogue
    names = [catalogue.canonical(n) for n in layers]
    for name in names:
        catalogue.layer(name)
    stop_after = catalogue.deepest(names) if truncate else None
    context = torch.no_grad() if detach else torch.enable_grad()
    with context, recording(model, names, stop_after, detach) as found:
        try:
            model.forward(images.to(model.device))
        except _StopForward:
            pass
    return {name: found[name] for name in names}


def capture(model: LoadedModel, images: torch.Tensor | np.ndarray, layers: Sequence[str],
            truncate: bool = True) -> dict[str, np.ndarray]:
    """Activations as numpy arrays ``{layer: [B, C, H, W]}`` (vector layers: [B, C, 1, 1])."""
    tensor = torch.as_tensor(images, dtype=torch.float32)
    found = forward_until(model, tensor, layers, truncate=truncate)
    return {name: _as_maps(value).cpu().numpy() for name, value in found.items()}


def unit_values(model: LoadedModel, images: torch.Tensor, units: Sequence[UnitRef],
                position: tuple[int, int] | None = None) -> torch.Tensor:
    """Each unit's value at ``position`` (default: the centre) for each image: [B, len(units)]."""
    catalogue = model.catalogue
    units = [catalogue.unit(u) for u in units]
    found = forward_until(model, images, sorted({u.layer for u in units}))
    columns = []
    for unit in units:
        maps = _as_maps(found[unit.layer])
        y, x = position if position is not None else (maps.shape[2] // 2, maps.shape[3] // 2)
        columns.append(maps[:, unit.channel, y, x])
    return torch.stack(columns, dim=1)


def layer_shapes(model: LoadedModel, input_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    """Output shape (C, H, W) of every catalogue layer for another input size."""
    names = model.catalogue.names()
    probe = torch.zeros(1, model.in_channels, *input_size, device=model.device)
    found = forward_until(model, probe, names, truncate=False)
    return {name: tuple(_as_maps(value).shape[1:]) for name, value in found.items()}


def _as_maps(value: torch.Tensor) -> torch.Tensor:
    return value if value.dim() == 4 else value.reshape(value.shape[0], -1, 1, 1)

