"""outputs: the later units a unit feeds most strongly (expanded weights), as the browser lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task


@dataclass(frozen=True)
class OutputsRequest(Request):
    """The ``top`` units of ``layer`` (default: the next layer of units) that ``unit`` feeds most,
    by the L2 norm of the expanded weights from it."""

    command = "outputs"

    unit: str = positional()
    layer: str = option("--layer", default="")
    top: int = option("--top", default=10)
    render_thumbnails: bool = flag("--render-thumbnails")

    def validate(self) -> None:
        from circuitloupe.core.units import UnitRef

        object.__setattr__(self, "unit", str(UnitRef.parse(self.unit)))
        if not 1 <= self.top <= 512:
            raise UserError(f"--top {self.top} is out of range; use 1 to 512")


@dataclass
class OutputsResult(Result):
    layer: str
    ranked: list  # [(UnitRef, norm)]
    thumbnails: dict

    def lines(self) -> list[str]:
        return [f"{str(unit):<28} {norm:.4g}" for unit, norm in self.ranked]

    def data(self) -> dict[str, Any]:
        return {"unit": self.request.unit, "layer": self.layer,  # type: ignore[attr-defined]
                "outputs": [{"unit": str(u), "norm": norm} for u, norm in self.ranked]}

    def figure(self, scale: float = 1.0):
        from circuitloupe.core import figures
        from circuitloupe.core import weights as W

        tiles = [self.thumbnails.get(u, W.pending_tile(96, str(u.channel))) for u, _ in self.ranked]
        labels = [f"{u} ({norm:.3g})" for u, norm in self.ranked]
        return figures.tile_grid(tiles, labels, columns=min(5, len(tiles)), scale=scale,
                                 title=f"{self.request.unit} feeds most strongly in {self.layer}")  # type: ignore[attr-defined]


@task(OutputsRequest)
def outputs(ctx: Context, request: OutputsRequest) -> OutputsResult:
    from circuitloupe.core import weights as W

    model = ctx.model
    unit = model.catalogue.unit(request.unit)
    layer = request.layer or W.default_target_layer(model, unit.layer)
    if layer is None:
        raise UserError(f"{unit.layer} feeds no later layer of units; name one with --layer")
    ranked = W.top_outputs(model, unit, layer, request.top)
    units = [u for u, _ in ranked]
    thumbnails = (W.render_missing_thumbnails(model, units, progress=ctx.progress, should_stop=ctx.should_stop)
                  if request.render_thumbnails else W.cached_thumbnails(model, units))
    return OutputsResult(request, model.spec, model.weights_id, model.catalogue.layer(layer).name, ranked, thumbnails)
