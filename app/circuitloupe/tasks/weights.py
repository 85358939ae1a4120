"""weights: a first-layer conv's filters as RGB tiles, or a p4 group layer's rotated filter copies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task


@dataclass(frozen=True)
class WeightsRequest(Request):
    """``layer``: a conv with 3 input channels or a p4 group layer (None: the first group layer,
    else the first 3-channel conv)."""

    command = "weights"

    layer: str | None = positional(default=None)
    shared_scale: bool = flag("--shared-scale")
    columns: int | None = option("--columns", default=None)
    input_channel: int | None = option("--input-channel", default=None)

    def validate(self) -> None:
        if self.columns is not None and self.columns < 1:
            raise UserError("--columns must be at least 1")
        if self.input_channel is not None and self.input_channel < 0:
            raise UserError("--input-channel must be 0 or more")


@dataclass
class FiltersResult(Result):
    """RGB filters [N, kh, kw, 3] of a first-layer conv (raw, signed weights)."""

    model_name: str
    filters: np.ndarray

    def title(self) -> str:
        request: WeightsRequest = self.request  # type: ignore[assignment]
        return (f"{self.model_name} {request.layer or 'first layer'}: {len(self.filters)} filters "
                f"({'shared' if request.shared_scale else 'per-filter'} scaling)")

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.weights import filter_grid_figure

        request: WeightsRequest = self.request  # type: ignore[assignment]
        return filter_grid_figure(self.filters, per_filter_scaling=not request.shared_scale, scale=scale,
                                  columns=request.columns, title=self.title())

    def data(self) -> dict[str, Any]:
        return {"layer": self.request.layer, "filters": self.filters}  # type: ignore[attr-defined]


@dataclass
class RotatedResult(Result):
    """A group layer's kernels per output rotation, ``kernels`` [C_out, 4, C_in, J, kh, kw];
    ``copies`` [C_out, 4, J, kh, kw] are the request's input channel (or the sum over them), so a
    view of another input channel is ``dataclasses.replace(result, request=...)``."""

    model_name: str
    layer: str
    kernels: np.ndarray

    @property
    def copies(self) -> np.ndarray:
        from circuitloupe.core.weights import select_input_channel

        return select_input_channel(self.kernels, self.request.input_channel)  # type: ignore[attr-defined]

    def note(self) -> str:
        from circuitloupe.core.weights import input_channel_note

        return input_channel_note(self.kernels.shape[2], self.request.input_channel)  # type: ignore[attr-defined]

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.weights import rotated_copies_figure

        title = f"{self.model_name} {self.layer}: {len(self.copies)} filters x 4 rotations{self.note()}"
        return rotated_copies_figure(self.copies, scale=scale, title=title)

    def data(self) -> dict[str, Any]:
        return {"layer": self.layer, "input_channel": self.request.input_channel,  # type: ignore[attr-defined]
                "shape": list(self.copies.shape), "copies": self.copies}


@task(WeightsRequest)
def weights(ctx: Context, request: WeightsRequest) -> FiltersResult | RotatedResult:
    from circuitloupe.core.weights import first_layer_filters, group_layers, is_group_layer, rotated_kernels

    model = ctx.model
    layer = request.layer or next(iter(group_layers(model)), None)
    if layer is not None and is_group_layer(model, layer):
        result = RotatedResult(request, model.spec, model.weights_id, model.name, model.catalogue.layer(layer).name,
                               rotated_kernels(model, layer))
        result.copies  # an input channel out of range fails here, not when the figure is drawn
        return result
    return FiltersResult(request, model.spec, model.weights_id, model.name,
                         first_layer_filters(model, request.layer))
