"""circuit: the expanded-weight grid between two families of units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks.base import Context, Request, Result, flag, positional, task
from circuitloupe.tasks.thumbnails import thumbnails


def compact_units(text: str) -> str:
    """Canonical unit-list spelling: ``mixed3a:81 , 147`` -> ``mixed3a:81,147``; several layers
    are separated by spaces (``mixed3a:81,147 mixed3b:1``)."""
    parts: list[str] = []
    layer = None
    for ref in parse_unit_list(text):
        if ref.layer == layer:
            parts[-1] += f",{ref.channel}"
        else:
            parts.append(str(ref))
            layer = ref.layer
    return " ".join(parts)


@dataclass(frozen=True)
class CircuitRequest(Request):
    """Expanded weights from every unit of ``src_units`` (columns) into every unit of
    ``dst_units`` (rows), e.g. ``mixed3a:81,147`` and ``mixed3b:342,385``."""

    command = "circuit"

    src_units: str = positional()
    dst_units: str = positional()
    magnitude: bool = flag("--magnitude")
    render_thumbnails: bool = flag("--render-thumbnails")

    def validate(self) -> None:
        object.__setattr__(self, "src_units", compact_units(self.src_units))
        object.__setattr__(self, "dst_units", compact_units(self.dst_units))


@dataclass
class CircuitResult(Result):
    """``weights``: [rows (dst), columns (src), kh, kw]."""

    sources: list[UnitRef]
    targets: list[UnitRef]
    weights: np.ndarray
    thumbnails: dict[UnitRef, np.ndarray] = field(default_factory=dict)

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.weights import circuit_figure

        return circuit_figure(self.weights, self.sources, self.targets,
                              magnitude=self.request.magnitude,  # type: ignore[attr-defined]
                              thumbnails=self.thumbnails, scale=scale)

    def data(self) -> dict[str, Any]:
        return {"rows": [str(u) for u in self.targets], "columns": [str(u) for u in self.sources],
                "shape": list(self.weights.shape), "max_abs": float(np.abs(self.weights).max()),
                "weights": np.round(self.weights, 7)}


@task(CircuitRequest)
def circuit(ctx: Context, request: CircuitRequest) -> CircuitResult:
    from circuitloupe.core.weights import circuit_weights

    model = ctx.model
    sources = [model.catalogue.unit(u) for u in parse_unit_list(request.src_units)]
    targets = [model.catalogue.unit(u) for u in parse_unit_list(request.dst_units)]
    grid = circuit_weights(model, sources, targets, progress=ctx.progress, should_stop=ctx.should_stop)
    thumbs = thumbnails(ctx, [*sources, *targets], request.render_thumbnails)
    return CircuitResult(request, model.spec, model.weights_id, sources, targets, grid, thumbs)
