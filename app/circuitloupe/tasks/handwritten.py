"""handwritten: curve detectors written by hand from an earlier layer, spliced into a copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task


@dataclass(frozen=True)
class HandwrittenRequest(Request):
    """Write ``units`` curve detectors of ``layer`` by hand from ``earlier`` (``--from``), splice
    them in place of the model's nearest units, and measure them (on ``images`` if given)."""

    command = "handwritten"

    layer: str = positional()
    earlier: str = option("--from", default="")
    units: int = option("--units", default=8)
    min_selectivity: float = option("--min-selectivity", default=0.2)
    images: str = option("--images", default="")

    def validate(self) -> None:
        if not self.earlier:
            raise UserError("give --from EARLIER: the layer whose units the hand-made detectors are built from")
        if not 1 <= self.units <= 64:
            raise UserError(f"--units {self.units} is out of range; use 1 to 64")
        if not 0.0 <= self.min_selectivity < 1.0:
            raise UserError("--min-selectivity must be in [0, 1)")


@dataclass
class HandwrittenResult(Result):
    report: Any  # core.handwritten.Handwritten

    def lines(self) -> list[str]:
        return [f"{str(u.unit):<20} designed {u.designed:5.1f} deg  measured {u.preferred:5.1f} deg  "
                f"(the model's own: {u.original_preferred:5.1f} deg)" for u in self.report.units]

    def data(self) -> dict[str, Any]:
        return self.report.to_json()

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.handwritten import handwritten_figure

        return handwritten_figure(self.report, scale)


@task(HandwrittenRequest)
def handwritten(ctx: Context, request: HandwrittenRequest) -> HandwrittenResult:
    from circuitloupe.core.handwritten import handwritten as write

    model = ctx.model
    report, _ = write(model, request.layer, request.earlier, request.units, request.min_selectivity,
                      request.images or None, progress=ctx.progress, should_stop=ctx.should_stop)
    return HandwrittenResult(request, model.spec, model.weights_id, report)
