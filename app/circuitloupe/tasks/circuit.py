"""circuit: the expanded-weight grid between two families of units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task
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
    ``dst_units`` (rows), e.g. ``mixed3a:81,147`` and ``mixed3b:342,385``. With ``trace`` (layers,
    latest first), ``src_units`` is one unit and the Result is its circuit over those layers: the
    ``top`` strongest contributors in each (:mod:`circuitloupe.core.circuit_trace`); ``among``
    keeps the layers it names to those units (an article's circuit)."""

    command = "circuit"

    src_units: str = positional()
    dst_units: str | None = positional(default=None)
    magnitude: bool = flag("--magnitude")
    render_thumbnails: bool = flag("--render-thumbnails")
    trace: tuple[str, ...] = option("--trace", many=True, default=())
    top: int = option("--top", default=4)
    among: tuple[str, ...] = option("--among", many=True, default=())

    def validate(self) -> None:
        object.__setattr__(self, "src_units", compact_units(self.src_units))
        if self.among and not self.trace:
            raise UserError("--among keeps the units of traced layers; give --trace LAYER1,LAYER2,... too")
        if self.among:  # canonical spelling: mixed3a:81,147,conv2d2:32
            object.__setattr__(self, "among", tuple(compact_units(" ".join(self.among)).replace(" ", ",").split(",")))
        if self.trace:
            if self.dst_units is not None or len(parse_unit_list(self.src_units)) != 1:
                raise UserError("circuit UNIT --trace LAYER1,LAYER2,... takes one unit and no second unit list")
            if not 1 <= self.top <= 64:
                raise UserError("--top must be 1 to 64 units per layer")
        elif self.dst_units is None:
            raise UserError("give the later units too (circuit SRC_UNITS DST_UNITS), or --trace LAYERS for one unit")
        else:
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

    def lines(self) -> list[str]:
        kh, kw = self.weights.shape[2:]
        return [f"{len(self.targets)} x {len(self.sources)} cells of {kh}x{kw}, "
                f"max |w| {np.abs(self.weights).max():.4g}"]

    def data(self) -> dict[str, Any]:
        return {"rows": [str(u) for u in self.targets], "columns": [str(u) for u in self.sources],
                "shape": list(self.weights.shape), "max_abs": float(np.abs(self.weights).max()),
                "weights": np.round(self.weights, 7)}


@dataclass
class TraceResult(Result):
    """``trace``: the unit's strongest contributors layer by layer (a :class:`Trace`)."""

    trace: Any
    thumbnails: dict[UnitRef, np.ndarray] = field(default_factory=dict)

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.circuit_trace import trace_figure

        return trace_figure(self.trace, self.thumbnails, scale)

    def lines(self) -> list[str]:
        return [f"{layer}: {', '.join(str(u.channel) for u in level)}"
                for layer, level in zip(self.trace.layers, self.trace.levels[1:])]

    def data(self) -> dict[str, Any]:
        return self.trace.to_json()


@task(CircuitRequest)
def circuit(ctx: Context, request: CircuitRequest) -> CircuitResult | TraceResult:
    from circuitloupe.core.weights import circuit_weights

    model = ctx.model
    if request.trace:
        from circuitloupe.core.circuit_trace import trace

        found = trace(model, request.src_units, request.trace, request.top, ctx.progress, ctx.should_stop,
                      among=" ".join(request.among))
        units = [u for level in found.levels for u in level]
        return TraceResult(request, model.spec, model.weights_id, found,
                           thumbnails(ctx, units, request.render_thumbnails))
    sources = [model.catalogue.unit(u) for u in parse_unit_list(request.src_units)]
    targets = [model.catalogue.unit(u) for u in parse_unit_list(request.dst_units)]
    grid = circuit_weights(model, sources, targets, progress=ctx.progress, should_stop=ctx.should_stop)
    thumbs = thumbnails(ctx, [*sources, *targets], request.render_thumbnails)
    return CircuitResult(request, model.spec, model.weights_id, sources, targets, grid, thumbs)
