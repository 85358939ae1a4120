"""Find curve detectors in any layer: sweep every unit with synthetic curves, score orientation
selectivity, and propose the most curve-selective units as a family.

The "Zoom In" article claims features such as curve detectors are universal: they form in
many vision networks. :func:`find_curves` tests that claim on one layer of any model:

1. Every unit of the layer sees one shared sweep of curves (:func:`tuning.response_maps`:
   orientations x radii, plus straight strokes as a control), drawn on the receptive-field
   centre of the centre position and read there, using the pre-ReLU value where the layer
   has one.
2. The unit's activations on the scikit-image sample photos (every spatial position) give its
   natural scale: the mean and standard deviation that curve responses are measured against
   (the deviation is floored at a tenth of the layer's median, so a unit that is silent on the
   photos cannot score huge values).
3. Scores per unit: ``selectivity`` is the resultant length of the radial tuning curve (curves
   averaged over radius, positive part; ``circular_variance = 1 - selectivity``),
   ``peak_to_mean`` its peak over its mean, ``width`` its full width at half maximum,
   ``peak_sigma`` the best curve response in standard deviations above the natural mean, and
   ``curve_vs_line`` how far (in those standard deviations) the best curve beats the best
   straight stroke. The ``score`` is ``selectivity * curve_vs_line``: selective for one
   orientation and for curves over lines.
4. Units with ``peak_sigma >= min_sigma``, ``curve_vs_line >= min_curve_vs_line``,
   ``selectivity >= min_selectivity`` and a tuning width the sweep resolves (at least 1.5
   orientation steps) are candidates; the ``top`` highest scores form the family, ordered by
   preferred orientation (degrees, 0 = bulging up, counter-clockwise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from circuitloupe.core import tuning
from circuitloupe.core.activations import capture
from circuitloupe.core.errors import UserError
from circuitloupe.core.images import to_batch
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.samples import load_sample, sample_names
from circuitloupe.core.units import UnitRef

DEFAULT_TOP = 10


@dataclass(frozen=True)
class CurveScore:
    """How curve-selective one unit is (see the module docstring for each score)."""

    unit: str
    channel: int
    selectivity: float
    peak_to_mean: float
    peak_sigma: float
    curve_vs_line: float
    preferred: float
    width: float
    best_radius: float
    candidate: bool

    @property
    def circular_variance(self) -> float:
        return 1.0 - self.selectivity

    @property
    def score(self) -> float:
        """Curve selectivity: orientation selectivity times the curve-over-line margin (sd)."""
        return self.selectivity * max(self.curve_vs_line, 0.0)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["circular_variance"] = self.circular_variance
        data["score"] = self.score
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in data.items()}


@dataclass
class CurveSearch:
    """The result of :func:`find_curves` on one layer.

    ``scores`` has one entry per channel (channel order); ``family`` the proposed curve
    detectors ordered by preferred orientation, with their radial ``tunings`` in the same order.
    ``measured`` is the layer whose values were recorded (the pre-ReLU value where there is one).
    """

    model: str
    layer: str
    measured: str
    orientations: np.ndarray
    radii: np.ndarray
    scores: list[CurveScore]
    family: list[CurveScore]
    tunings: list[tuning.RadialTuning] = field(repr=False)
    settings: dict[str, float] = field(default_factory=dict)

    @property
    def candidates(self) -> list[CurveScore]:
        """Every unit that passed the thresholds, highest score first."""
        return sorted((s for s in self.scores if s.candidate), key=lambda s: -s.score)

    def family_units(self) -> list[UnitRef]:
        return [UnitRef(self.layer, s.channel) for s in self.family]

    def coverage_gap(self) -> float:
        """The largest gap (degrees) between neighbouring preferred orientations of the family."""
        angles = sorted(s.preferred for s in self.family)
        if len(angles) < 2:
            return 360.0
        gaps = np.diff(angles + [angles[0] + 360.0])
        return float(gaps.max())

    def summary(self) -> str:
        """One line: how many candidates, the family, and how well it covers the circle."""
        if not self.family:
            return f"{self.layer}: no curve-selective units among {len(self.scores)}"
        members = ", ".join(f"{s.channel} ({s.preferred:.0f} deg)" for s in self.family)
        return (f"{self.layer}: {len(self.candidates)} of {len(self.scores)} units are curve-selective; "
                f"family of {len(self.family)}: {members}; largest orientation gap {self.coverage_gap():.0f} deg")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "layer": self.layer,
            "measured": self.measured,
            "orientations_deg": self.orientations.tolist(),
            "radii_px": self.radii.tolist(),
            "settings": self.settings,
            "candidates": len(self.candidates),
            "family": [str(u) for u in self.family_units()],
            "family_scores": [s.as_dict() for s in self.family],
            "coverage_gap_deg": self.coverage_gap(),
            "units": [s.as_dict() for s in self.scores],
        }


def natural_statistics(model: LoadedModel, layer: str, samples: Sequence[str] | None = None,
                       size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``layer`` over every position of the sample
    photos (scikit-image, resized to the model's input size): two arrays [C]."""
    batch = _photo_batch(tuple(samples or sample_names()), tuple(size or model.input_size))
    if model.in_channels == 1:
        batch = batch.mean(dim=1, keepdim=True)
    values = capture(model, batch, [layer])[layer]
    return values.mean(axis=(0, 2, 3)), values.std(axis=(0, 2, 3))


@lru_cache(maxsize=4)
def _photo_batch(names: tuple[str, ...], size: tuple[int, int]) -> torch.Tensor:
    return to_batch([load_sample(n) for n in names], size)


def score_unit(rmap: tuning.ResponseMap, line: np.ndarray, natural_mean: float, natural_std: float,
               min_selectivity: float, min_sigma: float, min_curve_vs_line: float, min_width: float = 0.0
               ) -> tuple[CurveScore, tuning.RadialTuning]:
    """Scores of one unit from its curve response map and its straight-stroke responses [N];
    ``min_width`` (degrees) is the narrowest tuning the sweep resolves."""
    radial = tuning.radial_from_map(rmap)
    scale = max(float(natural_std), 1e-6)
    best = float(rmap.values.max())
    peak_sigma = (best - float(natural_mean)) / scale
    curve_vs_line = (best - float(line.max())) / scale
    mean = float(radial.profile.mean())
    peak_to_mean = radial.peak / mean if mean > 0 else 0.0
    row = np.unravel_index(int(np.argmax(rmap.values)), rmap.values.shape)[0]
    candidate = (radial.selectivity >= min_selectivity and peak_sigma >= min_sigma
                 and curve_vs_line >= min_curve_vs_line and radial.width >= min_width
                 and np.isfinite(radial.preferred))
    channel = int(rmap.unit.rsplit(":", 1)[1])
    preferred = round(radial.preferred, 2) % 360.0 if np.isfinite(radial.preferred) else radial.preferred
    score = CurveScore(rmap.unit, channel, radial.selectivity, peak_to_mean, peak_sigma, curve_vs_line,
                       preferred, radial.width, float(rmap.parameters[row]), bool(candidate))
    return score, radial


def find_curves(model: LoadedModel, layer: str, top: int = DEFAULT_TOP, orientations: int = 36,
                curvatures: int | Sequence[float] = 5, min_selectivity: float = 0.3, min_sigma: float = 2.0,
                min_curve_vs_line: float = 1.0, batch_size: int = 64, progress: ProgressFn = no_progress,
                should_stop: StopFn | None = None, **style) -> CurveSearch:
    """Sweep every unit of ``layer`` with curves and propose its curve-detector family.

    ``orientations``: how many, evenly over 360 degrees. ``curvatures``: how many radii (log-spaced
    from 5% of the image side up to, but leaving out, the near-straight end of
    :func:`tuning.default_parameters`) or radii in pixels at the model's input size.
    ``style`` goes to :func:`tuning.response_maps` (``center``) and the curve renderer
    (``width``, ``arc_length``, ``fg``, ``bg``); by default the curves' apex is put on the
    centre unit's receptive-field centre (:func:`tuning.stimulus_centre`), as the tuning pane
    and ``circuitloupe tuning`` do.
    Progress counts sweep batches plus one step for the natural statistics.
    """
    catalogue = model.catalogue
    info = catalogue.layer(layer)
    if info.shape[1] < 1 or info.shape[2] < 1:
        raise UserError(f"{info.name} has no spatial positions to sweep")
    if top < 1:
        raise UserError("--top must be at least 1")
    size = max(model.input_size)
    # n radii from tight to gentle; the near-straight end is left out (straight strokes are the control)
    radii = (tuning.default_parameters("curve", int(curvatures) + 1, size)[:-1] if np.isscalar(curvatures)
             else np.asarray(curvatures, dtype=np.float64))
    radii = radii[np.isfinite(radii)]
    if len(radii) < 1:
        raise UserError("the curve sweep needs at least one finite radius")
    units = [UnitRef(info.name, c) for c in range(info.channels)]
    measured = catalogue.pre_relu_of(info.name) or info.name
    batches = -(-int(orientations) * (len(radii) + 1) // batch_size)
    check_stop(should_stop)
    natural_mean, natural_std = natural_statistics(model, measured)
    progress(1, batches + 1)

    def sweep_progress(step: int, total: int, preview: Any = None) -> None:
        progress(step + 1, total + 1, preview)

    maps = tuning.response_maps(model, units, "curve", orientations, [*radii, np.inf], pre_relu=True,
                                batch_size=batch_size, progress=sweep_progress, should_stop=should_stop,
                                **style)
    natural_std = np.maximum(natural_std, 0.1 * float(np.median(natural_std)))
    min_width = 1.5 * 360.0 / max(len(maps[0].orientations), 1)
    scores, radials = [], []
    for channel, rmap in enumerate(maps):
        curves_only = dataclasses.replace(rmap, unit=str(units[channel]), parameters=rmap.parameters[:-1],
                                          values=rmap.values[:-1], sigma=None)
        score, radial = score_unit(curves_only, rmap.values[-1], natural_mean[channel], natural_std[channel],
                                   min_selectivity, min_sigma, min_curve_vs_line, min_width)
        scores.append(score)
        radials.append(radial)
    chosen = sorted((s for s in scores if s.candidate), key=lambda s: -s.score)[:top]
    chosen.sort(key=lambda s: s.preferred)
    settings = {"top": top, "min_selectivity": min_selectivity, "min_sigma": min_sigma,
                "min_curve_vs_line": min_curve_vs_line, "min_width_deg": min_width,
                "centre_xy": list(maps[0].center)}
    return CurveSearch(model.spec, info.name, measured, maps[0].orientations, radii, scores, chosen,
                       [radials[s.channel] for s in chosen], settings)


def curve_family_figure(search: CurveSearch, scale: float = 1.0) -> Image.Image:
    """The family's radial tuning curves (each scaled to its peak, coloured by preferred
    orientation) beside every unit's orientation selectivity against its curve-over-line
    margin (the two factors of the score), candidates dark and the family coloured."""
    from circuitloupe.core.figures import new_plot, plot_to_image, side_by_side

    title = (f"{search.layer}: {len(search.family)} curve units"
             if search.family else f"{search.layer}: no curve-selective units")
    if search.tunings:
        polar = tuning.radial_tuning_figure(search.tunings, scale=scale, title=f"{title} (radial tuning)")
    else:
        fig, ax = new_plot(5.2, 5.2, scale)
        ax.text(0.5, 0.5, "no unit passed the thresholds", ha="center", va="center")
        ax.set_axis_off()
        polar = plot_to_image(fig)
    fig, ax = new_plot(5.2, 5.2, scale)
    sel = np.array([s.selectivity for s in search.scores])
    margin = np.array([s.curve_vs_line for s in search.scores])
    candidate = np.array([s.candidate for s in search.scores])
    ax.scatter(margin[~candidate], sel[~candidate], s=8, color="0.7", label="other units")
    ax.scatter(margin[candidate], sel[candidate], s=12, color="0.35", label="candidates")
    for s in search.family:
        colour = tuning.hue_colour(s.preferred)
        ax.scatter([s.curve_vs_line], [s.selectivity], s=30, color=colour, edgecolor="black", linewidth=0.5)
        ax.annotate(str(s.channel), (s.curve_vs_line, s.selectivity), fontsize=7, color=colour,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(search.settings.get("min_selectivity", 0.0), color="0.5", linewidth=0.6, linestyle="--")
    ax.axvline(search.settings.get("min_curve_vs_line", 0.0), color="0.5", linewidth=0.6, linestyle="--")
    finite = margin[np.isfinite(margin)]
    if finite.size:
        ax.set_xlim(min(-1.0, float(np.percentile(finite, 1)) - 0.5), float(finite.max()) + 1.0)
    ax.set_xlabel("best curve minus best straight stroke (sd of the unit on photos)", fontsize=8)
    ax.set_ylabel("orientation selectivity (1 - circular variance)", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_title(f"{len(search.candidates)} of {len(search.scores)} units of {search.layer} are candidates",
                 fontsize=9)
    fig.tight_layout()
    return side_by_side([polar, plot_to_image(fig)], height=int(round(440 * scale)), scale=1.0)


def save_family(model: LoadedModel, search: CurveSearch, name: str | None = None) -> str:
    """Save the family in the model's annotation store (the browser lists it); returns its name."""
    from circuitloupe.core.annotations import AnnotationStore

    if not search.family:
        raise UserError(f"{search.layer} has no curve family to save")
    name = name or f"curves {search.layer}"
    AnnotationStore.for_model(model).save_family(name, search.family_units())
    return name
