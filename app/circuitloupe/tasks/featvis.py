"""featvis: feature visualisations of units, with objective statistics."""

from __future__ import annotations

import re
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
PREVIEW_EVERY = 4


@dataclass(frozen=True)
class FeatvisRequest(Request):
    """Render ``diversity`` images per unit, ``size`` px, ``steps`` Adam steps, seeded.

    ``direction`` (a .npy vector over one layer's channels; ``units`` is then that layer) renders
    the direction instead; ``attribution_from`` (an earlier layer) renders the norm of each unit's
    ``w * x`` from it, or with ``image``, the pattern of that attribution on the image. These two
    are not cached.
    """

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
    direction: str = option("--direction", default="")
    attribution_from: str = option("--attribution-from", default="")
    image: str = option("--image", default="")

    def validate(self) -> None:
        if self.direction:
            if len(self.units) != 1 or ":" in self.units[0] or self.attribution_from:
                raise UserError("--direction VEC.npy takes one LAYER (not units) and no --attribution-from")
        else:
            # Canonical unit names, so equal requests compare equal whatever the spelling.
            object.__setattr__(self, "units", tuple(str(u) for u in parse_unit_list(" ".join(self.units))))
        if self.image and not self.attribution_from:
            raise UserError("--image goes with --attribution-from LAYER (the attribution on that image)")
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
    activation (centre, mean over positions) on its final image k; ``objectives``: what each
    visualisation maximised, when it is not the unit's own objective (direction, attribution)."""

    visualisations: list
    activations: list[list[tuple[float, float]]]
    seconds: float
    objectives: list[str] | None = None

    def names(self) -> list[str]:
        return self.objectives or [str(v.unit) for v in self.visualisations]

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.featurevis.figures import single_image, unit_grid

        if sum(len(v.images) for v in self.visualisations) == 1:
            return single_image(self.visualisations[0].images[0], scale)
        return unit_grid(self.visualisations, scale, names=self.names())

    def images(self) -> list[tuple[str, np.ndarray]]:
        """(file name, image) for every image, in order: ``layer_channel[_k].png`` for units."""
        named = []
        for vis, name in zip(self.visualisations, self.names()):
            stem = f"{vis.unit.layer}_{vis.unit.channel}" if not self.objectives else re.sub(r"\W+", "_", name).strip("_")
            for k, image in enumerate(vis.images):
                suffix = f"_{k + 1}" if len(vis.images) > 1 else ""
                named.append((f"{stem}{suffix}.png", image))
        return named

    def save_images(self, folder: str | Path, scale: float = 1.0) -> list[Path]:
        """One PNG per image in ``folder``."""
        from circuitloupe.core.featurevis.figures import single_image
        from circuitloupe.core.figures import save_png

        folder = Path(folder)
        folder.mkdir(exist_ok=True)
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
        per_unit = self.activations or [[(None, None)] * len(v.images) for v in self.visualisations]
        for index, (vis, activations) in enumerate(zip(self.visualisations, per_unit)):
            images = [{"index": k, "objective_start": _number(vis.start_values[k]),
                       "objective_end": _number(vis.end_values[k]), "activation": centre,
                       "activation_mean": mean} for k, (centre, mean) in enumerate(activations)]
            objective = self.objectives[index] if self.objectives else \
                for_unit(vis.unit, request.objective, weight).name
            name = vis.unit.layer if request.direction else str(vis.unit)
            units.append({"unit": name, "objective": objective, "cached": vis.cached, "images": images})
        return {"settings": vars(request.settings()), "seconds": round(self.seconds, 3), "units": units}


@task(FeatvisRequest)
def featvis(ctx: Context, request: FeatvisRequest) -> FeatvisResult:
    """Previews (``ctx.progress``'s third argument) of units: ``{"cached": [UnitVis]}`` at once, then
    ``{"units": [UnitRef], "images": [n, H, W, 3]}`` of those being rendered (``diversity`` images
    per unit, in order); of a direction or attributions, the images [n, H, W, 3]."""
    model = ctx.model
    started = time.perf_counter()
    objectives = None
    if request.direction or request.attribution_from:
        visualisations, objectives = _render_special(ctx, request)
    else:
        visualisations = _render_units(ctx, request)
    seconds = time.perf_counter() - started
    activations = [] if request.direction else _activations(model, visualisations)
    return FeatvisResult(request, model.spec, model.weights_id, visualisations, activations, seconds, objectives)


def cached_result(ctx: Context, request: FeatvisRequest) -> FeatvisResult | None:
    """The result ``request`` gives when every unit is cached (no rendering), else None."""
    from circuitloupe.core.featurevis.cache import cached_visualisations

    if request.direction or request.attribution_from or request.no_cache:
        return None
    model = ctx.model
    started = time.perf_counter()
    found = cached_visualisations(model, [model.catalogue.unit(u) for u in request.units], request.settings())
    if not found or any(vis is None for vis in found):
        return None
    return FeatvisResult(request, model.spec, model.weights_id, found, _activations(model, found),
                         time.perf_counter() - started)


def lookup(ctx: Context, request: FeatvisRequest | None, gallery_unit) -> tuple[FeatvisResult | None, list]:
    """The cached result of ``request`` (None when a unit is not cached, or no request), and every
    cached visualisation of ``gallery_unit`` (any settings), best first: [(cache entry, image)]."""
    from circuitloupe.core.featurevis import cache

    gallery = []
    for entry in cache.entries(ctx.model, gallery_unit):
        try:
            gallery.append((entry, entry.load()))
        except OSError:
            continue
    return (cached_result(ctx, request) if request is not None else None), gallery


def _render_units(ctx: Context, request: FeatvisRequest) -> list:
    """Cached visualisations at once (as a preview), then the rest rendered in one batch."""
    from circuitloupe.core.featurevis.cache import cached_visualisations, visualise_units

    model, settings = ctx.model, request.settings()
    units = [model.catalogue.unit(u) for u in request.units]
    found = [None] * len(units) if request.no_cache else cached_visualisations(model, units, settings)
    ctx.progress(0, settings.steps, {"cached": [vis for vis in found if vis is not None]})
    missing = [unit for unit, vis in zip(units, found) if vis is None]
    if not missing:
        return found

    def report(step: int, total: int, preview: np.ndarray | None = None) -> None:
        ctx.progress(step, total, None if preview is None else {"units": missing, "images": preview})

    every = max(PREVIEW_EVERY, len(missing) * settings.diversity // 8)  # fewer previews for big batches
    rendered = iter(visualise_units(model, missing, settings, progress=report, should_stop=ctx.should_stop,
                                    use_cache=False, preview_every=every))
    return [vis if vis is not None else next(rendered) for vis in found]


def _activations(model, visualisations: list) -> list[list[tuple[float, float]]]:
    """Each unit's activation on each of its images: (centre, mean over positions)."""
    import torch

    from circuitloupe.core.activations import capture

    activations = []
    for vis in visualisations:
        maps = capture(model, torch.as_tensor(vis.images).permute(0, 3, 1, 2), [vis.unit.layer])[vis.unit.layer]
        unit_maps = maps[:, vis.unit.channel]
        h, w = unit_maps.shape[1:]
        activations.append([(float(m[h // 2, w // 2]), float(m.mean())) for m in unit_maps])
    return activations


def _render_special(ctx: Context, request: FeatvisRequest) -> tuple[list, list[str]]:
    """Visualisations of a direction or of attributions (not cached): one per unit."""
    from circuitloupe.core.featurevis import objectives as obj
    from circuitloupe.core.featurevis.cache import DIVERSITY_WEIGHT, UnitVis, redirect_steps
    from circuitloupe.core.featurevis.render import render
    from circuitloupe.core.units import UnitRef

    model, settings = ctx.model, request.settings()
    if request.direction:
        layer = model.catalogue.layer(request.units[0]).name
        objectives = [obj.direction(layer, _read_vector(request.direction), cosine=True)]
        units = [UnitRef(layer, 0)]
    else:
        units = [model.catalogue.unit(u) for u in request.units]
        if request.image:
            objectives = [_attribution_pattern(model, unit, request.attribution_from, request.image) for unit in units]
        else:  # w * x into the pre-ReLU value, as the attribution pane measures it
            from circuitloupe.core.attribution.circuits import attributed_layer

            objectives = [obj.attribution_norm(attributed_layer(model, unit), request.attribution_from)
                          for unit in units]
    k = settings.diversity
    if k > 1:
        spread = obj.diversity(request.attribution_from or units[0].layer, DIVERSITY_WEIGHT)
        objectives = [o + spread for o in objectives]
    rendered = render(model, [o for o in objectives for _ in range(k)], size=settings.size, steps=settings.steps,
                      seed=settings.seed, param=settings.param, transforms=settings.transforms,
                      redirect_relu_steps=redirect_steps(settings.steps), progress=ctx.progress,
                      should_stop=ctx.should_stop)
    visualisations = [UnitVis(unit, settings, rendered.images[i * k:(i + 1) * k], rendered.start_values[i * k:(i + 1) * k],
                              rendered.end_values[i * k:(i + 1) * k]) for i, unit in enumerate(units)]
    names = [f"direction({units[0].layer})"] if request.direction else [
        f"{unit} <- {request.attribution_from}" + (" on image" if request.image else "") for unit in units]
    return visualisations, names


def _read_vector(path: str) -> np.ndarray:
    """A direction from a .npy file (never a pickle)."""
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the direction {path}: {error}") from None
    if vector.dtype.kind not in "fiu" or vector.ndim != 1 or not np.all(np.isfinite(vector)):
        raise UserError(f"{path} must hold one finite vector of numbers, not {vector.dtype} {vector.shape}")
    return vector.astype(np.float32)


def _attribution_pattern(model, unit, layer: str, image: str):
    from circuitloupe.core.attribution.circuits import earlier_contributions
    from circuitloupe.core.featurevis import objectives as obj
    from circuitloupe.core.samples import load_image_or_sample

    contributions = earlier_contributions(model, load_image_or_sample(image, model.in_channels), unit, layer)
    return obj.attribution_pattern(contributions.source_layer, contributions.wx)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
