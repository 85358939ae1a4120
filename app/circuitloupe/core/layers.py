"""The layer catalogue of a model: names, channel counts, shapes and concatenation parts, traced
from one forward pass (:func:`build_catalogue`); and :func:`last_module_before`, which finds the
module (e.g. the conv) that produces a layer.

Below the models in the layering (``LoadedModel.catalogue`` is built here), so it knows a
model only by its attributes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import PRE_RELU_SUFFIX, UnitRef

if TYPE_CHECKING:
    from circuitloupe.core.models.base import LoadedModel


@dataclass(frozen=True)
class LayerInfo:
    """One hook point.

    ``shape`` is (channels, height, width) for the model's input size (height and width are 1
    for vector layers). ``parts`` lists, for a concatenated layer, its branches in order with
    their channel counts. ``group`` is the block a branch belongs to (for the browser tree).
    """

    name: str
    shape: tuple[int, int, int]
    has_pre_relu: bool = False
    parts: tuple[tuple[str, int], ...] = ()
    group: str | None = None

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def is_pre_relu(self) -> bool:
        return self.name.endswith(PRE_RELU_SUFFIX)


@dataclass
class LayerCatalogue:
    """All hook points of a model in execution order, with name resolution."""

    layers: list[LayerInfo]
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {info.name: info for info in self.layers}
        self._order = {info.name: i for i, info in enumerate(self.layers)}

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __contains__(self, name: str) -> bool:
        return self.canonical(name) in self._by_name

    def names(self) -> list[str]:
        return [info.name for info in self.layers]

    def canonical(self, name: str) -> str:
        """The catalogue name for ``name``, applying aliases (``3b_5x5`` -> ``mixed3b_5x5``)."""
        if name in self._by_name:
            return name
        head, sep, rest = name.partition("_")
        if head in self.aliases:
            candidate = self.aliases[head] + sep + rest
            if candidate in self._by_name:
                return candidate
        return name

    def layer(self, name: str) -> LayerInfo:
        """The layer called ``name`` (or an alias of it); a readable error if there is none."""
        canonical = self.canonical(name)
        info = self._by_name.get(canonical)
        if info is None:
            close = difflib.get_close_matches(name, self._by_name, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; `circuitloupe layers` lists them"
            raise UserError(f"this model has no layer '{name}'{hint}")
        return info

    def unit(self, unit: UnitRef | str) -> UnitRef:
        """Validate a unit against the catalogue and return its canonical form."""
        ref = UnitRef.parse(unit) if isinstance(unit, str) else unit
        info = self.layer(ref.layer)
        if not 0 <= ref.channel < info.channels:
            raise UserError(f"{info.name} has channels 0..{info.channels - 1}, not {ref.channel}")
        return UnitRef(info.name, ref.channel)

    def position(self, name: str) -> int:
        """Execution order of a layer (earlier layers have smaller numbers)."""
        return self._order[self.canonical(name)]

    def deepest(self, names: list[str]) -> str:
        return max((self.canonical(n) for n in names), key=self.position)

    def branch_of(self, unit: UnitRef | str) -> UnitRef:
        """Map a unit of a concatenated layer to its branch: mixed3b:379 -> mixed3b_5x5:59.

        Units of layers without parts are returned unchanged (after validation).
        """
        ref = self.unit(unit)
        info = self._by_name[ref.layer]
        offset = 0
        for part, count in info.parts:
            if ref.channel < offset + count:
                return UnitRef(part, ref.channel - offset)
            offset += count
        return ref

    def pre_relu_of(self, name: str) -> str | None:
        """The pre-ReLU layer name for ``name``, or None when the model has none."""
        info = self.layer(name)
        if info.is_pre_relu:
            return info.name
        candidate = info.name + PRE_RELU_SUFFIX
        return candidate if candidate in self._by_name else None

    def children(self, group: str) -> list[LayerInfo]:
        """Branch layers grouped under a block (for the browser tree)."""
        return [info for info in self.layers if info.group == group]


def build_catalogue(model: LoadedModel) -> LayerCatalogue:
    """Trace one forward pass at the model's input size and list its usable hook points.

    A hook point is kept when its module runs exactly once and outputs a [B, C, H, W] or
    [B, C] tensor; layers are listed in execution order.
    """
    order: list[str] = []
    shapes: dict[str, tuple[int, int, int]] = {}
    calls: dict[str, int] = {}
    handles = []

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            calls[name] = calls.get(name, 0) + 1
            if isinstance(output, torch.Tensor) and output.dim() in (2, 4) and name not in shapes:
                order.append(name)
                shape = tuple(output.shape[1:])
                shapes[name] = shape if len(shape) == 3 else (shape[0], 1, 1)
        return hook

    probe = torch.zeros(1, model.in_channels, *model.input_size, device=model.device)
    try:
        for name, module in model.hook_points.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        with torch.no_grad():
            model.forward(probe)
    finally:
        for handle in handles:
            handle.remove()
    points = set(model.hook_points)
    infos = [
        LayerInfo(
            name=name,
            shape=shapes[name],
            has_pre_relu=f"{name}_pre_relu" in points,
            parts=model.layer_parts.get(name, ()),
            group=model.layer_groups.get(name),
        )
        for name in order
        if calls[name] == 1
    ]
    return LayerCatalogue(infos, aliases=dict(model.aliases))


class _Reached(Exception):
    """Ends a forward pass once the layer asked about has been computed."""


def last_module_before(model: LoadedModel, layer: str, candidates: Sequence[nn.Module]) -> nn.Module | None:
    """Of ``candidates``, the module that finishes last before ``layer``'s hook point (one forward pass)."""
    target = model.hook_points[layer]
    order: list[nn.Module] = []

    def record(module, _inputs, _output):
        order.append(module)
        if module is target:
            raise _Reached()

    handles = [m.register_forward_hook(record) for m in {*candidates, target}]
    try:
        with torch.no_grad():
            model.forward(torch.zeros(1, model.in_channels, *model.input_size, device=model.device))
    except _Reached:
        pass
    finally:
        for handle in handles:
            handle.remove()
    chosen = set(map(id, candidates))
    found = [m for m in order if id(m) in chosen]
    return found[-1] if found else None
