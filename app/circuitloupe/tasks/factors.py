"""factors: NMF of a layer's activations into factors, their visualisations and circuits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, no_progress
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task


@dataclass(frozen=True)
class FactorsRequest(Request):
    """Factorise ``layer`` over the images of ``folder`` into ``k`` factors; with ``to``, also
    factorise that later layer and draw the circuit between the two sets of factors; with
    ``compare_transpose`` (two more layers), also their factor circuit, and how closely it runs the
    first circuit's connections the other way round (Zoom In: contrast→centre against high-low)."""

    command = "factors"

    layer: str = positional()
    folder: str = positional()
    k: int = option("--k", default=6)
    to: str = option("--to", default="")
    seed: int = option("--seed", default=0)
    steps: int = option("--steps", default=128)
    size: int = option("--size", default=64)
    examples: int = option("--examples", default=6)
    compare_transpose: tuple[str, ...] = option("--compare-transpose", many=True, default=())

    def validate(self) -> None:
        if not 1 <= self.k <= 64:
            raise UserError(f"--k {self.k} is out of range; use 1 to 64 factors")
        if not 0 <= self.steps <= 10_000 or not 16 <= self.size <= 512 or not 1 <= self.examples <= 32:
            raise UserError("--steps must be 0-10000, --size 16-512 px and --examples 1-32")
        if self.compare_transpose and (len(self.compare_transpose) != 2 or not self.to):
            raise UserError("--compare-transpose takes two layers (LAYER3,LAYER4) and needs --to")


@dataclass
class FactorsResult(Result):
    factors: Any  # core.factors.Factors
    visualisations: np.ndarray  # [K, H, W, 3]
    target: Any = None  # Factors of the later layer
    circuit: np.ndarray | None = None  # [K_target, K, kh, kw]
    model: Any = None
    other_circuit: np.ndarray | None = None  # [K, K, kh, kw] between the compare_transpose layers
    transpose_similarity: float | None = None

    def lines(self) -> list[str]:
        f = self.factors
        lines = [f"{f.layer}: {len(f.directions)} factors explain {f.explained:.1%} of the variance "
                 f"({f.positions} positions)"]
        lines += [f"  factor {k}: channels {', '.join(str(int(c)) for c in np.argsort(-d)[:5])}"
                  for k, d in enumerate(f.directions)]
        if self.transpose_similarity is not None:
            first, second = self.request.compare_transpose  # type: ignore[attr-defined]
            lines.append(f"{first} -> {second} against the transpose of {f.layer} -> {self.target.layer}: "
                         f"cosine {self.transpose_similarity:.3f}")
        return lines

    def data(self) -> dict[str, Any]:
        data = self.factors.to_json()
        if self.circuit is not None:
            data["target"] = self.target.to_json()
            data["circuit"] = {"rows": f"{self.target.layer} factors", "columns": f"{self.factors.layer} factors",
                               "totals": self.circuit.sum(axis=(2, 3)).tolist(), "kernels": self.circuit}
        if self.other_circuit is not None:
            data["compare_transpose"] = {"layers": list(self.request.compare_transpose),  # type: ignore[attr-defined]
                                         "totals": self.other_circuit.sum(axis=(2, 3)).tolist(),
                                         "transpose_similarity": self.transpose_similarity}
        return data

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.factors import factors_figure

        request: FactorsRequest = self.request  # type: ignore[assignment]
        return factors_figure(self.model, self.factors, self.visualisations, request.folder, scale,
                              self.circuit, self.target)


@task(FactorsRequest)
def factors(ctx: Context, request: FactorsRequest) -> FactorsResult:
    from circuitloupe.core.factors import factor_circuit, factorise, transpose_similarity
    from circuitloupe.core.featurevis import objectives as obj
    from circuitloupe.core.featurevis.render import render

    model = ctx.model
    factorised: dict[str, Any] = {}  # by layer: the comparison may name layers already factorised

    def factors_of(layer: str, progress: ProgressFn = no_progress):
        if layer not in factorised:
            factorised[layer] = factorise(model, layer, request.folder, request.k, seed=request.seed,
                                          examples=request.examples, progress=progress,
                                          should_stop=ctx.should_stop)
        return factorised[layer]

    found = factors_of(request.layer, ctx.progress)
    target = circuit = other = similarity = None
    if request.to:
        target = factors_of(request.to)
        circuit = factor_circuit(model, found, target)
    if request.compare_transpose:
        other = factor_circuit(model, *(factors_of(layer) for layer in request.compare_transpose))
        similarity = transpose_similarity(circuit, other)
    rendered = render(model, [obj.direction(found.layer, d) for d in found.directions], size=request.size,
                      steps=request.steps, seed=request.seed, should_stop=ctx.should_stop)
    return FactorsResult(request, model.spec, model.weights_id, found, rendered.images, target, circuit, model,
                         other, similarity)
