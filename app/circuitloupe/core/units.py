"""Unit names: ``layer:channel`` strings, the ``3b:379`` alias and channel lists.

A unit is one feature map of a layer (a "neuron" in the Distill sense); where one number is
needed its value at the centre position is used. ``mixed3b:379`` is the canonical form; a model
may declare aliases (``3b`` -> ``mixed3b``). A unit of a pre-ReLU layer is written with the
pre-ReLU layer name (``mixed3b_pre_relu:379``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from circuitloupe.core.errors import UserError

PRE_RELU_SUFFIX = "_pre_relu"
_UNIT_RE = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*:\s*(\d+)\s*$")


@dataclass(frozen=True, order=True)
class UnitRef:
    """One channel of one named layer."""

    layer: str
    channel: int

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"

    @property
    def is_pre_relu(self) -> bool:
        return self.layer.endswith(PRE_RELU_SUFFIX)

    def pre_relu(self) -> UnitRef:
        """The same unit before its ReLU (a name only; the catalogue says whether it exists)."""
        return self if self.is_pre_relu else UnitRef(self.layer + PRE_RELU_SUFFIX, self.channel)

    def post_relu(self) -> UnitRef:
        if not self.is_pre_relu:
            return self
        return UnitRef(self.layer[: -len(PRE_RELU_SUFFIX)], self.channel)

    @classmethod
    def parse(cls, text: str) -> UnitRef:
        """Parse ``layer:channel`` without checking it against a model."""
        match = _UNIT_RE.match(text)
        if not match:
            raise UserError(f"'{text}' is not a unit name; write it as layer:channel, e.g. mixed3b:379")
        return cls(match.group(1), int(match.group(2)))


def parse_unit_list(text: str) -> list[UnitRef]:
    """Parse ``mixed3a:81,147,145`` or ``mixed3a:81 mixed3b:379`` into units, in order.

    A bare number after a comma takes the layer of the unit before it.
    """
    units: list[UnitRef] = []
    layer: str | None = None
    for token in re.split(r"[\s,]+", text.strip()):
        if not token:
            continue
        if ":" in token:
            unit = UnitRef.parse(token)
            layer = unit.layer
        elif token.isdigit() and layer is not None:
            unit = UnitRef(layer, int(token))
        else:
            raise UserError(f"'{token}' in '{text}' is not a unit; write layer:channel[,channel...]")
        units.append(unit)
    if not units:
        raise UserError("no units given; write layer:channel[,channel...], e.g. mixed3b:379,385")
    return units
