"""polysemanticity: how many different things a unit responds to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitloupe.tasks.base import Context, Request, Result, option, positional, task


@dataclass(frozen=True)
class PolysemanticityRequest(Request):
    """Score ``unit`` from ``diverse`` diverse feature visualisations and, with ``images``, from
    clustering its top ``examples`` over that folder."""

    command = "polysemanticity"

    unit: str = positional()
    images: str = option("--images", default="")
    diverse: int = option("--diverse", default=4)
    examples: int = option("--examples", default=24)
    size: int = option("--size", default=64)
    steps: int = option("--steps", default=128)

    def validate(self) -> None:
        from circuitloupe.core.errors import UserError
        from circuitloupe.core.units import UnitRef

        object.__setattr__(self, "unit", str(UnitRef.parse(self.unit)))
        if not 2 <= self.diverse <= 16 or not 4 <= self.examples <= 500:
            raise UserError("--diverse must be 2-16 images and --examples 4-500")
        if not 16 <= self.size <= 512 or not 0 <= self.steps <= 10_000:
            raise UserError("--size must be 16-512 px and --steps 0-10000")


@dataclass
class PolysemanticityResult(Result):
    scores: Any  # core.polysemanticity.Polysemanticity
    model: Any = None

    def lines(self) -> list[str]:
        s = self.scores
        examples = "no folder" if s.examples_score is None else f"{s.examples_score:.2f}"
        return [f"{s.unit}: polysemanticity {s.score:.2f} (feature visualisations {s.featvis_score:.2f}, "
                f"examples {examples}; {len(s.clusters)} clusters)"]

    def data(self) -> dict[str, Any]:
        return self.scores.to_json()

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.polysemanticity import polysemanticity_figure

        return polysemanticity_figure(self.model, self.scores, self.request.images or None, scale)  # type: ignore[attr-defined]


@task(PolysemanticityRequest)
def polysemanticity(ctx: Context, request: PolysemanticityRequest) -> PolysemanticityResult:
    from circuitloupe.core.polysemanticity import polysemanticity as measure

    model = ctx.model
    scores = measure(model, request.unit, request.images or None, request.diverse, request.examples, request.size,
                     request.steps, progress=ctx.progress, should_stop=ctx.should_stop)
    return PolysemanticityResult(request, model.spec, model.weights_id, scores, model)
