"""featvis: feature visualisations of units, with objective statistics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis.objectives import OBJECTIVE_KINDS
from circuitloupe.core.units import parse_unit_list
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task

PARAMETERISATIONS = ("fourier", "pixel")


@dataclass(frozen=True)
class FeatvisRequest(Request):
    """Render ``diversity`` images per unit, ``size`` px, ``steps`` Adam steps, seeded."""

    command = "featvis"

    units: tuple[str, ...] = positional(many=True)
    steps: int = option("--steps", default=256)
    size: int = option("--size", default=128)
    seed: int = option("--seed", default=0)
    objective: str = option("--objective", default="channel")
    diversity: int = option("--diversity", default=1)
    no_transforms: bool = flag("--no-transforms")
    param: str = option("--param", default="fourier")
    no_cache: bool = flag("--no-cache")

    def validate(self) -> None:
        # Canonical unit names, so equal requests compare equal whatever the spelling.
        object.__setattr__(self, "units", tuple(str(u) for u in parse_unit_list(" ".join(self.units))))
        if self.objective not in OBJECTIVE_KINDS:
            raise UserError(f"unknown objective '{self.objective}'; use one of {', '.join(OBJECTIVE_KINDS)}")
        if self.param not in PARAMETERISATIONS:
            raise UserError(f"unknown parameterisation '{self.param}'; use fourier or pixel")
        if not 16 <= self.size <= 2048:
            raise UserError(f"image size {self.size} is out of range; use 16 to 2048 pixels")
        if not 0 <= self.steps <= 100_000:
            raise UserError(f"steps {self.steps} is out of range; use 0 to 100000")
        if not 1 <= self.diversity <= 64:
            raise UserError(f"diversity {self.diversity} is out of range; use 1 to 64 images per unit")

    def settings(self):
        from circuitloupe.core.featurevis.cache import Settings

        return Settings(size=self.size, steps=self.steps, seed=self.seed, objective=self.objective,
                        diversity=self.diversity, transforms="none" if self.no_transforms else "standard",
                        param=self.param)


@dataclass
class FeatvisResult(Result):
    """``visualisations``: one :class:`UnitVis` per unit; ``activations[u][k]``: the unit's
    activation (centre, mean over positions) on its final image k."""

    visualisations: list
    activations: list[list[tuple[float, float]]]
    seconds: float

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.featurevis.figures import single_image, unit_grid

        if sum(len(v.images) for v in self.visualisations) == 1:
            return single_image(self.visualisations[0].images[0], scale)
        return unit_grid(self.visualisations, scale)

    def images(self) -> list[tuple[str, np.ndarray]]:
        """(file name, image) for every image, in unit order: ``layer_channel[_k].png``."""
        named = []
        for vis in self.visualisations:
            for k, image in enumerate(vis.images):
                suffix = f"_{k + 1}" if len(vis.images) > 1 else ""
                named.append((f"{vis.unit.layer}_{vis.unit.channel}{suffix}.png", image))
        return named

    def save_images(self, folder: str | Path, scale: float = 1.0) -> list[Path]:
        """One PNG per image in ``folder``."""
        from circuitloupe.core.featurevis.figures import single_image
        from circuitloupe.core.figures import save_png

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, image in self.images():
            save_png(single_image(image, scale), folder / name)
            written.append(folder / name)
        return written

    def data(self) -> dict[str, Any]:
        from circuitloupe.core.featurevis.cache import DIVERSITY_WEIGHT
        from circuitloupe.core.featurevis.objectives import for_unit

        request: FeatvisRequest = self.request  # type: ignore[assignment]
        weight = DIVERSITY_WEIGHT if request.diversity > 1 else 0.0
        units = []
        for vis, activations in zip(self.visualisations, self.activations):
            images = [{"index": k, "objective_start": _number(vis.start_values[k]),
                       "objective_end": _number(vis.end_values[k]), "activation": centre,
                       "activation_mean": mean} for k, (centre, mean) in enumerate(activations)]
            units.append({"unit": str(vis.unit), "objective": for_unit(vis.unit, request.objective, weight).name,
                          "cached": vis.cached, "images": images})
        return {"settings": vars(request.settings()), "seconds": round(self.seconds, 3), "units": units}


@task(FeatvisRequest)
def featvis(ctx: Context, request: FeatvisRequest) -> FeatvisResult:
    import torch

    from circuitloupe.core.activations import capture
    from circuitloupe.core.featurevis.cache import visualise_units

    model = ctx.model
    units = [model.catalogue.unit(u) for u in request.units]
    started = time.perf_counter()
    visualisations = visualise_units(model, units, request.settings(), progress=ctx.progress,
                                     should_stop=ctx.should_stop, use_cache=not request.no_cache)
    seconds = time.perf_counter() - started
    activations = []
    for vis in visualisations:
        maps = capture(model, torch.as_tensor(vis.images).permute(0, 3, 1, 2), [vis.unit.layer])[vis.unit.layer]
        unit_maps = maps[:, vis.unit.channel]
        h, w = unit_maps.shape[1:]
        activations.append([(float(m[h // 2, w // 2]), float(m.mean())) for m in unit_maps])
    return FeatvisResult(request, model.spec, model.weights_id, visualisations, activations, seconds)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
