"""find-curves: sweep a layer with synthetic curves and propose its curve family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitloupe.core.curve_finder import DEFAULT_TOP
from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task


@dataclass(frozen=True)
class FindCurvesRequest(Request):
    """Score every unit of ``layer`` for curve selectivity; the family is the ``top`` units that
    pass the three thresholds, ordered by preferred orientation."""

    command = "find-curves"

    layer: str = positional()
    top: int = option("--top", default=DEFAULT_TOP)
    orientations: int = option("--orientations", default=36)
    radii: int = option("--radii", default=5)
    min_selectivity: float = option("--min-selectivity", default=0.3)
    min_sigma: float = option("--min-sigma", default=2.0)
    min_curve_vs_line: float = option("--min-curve-vs-line", default=1.0)

    def validate(self) -> None:
        if self.top < 1 or self.orientations < 1 or self.radii < 1:
            raise UserError("--top, --orientations and --radii must be at least 1")


@dataclass
class FindCurvesResult(Result):
    """``search``: every unit's scores and the proposed family."""

    search: Any

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.curve_finder import curve_family_figure

        return curve_family_figure(self.search, scale)

    def data(self) -> dict[str, Any]:
        return self.search.to_json()

    def lines(self) -> list[str]:
        lines = [self.search.summary()]
        for s in self.search.family:
            lines.append(f"  {s.unit:<24} preferred {s.preferred:5.1f} deg  selectivity {s.selectivity:.2f}  "
                         f"peak/mean {s.peak_to_mean:5.2f}  peak {s.peak_sigma:4.1f} sd  "
                         f"curve-line {s.curve_vs_line:4.1f} sd")
        return lines


@task(FindCurvesRequest)
def find_curves(ctx: Context, request: FindCurvesRequest) -> FindCurvesResult:
    from circuitloupe.core import curve_finder

    model = ctx.model
    search = curve_finder.find_curves(model, request.layer, top=request.top, orientations=request.orientations,
                                      curvatures=request.radii, min_selectivity=request.min_selectivity,
                                      min_sigma=request.min_sigma, min_curve_vs_line=request.min_curve_vs_line,
                                      progress=ctx.progress, should_stop=ctx.should_stop)
    return FindCurvesResult(request, model.spec, model.weights_id, search)
