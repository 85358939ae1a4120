"""expanded: a unit's top input units from an earlier layer, ranked by expanded-weight norm."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task
from circuitloupe.tasks.thumbnails import thumbnails

METHODS = ("auto", "gradient", "product")


@dataclass(frozen=True)
class ExpandedRequest(Request):
    """The ``top`` units of ``src_layer`` by expanded-weight L2 norm into ``unit``. ``method``
    "auto" takes the model's exact product where it applies, else the linearised gradient."""

    command = "expanded"

    src_layer: str = positional()
    unit: str = positional()
    top: int = option("--top", default=8)
    method: str = option("--method", default="auto")
    render_thumbnails: bool = flag("--render-thumbnails")

    def validate(self) -> None:
        object.__setattr__(self, "unit", str(UnitRef.parse(self.unit)))
        if self.top < 1:
            raise UserError("--top must be at least 1")
        if self.method not in METHODS:
            raise UserError(f"unknown method '{self.method}'; use auto, gradient or product")


@dataclass
class ExpandedResult(Result):
    """``method``: the method used ("auto" resolved); ``ranked``: (input unit, norm, kernel [kh, kw])."""

    unit: UnitRef
    src_layer: str
    method: str
    kernel_shape: tuple[int, int]
    ranked: list[tuple[UnitRef, float, np.ndarray]]
    thumbnails: dict[UnitRef, np.ndarray] = field(default_factory=dict)

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.weights import expanded_figure

        return expanded_figure(self.ranked, self.unit, self.thumbnails, scale=scale)

    def data(self) -> dict[str, Any]:
        from circuitloupe.core.weights import kernels_json

        return {"unit": str(self.unit), "src_layer": self.src_layer, "method": self.method,
                "kernel_shape": list(self.kernel_shape), "inputs": kernels_json(self.ranked)}


def resolve_method(model, unit: UnitRef, src_layer: str, method: str) -> str:
    """The method "auto" stands for: the exact product where the model offers it, else the gradient."""
    from circuitloupe.core.weights import bottleneck_applies

    if method != "auto":
        return method
    return "product" if bottleneck_applies(model, unit, src_layer) else "gradient"


@task(ExpandedRequest)
def expanded(ctx: Context, request: ExpandedRequest) -> ExpandedResult:
    from circuitloupe.core.weights import expanded_weights, ranked_kernels

    model = ctx.model
    unit = model.catalogue.unit(UnitRef.parse(request.unit))
    src = model.catalogue.layer(request.src_layer).name
    method = resolve_method(model, unit, src, request.method)
    weights = expanded_weights(model, unit, src, method=method)
    ranked = ranked_kernels(weights, src, request.top)
    thumbs = thumbnails(ctx, [u for u, _, _ in ranked], request.render_thumbnails)
    return ExpandedResult(request, model.spec, model.weights_id, unit, src, method, weights.shape[1:], ranked,
                          thumbs)
