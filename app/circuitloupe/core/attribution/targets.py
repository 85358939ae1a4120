"""What an attribution explains: one scalar per image, and the module that computes it.

A target is a unit's value at one position (the centre by default), a unit's whole map (summed
over positions), a direction over a layer's channels (at one position or summed over the map),
a family of units (the sum of their whole maps) or a class logit. :class:`TargetModule` wraps a
:class:`LoadedModel` as an ``nn.Module`` that maps images in [0, 1] to that scalar, running the
network only up to the deepest layer the target needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from circuitloupe.core.activations import forward_until
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef, parse_unit_list

Position = tuple[int, int]


def _as_maps(value: torch.Tensor) -> torch.Tensor:
    return value if value.dim() == 4 else value.reshape(value.shape[0], -1, 1, 1)


def _centre(maps: torch.Tensor) -> Position:
    return maps.shape[2] // 2, maps.shape[3] // 2


def _read(maps: torch.Tensor, position: Position | str | None, whole_map: bool) -> torch.Tensor:
    """``[B, H, W]`` maps at ``position`` (None = the centre; ``"max"`` is resolved before), or summed
    with ``whole_map``: ``[B]``."""
    if whole_map:
        return maps.sum(dim=(1, 2))
    y, x = position if position is not None else (maps.shape[1] // 2, maps.shape[2] // 2)
    return maps[:, y, x]


def _where(position: Position | str | None, whole_map: bool) -> str:
    return "whole map" if whole_map else f"at {position}" if position else "centre"


@dataclass(frozen=True)
class UnitTarget:
    """A unit's value at ``position`` (row, column in its layer; None = the centre; ``"max"`` =
    where it is largest on the image, see :func:`resolve_position`), or, with ``whole_map``,
    the sum of its map over all positions."""

    unit: UnitRef
    position: Position | str | None = None
    whole_map: bool = False

    def layers(self) -> list[str]:
        return [self.unit.layer]

    def value(self, found: dict[str, torch.Tensor], output: torch.Tensor | None) -> torch.Tensor:
        return _read(_as_maps(found[self.unit.layer])[:, self.unit.channel], self.position, self.whole_map)

    def describe(self) -> str:
        return f"{self.unit} ({_where(self.position, self.whole_map)})"


@dataclass(frozen=True)
class DirectionTarget:
    """``vector`` (one weight per channel of ``layer``) dotted with the layer's activations at
    ``position`` (None = the centre, ``"max"`` as for units), or summed over the map with
    ``whole_map``."""

    layer: str
    vector: tuple[float, ...]
    position: Position | str | None = None
    whole_map: bool = False

    def layers(self) -> list[str]:
        return [self.layer]

    def value(self, found: dict[str, torch.Tensor], output: torch.Tensor | None) -> torch.Tensor:
        maps = _as_maps(found[self.layer])
        if len(self.vector) != maps.shape[1]:
            raise UserError(f"the direction has {len(self.vector)} entries but {self.layer} has "
                            f"{maps.shape[1]} channels")
        weights = torch.tensor(self.vector, dtype=maps.dtype, device=maps.device)
        return _read(torch.einsum("bchw,c->bhw", maps, weights), self.position, self.whole_map)

    def describe(self) -> str:
        return f"direction over {self.layer} ({_where(self.position, self.whole_map)})"


@dataclass(frozen=True)
class FamilyTarget:
    """The sum of several units' whole maps (e.g. all mixed3b curve detectors); units may sit in
    different layers."""

    units: tuple[UnitRef, ...]

    def layers(self) -> list[str]:
        return sorted({u.layer for u in self.units})

    def value(self, found: dict[str, torch.Tensor], output: torch.Tensor | None) -> torch.Tensor:
        total = 0
        for unit in self.units:
            total = total + _as_maps(found[unit.layer])[:, unit.channel].sum(dim=(1, 2))
        return total

    def describe(self) -> str:
        return f"family of {len(self.units)} units ({', '.join(str(u) for u in self.units[:4])}" + \
            (", …)" if len(self.units) > 4 else ")")


@dataclass(frozen=True)
class ClassTarget:
    """The network output's entry ``index`` (a class logit for classifiers)."""

    index: int

    def layers(self) -> list[str]:
        return []

    def value(self, found: dict[str, torch.Tensor], output: torch.Tensor | None) -> torch.Tensor:
        if output is None or output.dim() != 2:
            raise UserError("this model's output is not a vector of class scores")
        if not 0 <= self.index < output.shape[1]:
            raise UserError(f"the model has classes 0..{output.shape[1] - 1}, not {self.index}")
        return output[:, self.index]

    def describe(self) -> str:
        return f"class {self.index}"


Target = UnitTarget | DirectionTarget | FamilyTarget | ClassTarget


def parse_target(model: LoadedModel, text: str, whole_map: bool = False,
                 position: Position | str | None = None) -> Target:
    """A target from text: ``class:N``, ``layer:channel`` or a unit list ``mixed3b:379,406``
    (a family: the sum of the units' whole maps). Units are checked against the model."""
    head = text.strip().lower()
    if head.startswith(("class:", "logit:")):
        index = head.split(":", 1)[1].strip()
        if not index.isdigit():
            raise UserError(f"'{text}' is not a class; write class:N with N a class index")
        return ClassTarget(int(index))
    units = [model.catalogue.unit(u) for u in parse_unit_list(text)]
    if len(units) > 1:
        return FamilyTarget(tuple(units))
    if isinstance(position, str):
        position = parse_position(position)
    return UnitTarget(units[0], position, whole_map)


def parse_position(text: str | None) -> Position | str | None:
    """``centre`` (None), ``max`` or ``ROW,COL`` (layer coordinates) from the command line."""
    if text is None or text.strip().lower() in ("centre", "center", ""):
        return None
    if text.strip().lower() == "max":
        return "max"
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UserError(f"position '{text}' is not centre, max or ROW,COL")
    return int(parts[0]), int(parts[1])


def family_target(model: LoadedModel, units: Sequence[UnitRef | str]) -> FamilyTarget:
    """A family target from unit names, validated against the model."""
    refs = tuple(model.catalogue.unit(u) for u in units)
    if not refs:
        raise UserError("a family needs at least one unit")
    return FamilyTarget(refs)


def direction_target(model: LoadedModel, layer: str, vector: Sequence[float] | np.ndarray,
                     position: Position | str | None = None, whole_map: bool = False) -> DirectionTarget:
    """A direction target over ``layer``, validated against its channel count."""
    info = model.catalogue.layer(layer)
    values = tuple(float(v) for v in np.asarray(vector, dtype=np.float64).ravel())
    if len(values) != info.channels:
        raise UserError(f"the direction has {len(values)} entries but {info.name} has {info.channels} channels")
    return DirectionTarget(info.name, values, position, whole_map)


def resolve_position(model: LoadedModel, images: torch.Tensor, target: Target) -> Target:
    """Make a unit or direction target's position concrete on ``images`` ([1, C, H, W]).

    ``"max"`` becomes the position where the target is largest; a given position is checked
    against the layer's map size. Other targets are returned unchanged.
    """
    if not isinstance(target, (UnitTarget, DirectionTarget)) or target.whole_map:
        return target
    layer = target.layers()[0]
    maps = _as_maps(forward_until(model, images, [layer])[layer])
    height, width = maps.shape[2:]
    if target.position == "max":
        if isinstance(target, UnitTarget):
            values = maps[0, target.unit.channel]
        else:
            weights = torch.tensor(target.vector, dtype=maps.dtype, device=maps.device)
            values = torch.einsum("chw,c->hw", maps[0], weights)
        flat = int(torch.argmax(values))
        return replace(target, position=(flat // width, flat % width))
    if target.position is None:
        return replace(target, position=_centre(maps))
    y, x = target.position
    if not (0 <= y < height and 0 <= x < width):
        raise UserError(f"position ({y}, {x}) is outside {layer}'s {height}x{width} map")
    return target


class TargetModule(nn.Module):
    """``LoadedModel`` + target as an ``nn.Module``: images [B, C, H, W] in [0, 1] -> [B].

    The network is a registered submodule (so Captum's guided backprop finds its ReLUs). Each
    forward checks ``should_stop`` (raising :class:`~circuitloupe.core.jobs.Cancelled`) and
    counts the images it has seen, for progress reports.
    """

    def __init__(self, model: LoadedModel, target: Target, should_stop: StopFn | None = None) -> None:
        super().__init__()
        self.net = model.net
        self.model = model
        self.target = target
        self.should_stop = should_stop
        self.images_seen = 0
        self.on_forward = None  # optional callable(images_seen) after each forward

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_stop(self.should_stop)
        layers = self.target.layers()
        if layers:
            found, output = forward_until(self.model, images, layers, detach=False), None
        else:
            found, output = {}, self.model.forward(images.to(self.model.device))
        value = self.target.value(found, output)
        self.images_seen += images.shape[0]
        if self.on_forward is not None:
            self.on_forward(self.images_seen)
        return value
