"""compare-models: one analysis across several models, side by side (universality)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, option, task

ANALYSES = ("curves",)


@dataclass(frozen=True)
class CompareModelsRequest(Request):
    """Find each model's curve family (in ``layers``, default each model's curve layer) and match
    the families by radial tuning."""

    command = "compare-models"
    needs_model = False

    models: tuple[str, ...] = option("--models", many=True, default=())
    analysis: str = option("--analysis", default="curves")
    layers: tuple[str, ...] = option("--layers", many=True, default=())
    top: int = option("--top", default=10)
    orientations: int = option("--orientations", default=36)
    radii: int = option("--radii", default=5)
    min_correlation: float = option("--min-correlation", default=0.7)
    max_offset: float = option("--max-offset", default=30.0)

    def validate(self) -> None:
        if len(self.models) < 2:
            raise UserError("compare-models needs at least two models: --models M1,M2[,...]")
        if self.analysis not in ANALYSES:
            raise UserError(f"unknown analysis '{self.analysis}'; use one of {', '.join(ANALYSES)}")
        if self.layers and len(self.layers) != len(self.models):
            raise UserError(f"--layers names {len(self.layers)} layers for {len(self.models)} models; "
                            "give one per model, in the same order")
        if not 1 <= self.top <= 64 or not 8 <= self.orientations <= 360 or not 1 <= self.radii <= 16:
            raise UserError("--top must be 1-64, --orientations 8-360 and --radii 1-16")
        if not -1.0 <= self.min_correlation <= 1.0 or not 0.0 <= self.max_offset <= 180.0:
            raise UserError("--min-correlation must be in [-1, 1] and --max-offset in [0, 180] degrees")


@dataclass
class CompareModelsResult(Result):
    comparison: Any  # core.universality.Comparison

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.universality import comparison_figure

        return comparison_figure(self.comparison, scale)

    def data(self) -> dict[str, Any]:
        return self.comparison.to_json()

    def lines(self) -> list[str]:
        """Families and coverage per model, matches per pair."""
        lines = []
        for row in self.comparison.summary_rows():
            sectors = "".join("#" if c else "." for c in row["coverage"])
            lines.append(f"{row['model']:<20} {row['layer']:<18} family {row['family']:>2} of "
                         f"{row['candidates']:>3} candidates ({row['units']} units)  coverage [{sectors}]  "
                         f"gap {row['coverage_gap_deg']:.0f} deg")
        for pair, found in self.comparison.matches.items():
            lines.append(f"{pair}: {sum(m.matched for m in found)} of {len(found)} pairs match")
        return lines


@task(CompareModelsRequest)
def compare_models(ctx: Context, request: CompareModelsRequest) -> CompareModelsResult:
    from circuitloupe.core.curve_finder import find_curves
    from circuitloupe.core.jobs import check_stop
    from circuitloupe.core.models import load_model
    from circuitloupe.core.universality import compare

    searches, weights = [], []
    total = len(request.models)
    current = getattr(ctx, "model", None)
    device = current.device if current is not None else "cpu"
    for index, spec in enumerate(request.models):
        check_stop(ctx.should_stop)
        model = current if current is not None and current.spec == spec else load_model(spec, device=device)
        weights.append(model.weights_id)
        layer = request.layers[index] if request.layers else model.curve_layer
        if layer is None:
            raise UserError(f"{spec} declares no curve layer; name one per model with --layers")

        def progress(step: int, steps: int, preview: Any = None, index: int = index) -> None:
            ctx.progress(index * steps + step, total * steps)

        searches.append(find_curves(model, layer, top=request.top, orientations=request.orientations,
                                    curvatures=request.radii, progress=progress, should_stop=ctx.should_stop))
    comparison = compare(searches, request.min_correlation, request.max_offset)
    return CompareModelsResult(request, ",".join(request.models), ",".join(weights), comparison)
