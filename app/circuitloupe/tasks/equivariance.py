"""equivariance: which unit a transformation maps each unit to, and how exactly; with
``discover``, candidate families in a layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import parse_unit_list
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task
from circuitloupe.tasks.circuit import compact_units

HUE_ROTATION = "hue_rotation"
TRANSFORMS = ("rotate", "hue", "flip", "scale", HUE_ROTATION)
REDUCTIONS = ("centre", "mean", "max")
MAX_STEPS = 72
#: The scale family's last zoom: default and largest.
MAX_SCALE, LARGEST_SCALE = 2.0, 8.0


@dataclass(frozen=True)
class EquivarianceRequest(Request):
    """``units``: a family such as ``c2:0,1,2,3``, possibly across layers (``conv2d2:146
    mixed3b:346,323``); with ``discover``: a layer. ``steps``: one count, or for ``hue_rotation``
    rotation and hue counts ``A,H`` (both even). ``max_scale``: the scale family's last zoom, up to
    8. ``stimuli``: synthetic, featurevis or a folder of images. ``weights_to``: a later family
    whose weights from ``units`` are tested too; ``attention``: an image whose attention maps join
    the figure."""

    command = "equivariance"

    units: str = positional()
    transform: str = option("--transform")  # required on the command line
    steps: tuple[int, ...] | None = option("--steps", many=True, default=None)
    max_scale: float = option("--max-scale", default=MAX_SCALE)
    stimuli: str = option("--stimuli", default="synthetic")
    reduce: str = option("--reduce", default="centre")
    hole_threshold: float = option("--hole-threshold", default=1.0)
    weights_to: str | None = option("--weights-to", default=None)
    discover: bool = flag("--discover")
    attention: str | None = option("--attention", default=None)

    def validate(self) -> None:
        if not self.discover:
            object.__setattr__(self, "units", compact_units(self.units))
        if self.weights_to:
            object.__setattr__(self, "weights_to", compact_units(self.weights_to))
        if self.transform not in TRANSFORMS:
            raise UserError(f"unknown transform '{self.transform}'; use one of {', '.join(TRANSFORMS)}")
        if self.reduce not in REDUCTIONS:
            raise UserError(f"unknown reduction '{self.reduce}'; use one of {', '.join(REDUCTIONS)}")
        if self.steps is not None:
            object.__setattr__(self, "steps", steps_tuple(self.steps, self.transform))
        if not 1.0 < self.max_scale <= LARGEST_SCALE:
            raise UserError(f"--max-scale {self.max_scale:g} is out of range; use above 1 up to {LARGEST_SCALE:g}")
        if self.hole_threshold <= 0:
            raise UserError("--hole-threshold must be positive")
        if self.transform == HUE_ROTATION and (self.discover or self.weights_to):
            raise UserError("hue_rotation analyses one family; --discover and --weights-to take one transform")


def steps_tuple(values, transform: str) -> tuple[int, ...]:
    """``--steps`` as integers: one count, or ``A,H`` for hue_rotation (both even, so 180° is a step)."""
    try:
        steps = tuple(int(str(v)) for v in values)
    except ValueError:
        raise UserError(f"--steps {','.join(map(str, values))} is not a whole number (or A,H)") from None
    joint = transform == HUE_ROTATION
    if not 1 <= len(steps) <= (2 if joint else 1):
        raise UserError("--steps takes A,H (rotation and hue steps) with hue_rotation" if joint else
                        f"--steps takes one number with {transform} (A,H is for hue_rotation)")
    for count in steps:
        if not 2 <= count <= MAX_STEPS:
            raise UserError(f"--steps {count} is out of range; use 2 to {MAX_STEPS}")
        if joint and count % 2:
            raise UserError(f"--steps {count}: hue_rotation needs even counts, so that 180° is a step")
    return steps


@dataclass
class EquivarianceResult(Result):
    """``analysis``: the family's mapping and score; ``second`` and ``symmetry``: the later family
    and the weights' symmetry (``weights_to``); ``attention``: the attention view, if asked for."""

    analysis: Any
    second: Any = None
    symmetry: Any = None
    attention: Any = None

    def figure(self, scale: float = 1.0):
        from circuitloupe.core import equivariance as eq
        from circuitloupe.core.figures import side_by_side, stack

        if isinstance(self.analysis, eq.HueRotationResult):
            figure = eq.hue_rotation_figure(self.analysis, scale)
        else:
            figure = eq.summary_figure(self.analysis, scale)
        if self.symmetry is not None:
            grids = eq.weight_symmetry_figure(self.symmetry, scale)
            figure = side_by_side([figure, grids], height=int(figure.height / scale), scale=scale)
        if self.attention is not None:
            figure = stack([figure, eq.attention_figure(self.attention, scale)])
        return figure

    def data(self) -> dict[str, Any]:
        data = self.analysis.to_json()
        if self.second is not None:
            data["weights_to"] = self.second.to_json()
            data["weight_symmetry"] = self.symmetry.to_json()
        return data

    def lines(self) -> list[str]:
        """What the analysis found: the score and its baselines, then the family's structure."""
        a = self.analysis
        scores = f"(identity {a.baseline_identity:.3g}, random {a.baseline_random:.3g} ± {a.baseline_random_std:.2g})"
        if a.kind == HUE_ROTATION:
            return [f"hue+180° vs rotation+180°: error {a.score:.3g} {scores}; matches: {'yes' if a.matches else 'no'}"
                    f"; same permutation: {'yes' if a.same_permutation else 'no'}"]
        line = f"{a.kind} by {a.step:g}: score {a.score:.3g} {scores}; holes {len(a.holes)}"
        if a.shift:
            line += f"; shift {a.shift:+d} ({a.direction})"
        if a.wraps_at:
            line += f"; wraps at {a.wraps_at}°"
        if a.flip_pairs:
            line += "; flip pairs " + ", ".join(f"{a.units[i]}↔{a.units[j]}" for i, j in a.flip_pairs)
        if a.scale_fits is not None:
            line += "; fits " + ", ".join(f"×{v:.3g} {a.units[u]}" for v, u in zip(a.values, a.scale_fits))
        if self.symmetry is not None:
            line += f"; weight symmetry error {self.symmetry.overall:.3g} (untransformed {self.symmetry.baseline:.3g})"
        return [line]


@dataclass
class DiscoverResult(Result):
    """``candidates``: flip pairs or rotation cycles found in ``layer``, strongest first."""

    layer: str
    candidates: list

    def figure(self, scale: float = 1.0):
        from PIL import Image, ImageDraw

        from circuitloupe.core.figures import font

        lines = [f"{self.layer}: {self.request.transform} candidates",  # type: ignore[attr-defined]
                 *([c.name for c in self.candidates] or ["none found"])]
        size = max(8, round(13 * scale))
        image = Image.new("RGB", (round(12 * scale) + size * max(map(len, lines)) * 3 // 5,
                                  round(12 * scale) + len(lines) * round(size * 1.5)), "white")
        draw = ImageDraw.Draw(image)
        for row, text in enumerate(lines):
            draw.text((round(6 * scale), round(6 * scale) + row * round(size * 1.5)), text, fill="black",
                      font=font(size))
        return image

    def lines(self) -> list[str]:
        return [c.name for c in self.candidates]

    def data(self) -> dict[str, Any]:
        return {"layer": self.layer, "transform": self.request.transform,  # type: ignore[attr-defined]
                "candidates": [{"units": c.units, "strength": c.strength, "cyclic": c.cyclic}
                               for c in self.candidates]}


def _stimuli(ctx: Context, kind: str, units: list):
    from circuitloupe.core import equivariance as eq

    if kind == "synthetic":
        return None
    if kind == "featurevis":
        return eq.featurevis_stimuli(ctx.model, units, progress=ctx.progress, should_stop=ctx.should_stop)
    return eq.folder_stimuli(kind, ctx.model.input_size)


@task(EquivarianceRequest)
def equivariance(ctx: Context, request: EquivarianceRequest) -> EquivarianceResult | DiscoverResult:
    from circuitloupe.core import equivariance as eq

    model = ctx.model
    if request.attention and "attention_maps" not in model.extras:
        raise UserError(f"{model.name} has no attention maps; --attention needs a_p4cnn or fa_p4cnn")
    options = dict(reduce=request.reduce, progress=ctx.progress, should_stop=ctx.should_stop)
    if request.discover:
        layer = model.catalogue.layer(request.units).name
        found = eq.discover(model, layer, request.transform, request.steps[0] if request.steps else None,
                            stimuli=_stimuli(ctx, request.stimuli, []),
                            **options)
        return DiscoverResult(request, model.spec, model.weights_id, layer, found)

    def analyse(text: str):
        units = [model.catalogue.unit(u) for u in parse_unit_list(text)]
        stimuli = _stimuli(ctx, request.stimuli, units)
        if request.transform == HUE_ROTATION:
            return eq.hue_rotation(model, units, request.steps, stimuli=stimuli,
                                   hole_threshold=request.hole_threshold, **options)
        return eq.equivariance(model, units, request.transform, request.steps[0] if request.steps else None,
                               stimuli=stimuli, hole_threshold=request.hole_threshold, max_scale=request.max_scale,
                               **options)

    analysis = analyse(request.units)
    second = symmetry = attention = None
    if request.weights_to:
        second = analyse(request.weights_to)
        symmetry = eq.weight_symmetry(model, analysis, second, should_stop=ctx.should_stop)
    if request.attention:
        from circuitloupe.tasks.inputs import read_images

        attention = eq.attention_view(model, np.asarray(read_images([request.attention])[0]))
    return EquivarianceResult(request, model.spec, model.weights_id, analysis, second, symmetry, attention)
