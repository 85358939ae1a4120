"""tuning: response maps and radial / joint tuning curves of units to synthetic stimuli."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.stimuli import StimulusStyle
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks.base import Context, Request, Result, flag, option, positional, task

STIMULI = ("curve", "angle", "morph")
FIGURES = ("summary", "maps", "radial", "joint", "generality")
ORIENTATION_CONVENTION = "degrees; 0 = curve bulging upward / angle pointing up; counter-clockwise"


@dataclass(frozen=True)
class TuningRequest(Request):
    """Sweep ``orientations`` x ``curvatures`` curves (or angles) through ``units`` and/or the
    model's preset ``family``; ``figure`` picks what the Result draws (``joint`` also rotates the
    units' best stimuli). ``stimulus="morph"`` instead morphs each unit's preferred curve from a
    sharp angle in ``steps`` steps, and ``figure="generality"`` draws each unit's preferred curve in
    other colours, contrasts, strokes and textures (:mod:`circuitloupe.core.curve_experiments`).
    ``step``: the joint tuning's rotation step in degrees. ``fg`` ... ``texture``: the stimulus style
    of every sweep (:class:`~circuitloupe.core.stimuli.StimulusStyle`; generality varies it itself)."""

    command = "tuning"

    units: tuple[str, ...] = positional(many=True, default=())
    family: str | None = option("--family", default=None)
    stimulus: str = option("--stimulus", default="curve")
    orientations: int = option("--orientations", default=72)
    curvatures: int = option("--curvatures", default=8)
    post_relu: bool = flag("--post-relu")
    figure: str = option("--figure", default="summary")
    steps: int = option("--steps", default=7)
    step: float = option("--step", default=1.0)
    fg: str = option("--fg", default="black")
    bg: str = option("--bg", default="white")
    invert: bool = flag("--invert")
    stroke_width: float | None = option("--stroke-width", default=None)
    filled: bool = flag("--filled")
    texture: bool = flag("--texture")

    @property
    def style(self) -> StimulusStyle:
        """How every stimulus of every sweep is drawn (response maps, radial, joint, morph)."""
        return StimulusStyle(self.fg, self.bg, self.invert, self.stroke_width, self.filled, self.texture)

    def validate(self) -> None:
        if self.units:
            object.__setattr__(self, "units", tuple(str(u) for u in parse_unit_list(" ".join(self.units))))
        if not self.units and not self.family:
            raise UserError("name at least one UNIT (e.g. conv4:3) or a --family")
        if self.stimulus not in STIMULI:
            raise UserError(f"unknown stimulus '{self.stimulus}'; use curve or angle")
        if self.figure not in FIGURES:
            raise UserError(f"unknown figure '{self.figure}'; use one of {', '.join(FIGURES)}")
        if self.orientations < 1 or self.curvatures < 1:
            raise UserError("--orientations and --curvatures must be at least 1")
        if self.orientations > 7200 or self.curvatures > 256:
            raise UserError("at most 7200 orientations and 256 curvatures")
        if not 2 <= self.steps <= 64:
            raise UserError("--steps (of the morph) must be 2 to 64")
        if self.figure == "generality" and self.stimulus != "curve":
            raise UserError("--figure generality shows curves; leave --stimulus at curve")
        if not 0.1 <= self.step <= 90:
            raise UserError("--step (of the joint tuning's rotations) must be 0.1 to 90 degrees")
        style = self.style  # checks the colours and the stroke width
        if self.figure == "generality" and not style.is_default:
            raise UserError("--figure generality varies the stimulus style itself; leave --fg, --bg, --invert, "
                            "--stroke-width, --filled and --texture out")


@dataclass
class TuningResult(Result):
    """``maps``: one ResponseMap per unit ([curvatures, orientations]); ``joint``: the joint
    tuning curves when the request's figure is ``joint``."""

    maps: list
    joint: Any = None

    def radial(self) -> list:
        from circuitloupe.core.tuning import radial_from_map

        return [radial_from_map(m) for m in self.maps]

    def figure(self, scale: float = 1.0):
        from circuitloupe.core import tuning

        kind = self.request.figure  # type: ignore[attr-defined]
        if kind == "maps":
            return tuning.response_map_figure(self.maps, scale)
        if kind == "radial":
            return tuning.radial_tuning_figure(self.radial(), scale)
        if kind == "joint":
            return tuning.joint_tuning_figure(self.joint, scale)
        return tuning.summary_figure(self.maps, scale)

    def lines(self) -> list[str]:
        """One line per unit: preferred orientation, width and peak."""
        lines = []
        for rmap, radial in zip(self.maps, self.radial()):
            value, orientation, parameter = rmap.peak
            lines.append(f"{rmap.unit}: preferred {radial.preferred:.1f} deg, width {radial.width:.1f} deg, "
                         f"peak {value:.4g} at {orientation:.1f} deg / {rmap.parameter_name} {parameter:.1f}")
        return lines

    def data(self) -> dict[str, Any]:
        from circuitloupe.core.tuning import unit_summary

        stimulus = self.request.stimulus  # type: ignore[attr-defined]
        first = self.maps[0]
        report = {
            "stimulus": stimulus,
            "orientation_convention": ORIENTATION_CONVENTION,
            "orientations_deg": first.orientations,
            ("radii_px" if stimulus == "curve" else "openings_deg"): first.parameters,
            "grid_shape": "[curvatures, orientations]",
            "units": [unit_summary(m) for m in self.maps],
        }
        if self.joint is not None:
            report["joint_tuning"] = {"orientations_deg": self.joint.angles, "units": self.joint.units,
                                      "curves": np.round(self.joint.curves, 6)}
        return report


def family_units(model, units: tuple[str, ...], family: str | None) -> list[UnitRef]:
    """``units`` followed by the model's preset ``family``, checked against the model."""
    found = parse_unit_list(" ".join(units)) if units else []
    if family:
        if family not in model.families:
            known = ", ".join(model.families) or "none"
            raise UserError(f"{model.name} has no family '{family}' (families: {known})")
        found += parse_unit_list(" ".join(model.families[family]))
    return [model.catalogue.unit(u) for u in found]


@dataclass
class CurveExperimentResult(Result):
    """The morph (``stimulus="morph"``) or generality (``figure="generality"``) of each unit's
    preferred curve: ``experiment`` is a :class:`curve_experiments.Morph` or ``Generality``."""

    experiment: Any

    def figure(self, scale: float = 1.0):
        from circuitloupe.core import curve_experiments

        if isinstance(self.experiment, curve_experiments.Morph):
            return curve_experiments.morph_figure(self.experiment, scale)
        return curve_experiments.generality_figure(self.experiment, scale)

    def lines(self) -> list[str]:
        rows = self.experiment.to_json()["units"]
        key = "normalised" if "normalised" in rows[0] else "responses"
        return [f"{row['unit']} at {row['orientation_deg']:.0f} deg, radius {row['radius_px']:.1f} px: "
                + " ".join(f"{v:.3g}" for v in row[key]) for row in rows]

    def data(self) -> dict[str, Any]:
        kind = "morph" if self.request.stimulus == "morph" else "generality"  # type: ignore[attr-defined]
        return {"experiment": kind, "orientation_convention": ORIENTATION_CONVENTION, **self.experiment.to_json()}


@task(TuningRequest)
def tuning(ctx: Context, request: TuningRequest) -> TuningResult | CurveExperimentResult:
    from circuitloupe.core import curve_experiments
    from circuitloupe.core import tuning as core

    model = ctx.model
    units = family_units(model, request.units, request.family)
    style = request.style.arguments(max(model.input_size))
    if request.stimulus == "morph" or request.figure == "generality":
        experiment = (curve_experiments.morph(model, units, request.steps, ctx.progress, ctx.should_stop, **style)
                      if request.stimulus == "morph"
                      else curve_experiments.generality(model, units, ctx.progress, ctx.should_stop))
        return CurveExperimentResult(request, model.spec, model.weights_id, experiment)
    maps = core.response_maps(model, units, request.stimulus, request.orientations, request.curvatures,
                              pre_relu=not request.post_relu, progress=ctx.progress, should_stop=ctx.should_stop,
                              **style)
    joint = None
    if request.figure == "joint":
        joint = core.joint_tuning(model, units, step=request.step, progress=ctx.progress,
                                  should_stop=ctx.should_stop, **style)
    return TuningResult(request, model.spec, model.weights_id, maps, joint)
