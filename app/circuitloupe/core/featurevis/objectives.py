"""Objectives: what an optimised image should maximise, composable with ``+ - *`` and numbers.

An :class:`Objective` is a recipe; :meth:`Objective.bind` checks it against a model's layer
catalogue and returns a :class:`Bound` objective: the layers it reads (so the render runs the
network only up to the deepest one) and a function ``fn(acts, index) -> values``. ``acts`` maps
each layer to its activations [B, C, H, W] for the whole batch (vector layers as [B, C, 1, 1]);
``index`` ([n] long tensor) picks the images this objective is optimising, and ``values`` is one
number per picked image (larger is better). Units of a concatenated layer are read from their
branch (``mixed3b:379`` from ``mixed3b_5x5:59``), which lets the forward pass stop earlier.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from circuitloupe.core.errors import UserError
from circuitloupe.core.layers import LayerCatalogue
from circuitloupe.core.units import UnitRef

Acts = Mapping[str, torch.Tensor]
ValueFn = Callable[[Acts, torch.Tensor], torch.Tensor]

OBJECTIVE_KINDS = ("channel", "neuron", "direction")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2}


@dataclass(frozen=True)
class Bound:
    """An objective checked against one model.

    ``layers``: catalogue names whose activations ``fn`` reads. ``grad_sources``: layers whose
    recorded tensors must be the network's own outputs (not copies), because ``fn`` takes
    gradients with respect to them (the attribution objective).
    """

    fn: ValueFn
    layers: frozenset[str]
    grad_sources: frozenset[str] = frozenset()

    def __call__(self, acts: Acts, index: torch.Tensor) -> torch.Tensor:
        return self.fn(acts, index)


class Objective:
    """A named recipe for a per-image value to maximise; see the module docstring."""

    def __init__(self, name: str, bind: Callable[[LayerCatalogue], Bound], precedence: int = 3) -> None:
        self.name = name
        self._bind = bind
        self._precedence = precedence  # for names: 1 sum, 2 product or negation, 3 atom

    def bind(self, catalogue: LayerCatalogue) -> Bound:
        """Validate units and layers against ``catalogue`` (raises UserError) and resolve names."""
        return self._bind(catalogue)

    def layers(self, catalogue: LayerCatalogue) -> list[str]:
        """The catalogue layers this objective reads, in execution order."""
        return sorted(self.bind(catalogue).layers, key=catalogue.position)

    def __repr__(self) -> str:
        return self.name

    def _combine(self, other: Objective | float, op: Callable, symbol: str, reverse: bool = False) -> Objective:
        if isinstance(other, (int, float, np.floating, np.integer)):
            constant = float(other)

            def bind_constant(catalogue: LayerCatalogue) -> Bound:
                inner = self.bind(catalogue)
                if reverse:
                    return Bound(lambda acts, idx: op(constant, inner(acts, idx)), inner.layers, inner.grad_sources)
                return Bound(lambda acts, idx: op(inner(acts, idx), constant), inner.layers, inner.grad_sources)

            level = _PRECEDENCE[symbol]
            if reverse:
                name = f"{constant:g} {symbol} {self._wrapped(level, symbol == '-')}"
            else:
                name = f"{self._wrapped(level)} {symbol} {constant:g}"
            return Objective(name, bind_constant, level)
        if not isinstance(other, Objective):
            return NotImplemented

        def bind_pair(catalogue: LayerCatalogue) -> Bound:
            a, b = self.bind(catalogue), other.bind(catalogue)
            return Bound(lambda acts, idx: op(a(acts, idx), b(acts, idx)), a.layers | b.layers,
                         a.grad_sources | b.grad_sources)

        level = _PRECEDENCE[symbol]
        name = f"{self._wrapped(level)} {symbol} {other._wrapped(level, symbol == '-')}"
        return Objective(name, bind_pair, level)

    def _wrapped(self, level: int, strict: bool = False) -> str:
        """The name, in brackets where an operator of ``level`` would bind more tightly."""
        needs = self._precedence < level or (strict and self._precedence == level)
        return f"({self.name})" if needs else self.name

    def __add__(self, other):
        return self._combine(other, operator.add, "+")

    def __radd__(self, other):
        return self._combine(other, operator.add, "+", reverse=True)

    def __sub__(self, other):
        return self._combine(other, operator.sub, "-")

    def __rsub__(self, other):
        return self._combine(other, operator.sub, "-", reverse=True)

    def __mul__(self, other):
        return self._combine(other, operator.mul, "*")

    def __rmul__(self, other):
        return self._combine(other, operator.mul, "*", reverse=True)

    def __truediv__(self, other):
        if not isinstance(other, (int, float, np.floating, np.integer)):
            return NotImplemented
        return self._combine(1.0 / float(other), operator.mul, "*")

    def __neg__(self) -> Objective:
        def bind(catalogue: LayerCatalogue) -> Bound:
            inner = self.bind(catalogue)
            return Bound(lambda acts, idx: -inner(acts, idx), inner.layers, inner.grad_sources)

        return Objective(f"-{self._wrapped(3)}", bind, 2)


def _unit_ref(layer_or_unit: str | UnitRef, ch: int | None) -> UnitRef:
    if isinstance(layer_or_unit, UnitRef):
        return layer_or_unit if ch is None else UnitRef(layer_or_unit.layer, ch)
    if ch is None:
        return UnitRef.parse(layer_or_unit)
    return UnitRef(layer_or_unit, int(ch))


def _resolve_unit(catalogue: LayerCatalogue, unit: UnitRef) -> UnitRef:
    """Validate a unit and map it to its branch of a concatenated layer."""
    return catalogue.branch_of(catalogue.unit(unit))


def channel(layer_or_unit: str | UnitRef, ch: int | None = None) -> Objective:
    """A unit's activation averaged over all positions: ``channel("mixed3b:379")`` or
    ``channel("mixed3b", 379)``."""
    unit = _unit_ref(layer_or_unit, ch)

    def bind(catalogue: LayerCatalogue) -> Bound:
        ref = _resolve_unit(catalogue, unit)
        return Bound(lambda acts, idx: acts[ref.layer][idx, ref.channel].mean(dim=(1, 2)), frozenset({ref.layer}))

    return Objective(f"channel({unit})", bind)


def neuron(unit: str | UnitRef, position: tuple[int, int] | None = None) -> Objective:
    """A unit's activation at one position (row, column) of its map; default the centre."""
    ref0 = _unit_ref(unit, None)

    def bind(catalogue: LayerCatalogue) -> Bound:
        ref = _resolve_unit(catalogue, ref0)

        def fn(acts: Acts, idx: torch.Tensor) -> torch.Tensor:
            maps = acts[ref.layer]
            y, x = position if position is not None else (maps.shape[2] // 2, maps.shape[3] // 2)
            if not (0 <= y < maps.shape[2] and 0 <= x < maps.shape[3]):
                raise UserError(f"position ({y}, {x}) is outside {ref.layer}'s {maps.shape[2]}x{maps.shape[3]} map")
            return maps[idx, ref.channel, y, x]

        return Bound(fn, frozenset({ref.layer}))

    where = "" if position is None else f" at {tuple(position)}"
    return Objective(f"neuron({ref0}{where})", bind)


def direction(layer: str, vector: Sequence[float] | np.ndarray | torch.Tensor, cosine: bool = False) -> Objective:
    """A direction in a layer's channel space, averaged over positions.

    ``cosine=False``: the dot product of each position's channel vector with ``vector``.
    ``cosine=True``: their cosine similarity (ignores how strongly the layer fires overall).
    """
    vec = torch.as_tensor(np.asarray(vector, dtype=np.float32)).flatten()

    def bind(catalogue: LayerCatalogue) -> Bound:
        info = catalogue.layer(layer)
        if vec.numel() != info.channels:
            raise UserError(f"the direction has {vec.numel()} values but {info.name} has {info.channels} channels")

        def fn(acts: Acts, idx: torch.Tensor) -> torch.Tensor:
            maps = acts[info.name][idx]
            v = vec.to(maps.device, maps.dtype).view(1, -1, 1, 1)
            dot = (maps * v).sum(dim=1)
            if cosine:
                dot = dot / (maps.norm(dim=1) * v.norm() + 1e-8)
            return dot.mean(dim=(1, 2))

        return Bound(fn, frozenset({info.name}))

    return Objective(f"direction({layer}{', cosine' if cosine else ''})", bind)


def unit_direction(unit: str | UnitRef, cosine: bool = True) -> Objective:
    """A unit as the one-hot direction of its layer (cosine by default: fire this unit alone)."""
    ref0 = _unit_ref(unit, None)

    def bind(catalogue: LayerCatalogue) -> Bound:
        ref = catalogue.unit(ref0)
        onehot = np.zeros(catalogue.layer(ref.layer).channels, dtype=np.float32)
        onehot[ref.channel] = 1.0
        return direction(ref.layer, onehot, cosine).bind(catalogue)

    return Objective(f"direction({ref0}{', cosine' if cosine else ''})", bind)


def diversity(layer: str, weight: float = 1e2) -> Objective:
    """A penalty (<= 0) for images of the same objective whose ``layer`` Gram matrices look alike.

    For image i among the n images optimising the same objective, the value is
    ``-weight * sum_{j != i} cos(G_i, G_j) / n`` (Lucid's diversity term, summed over images it
    equals ``-weight * diversity``). Add it: ``channel(u) + diversity(u.layer)``.
    """

    def bind(catalogue: LayerCatalogue) -> Bound:
        info = catalogue.layer(layer)

        def fn(acts: Acts, idx: torch.Tensor) -> torch.Tensor:
            maps = acts[info.name][idx]
            n = maps.shape[0]
            if n < 2:
                return maps.new_zeros(n)
            flat = maps.flatten(2)  # [n, C, positions]
            grams = flat @ flat.transpose(1, 2)
            grams = grams.flatten(1)
            grams = grams / (grams.norm(dim=1, keepdim=True) + 1e-10)
            similarity = grams @ grams.T
            others = similarity.sum(dim=1) - similarity.diagonal()
            return -weight * others / n

        return Bound(fn, frozenset({info.name}))

    return Objective(f"diversity({layer}, {weight:g})", bind)


def attribution_norm(unit: str | UnitRef, src_layer: str, src_channel: int | None = None) -> Objective:
    """The L2 norm of ``|w * x|``: how strongly ``src_layer`` drives the unit's centre value.

    ``w * x`` is the gradient of the unit's centre value with respect to ``src_layer``'s
    activations times those activations (the Circuits "attribution to the previous layer";
    for adjacent layers it is exactly weights times inputs). ``src_channel`` restricts it to one
    source channel. Maximising it visualises what makes the earlier layer matter to the unit.
    """
    ref0 = _unit_ref(unit, None)

    def bind(catalogue: LayerCatalogue) -> Bound:
        ref = _resolve_unit(catalogue, ref0)
        src = catalogue.layer(src_layer)
        if catalogue.position(src.name) >= catalogue.position(ref.layer):
            raise UserError(f"{src.name} does not come before {ref0.layer}; attribution needs an earlier layer")
        if src_channel is not None and not 0 <= src_channel < src.channels:
            raise UserError(f"{src.name} has channels 0..{src.channels - 1}, not {src_channel}")

        def fn(acts: Acts, idx: torch.Tensor) -> torch.Tensor:
            maps, x = acts[ref.layer], acts[src.name]
            value = maps[idx, ref.channel, maps.shape[2] // 2, maps.shape[3] // 2]
            (grad,) = torch.autograd.grad(value.sum(), x, create_graph=True)
            wx = (grad * x)[idx]
            if src_channel is not None:
                wx = wx[:, src_channel]
            return wx.flatten(1).norm(dim=1)

        return Bound(fn, frozenset({ref.layer, src.name}), frozenset({src.name}))

    suffix = "" if src_channel is None else f":{src_channel}"
    return Objective(f"attribution_norm({ref0} <- {src_layer}{suffix})", bind)


def attribution_pattern(src_layer: str, pattern: np.ndarray | torch.Tensor) -> Objective:
    """How well ``src_layer``'s activations match ``pattern`` [C, h, w] (a unit's ``w * x`` from
    that layer on a dataset image, zero outside the unit's receptive field): their dot product,
    with the pattern resampled to the layer's size. Maximising it renders what the attribution
    "looks like" (Curve Detectors: visualising attribution over an example)."""
    target = torch.as_tensor(np.asarray(pattern, dtype=np.float32))

    def bind(catalogue: LayerCatalogue) -> Bound:
        info = catalogue.layer(src_layer)
        if target.dim() != 3 or target.shape[0] != info.channels:
            raise UserError(f"the attribution pattern has shape {tuple(target.shape)}, not [{info.channels}, h, w]")

        def fn(acts: Acts, idx: torch.Tensor) -> torch.Tensor:
            maps = acts[info.name][idx]
            weights = F.interpolate(target[None].to(maps.device, maps.dtype), size=maps.shape[2:], mode="bilinear",
                                    align_corners=False)
            return (maps * weights).flatten(1).sum(dim=1)

        return Bound(fn, frozenset({info.name}))

    return Objective(f"attribution_pattern({src_layer})", bind)


def as_objective(value: Objective | str | UnitRef) -> Objective:
    """An objective as given, or a unit name / UnitRef as its channel objective."""
    if isinstance(value, Objective):
        return value
    if isinstance(value, (str, UnitRef)):
        return channel(value)
    raise UserError(f"{value!r} is not an objective or a unit name")


def for_unit(unit: str | UnitRef, kind: str = "channel", diversity_weight: float = 0.0) -> Objective:
    """The objective the pane and CLI use for one unit: ``channel``, ``neuron`` or ``direction``
    (cosine to the unit's one-hot direction), plus a diversity term when ``diversity_weight`` > 0."""
    ref = _unit_ref(unit, None)
    makers = {"channel": channel, "neuron": neuron, "direction": unit_direction}
    if kind not in makers:
        raise UserError(f"unknown objective '{kind}'; use one of {', '.join(OBJECTIVE_KINDS)}")
    objective = makers[kind](ref)
    if diversity_weight > 0:
        objective = objective + diversity(ref.layer, diversity_weight)
    return objective
