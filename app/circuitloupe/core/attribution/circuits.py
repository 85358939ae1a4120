"""Attribution to earlier units, the Circuits way: the tensor w * x.

For a unit and an earlier layer, ``w * x`` is the earlier layer's activations times the weight
each position and channel has on the unit's value. We compute it as the gradient of the unit's
value (pre-ReLU by default) at one position with respect to the earlier layer's activations,
times those activations. Where the path between them is linear (InceptionV1's 5x5 conv from its
bottleneck) this is exactly the expanded weights times x, and the contributions of all earlier
units sum to the unit's pre-activation minus its bias. Through a ReLU or max pool it is the
first-order (locally linear) contribution. Each earlier unit's contribution is the sum of its
slice; its slice is its spatial map over the image.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from circuitloupe.core.activations import capture, forward_until
from circuitloupe.core.attribution.input import as_model_input
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


@dataclass(frozen=True)
class Contribution:
    """One earlier unit's share of the target: ``total`` (sum of its w * x) and ``map``
    (its w * x over the earlier layer's positions, [h, w])."""

    unit: UnitRef
    total: float
    map: np.ndarray


@dataclass
class Contributions:
    """w * x from every channel of ``source_layer`` into ``unit`` at ``position``.

    ``wx`` is [C_src, h, w] over the source layer's positions (zero outside the receptive
    field); ``value`` the attributed value (``target_layer``'s channel at ``position``, pre-ReLU
    where the model has it); ``bias`` that channel's bias when the layer is a conv or linear
    module; ``support`` the receptive field's box (top, bottom, left, right; end exclusive) in
    source-layer positions; ``image`` the analysed image [H, W, C].
    """

    unit: UnitRef
    target_layer: str
    channel: int
    source_layer: str
    position: tuple[int, int]
    value: float
    bias: float | None
    wx: np.ndarray
    support: tuple[int, int, int, int]
    image: np.ndarray

    @property
    def totals(self) -> np.ndarray:
        """Each source channel's contribution, [C_src]."""
        return self.wx.sum(axis=(1, 2))

    @property
    def residual(self) -> float | None:
        """value - bias - sum of contributions: 0 (to float precision) for a linear path."""
        if self.bias is None:
            return None
        return float(self.value - self.bias - self.totals.sum())

    def ranked(self, sign: int = 1, top: int | None = 10) -> list[Contribution]:
        """The ``top`` earlier units with the largest positive (``sign=1``) or most negative
        (``sign=-1``) contributions, strongest first; units with the other sign are left out."""
        totals = self.totals * (1 if sign >= 0 else -1)
        order = [int(c) for c in np.argsort(-totals, kind="stable") if totals[c] > 0]
        return [Contribution(UnitRef(self.source_layer, c), float(self.totals[c]), self.wx[c])
                for c in order[:top]]

    def summary(self, top: int = 10) -> dict:
        """JSON-ready: the target, its value and bias, and the ranked earlier units."""
        def rows(sign: int) -> list[dict]:
            return [{"unit": str(c.unit), "contribution": c.total,
                     "peak": _peak(c.map)} for c in self.ranked(sign, top)]

        return {
            "unit": str(self.unit), "attributed": f"{self.target_layer}:{self.channel}",
            "source_layer": self.source_layer, "position": list(self.position), "value": self.value,
            "bias": self.bias, "sum_of_contributions": float(self.totals.sum()), "residual": self.residual,
            "receptive_field": {"top": self.support[0], "bottom": self.support[1], "left": self.support[2],
                                "right": self.support[3]},
            "positive": rows(1), "negative": rows(-1),
        }


def _peak(values: np.ndarray) -> list[int]:
    flat = int(np.argmax(np.abs(values)))
    return [flat // values.shape[1], flat % values.shape[1]]


def attributed_layer(model: LoadedModel, unit: UnitRef, pre_relu: bool = True) -> UnitRef:
    """The layer and channel whose value is attributed for ``unit``: its branch (for a unit of
    a concatenation) and, with ``pre_relu``, that branch's pre-ReLU value where it exists."""
    catalogue = model.catalogue
    ref = catalogue.branch_of(unit)
    if pre_relu:
        layer = catalogue.pre_relu_of(ref.layer)
        if layer is not None:
            parts = catalogue.layer(layer).parts
            ref = catalogue.branch_of(UnitRef(layer, ref.channel)) if parts else UnitRef(layer, ref.channel)
    return ref


@contextmanager
def _source_leaf(model: LoadedModel, layer: str) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, ``layer``'s output becomes a fresh leaf that requires grad (kept in the
    yielded dict under ``"x"``), so the gradient of anything later with respect to it can be
    taken. The hook is removed on exit."""
    found: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        leaf = output.detach().requires_grad_(True)
        found["x"] = leaf
        return leaf

    handle = model.hook_points[layer].register_forward_hook(hook)
    try:
        yield found
    finally:
        handle.remove()


def earlier_contributions(model: LoadedModel, image: np.ndarray | torch.Tensor, unit: UnitRef | str,
                          source_layer: str, position: tuple[int, int] | str | None = None,
                          size: tuple[int, int] | None = None, pre_relu: bool = True,
                          should_stop: StopFn | None = None) -> Contributions:
    """w * x from ``source_layer`` into ``unit`` on ``image`` ([H, W, C] in [0, 1]).

    ``position`` is (row, column) in the unit's layer, None for the centre or ``"max"`` for
    where the attributed value is largest on this image. ``size`` is the analysis size (default
    the model's input size).
    """
    catalogue = model.catalogue
    ref = catalogue.unit(unit)
    target = attributed_layer(model, ref, pre_relu)
    source = catalogue.layer(source_layer).name
    if catalogue.position(source) >= catalogue.position(target.layer):
        raise UserError(f"{source} does not run before {target.layer}; pick an earlier layer")
    batch = as_model_input(model, image, size)
    check_stop(should_stop)
    with _source_leaf(model, source) as leaf:
        found = forward_until(model, batch, [target.layer], detach=False)
    if "x" not in leaf:
        raise UserError(f"{source} does not feed {target.layer}")
    maps = found[target.layer]
    if maps.dim() != 4:
        maps = maps.reshape(maps.shape[0], -1, 1, 1)
    channel_map = maps[0, target.channel]
    pos = _position(channel_map, position, target.layer)
    value = channel_map[pos]
    check_stop(should_stop)
    grad = torch.autograd.grad(value, leaf["x"], allow_unused=True)[0] if value.requires_grad else None
    if grad is None:
        raise UserError(f"{source} does not feed {target.layer} (no path between them)")
    x = leaf["x"].detach()
    if x.dim() != 4:
        x, grad = x.reshape(x.shape[0], -1, 1, 1), grad.reshape(grad.shape[0], -1, 1, 1)
    wx = (grad * x)[0].cpu().numpy().astype(np.float64)
    return Contributions(
        unit=ref, target_layer=target.layer, channel=target.channel, source_layer=source, position=pos,
        value=float(value.detach()), bias=_bias(model.hook_points[target.layer], target.channel), wx=wx,
        support=_support(grad[0]), image=batch[0].permute(1, 2, 0).cpu().numpy(),
    )


def _position(channel_map: torch.Tensor, position, layer: str) -> tuple[int, int]:
    height, width = channel_map.shape
    if position is None or position in ("centre", "center"):
        return height // 2, width // 2
    if position == "max":
        flat = int(torch.argmax(channel_map.detach()))
        return flat // width, flat % width
    y, x = (int(v) for v in position)
    if not (0 <= y < height and 0 <= x < width):
        raise UserError(f"position ({y}, {x}) is outside {layer}'s {height}x{width} map")
    return y, x


def _bias(module: nn.Module, channel: int) -> float | None:
    if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
        return float(module.bias[channel])
    return None


def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right; end exclusive) of non-zero weight positions."""
    mask = (grad != 0).any(dim=0).cpu().numpy()
    if not mask.any():
        return 0, mask.shape[0], 0, mask.shape[1]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def family_activation_map(model: LoadedModel, image: np.ndarray | torch.Tensor, units: Sequence[UnitRef | str],
                          size: tuple[int, int] | None = None) -> np.ndarray:
    """Where a family fires on ``image``: the sum of its units' (post-ReLU) maps, [h, w] at
    their layer's resolution (units must share a map size)."""
    refs = [model.catalogue.unit(u) for u in units]
    if not refs:
        raise UserError("a family needs at least one unit")
    found = capture(model, as_model_input(model, image, size), sorted({u.layer for u in refs}))
    shapes = {found[u.layer].shape[2:] for u in refs}
    if len(shapes) > 1:
        raise UserError("the family's units have maps of different sizes; pick units of one layer")
    return sum(found[u.layer][0, u.channel] for u in refs).astype(np.float32)
