"""Two Curve Detectors experiments on a unit's preferred curve: the angle-to-curve morph and
generality across colour, contrast, stroke and texture.

Each unit is first swept (orientation x radius, curves only) to find its preferred curve: the
orientation and radius of its largest pre-ReLU response, drawn at the receptive-field centre as
the tuning pane does. Then

- **morph**: :func:`stimuli.angle_to_curve_series` morphs a sharp angle into that arc (same
  apex, same end points); the last step is the arc itself, so its response equals the plain
  curve response. Curve detectors respond more as the corner rounds into a curve.
- **generality**: the preferred curve in other styles (white on black, colour pairs, low
  contrast, thin and thick strokes, filled, on a textured background), each response divided by
  the response to the black-on-white curve (the peak). The article's claim is that curve
  detectors respond to curves whatever the colour, brightness or texture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from circuitloupe.core import stimuli, tuning
from circuitloupe.core.jobs import ProgressFn, StopFn, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


@dataclass(frozen=True)
class PreferredCurve:
    unit: str  # the measured unit (pre-ReLU where the layer has one)
    orientation: float
    radius: float
    centre: tuple[float, float]
    response: float


def preferred_curves(model: LoadedModel, units: Sequence[UnitRef | str], orientations: int = 36,
                     radii: int = 6, progress: ProgressFn = no_progress,
                     should_stop: StopFn | None = None, **style) -> list[PreferredCurve]:
    """Each unit's strongest curve over an orientation x radius sweep (``style``: renderer
    arguments, :meth:`stimuli.StimulusStyle.arguments`)."""
    maps = tuning.response_maps(model, units, "curve", orientations, radii, pre_relu=True,
                                progress=progress, should_stop=should_stop, **style)
    found = []
    for rmap in maps:
        row, column = np.unravel_index(int(np.argmax(rmap.values)), rmap.values.shape)
        found.append(PreferredCurve(rmap.unit, float(rmap.orientations[column]), float(rmap.parameters[row]),
                                    tuple(rmap.center), float(rmap.values[row, column])))
    return found


def _responses(model: LoadedModel, unit: str, images: np.ndarray, should_stop: StopFn | None) -> np.ndarray:
    return tuning.sweep(model, [UnitRef.parse(unit)], lambda a, b: images[a:b], len(images),
                        should_stop=should_stop)[:, 0]


@dataclass
class Morph:
    """``values[u, k]``: unit u's response to morph step k (0 = the angle, last = the arc);
    ``images[u]``: the unit's own series; ``curve_response[u]``: its plain curve response."""

    preferred: list[PreferredCurve]
    values: np.ndarray
    images: np.ndarray
    curve_response: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"steps": int(self.values.shape[1]),
                "units": [{"unit": p.unit, "orientation_deg": p.orientation, "radius_px": p.radius,
                           "responses": self.values[i].tolist(), "curve_response": float(self.curve_response[i])}
                          for i, p in enumerate(self.preferred)]}


def morph(model: LoadedModel, units: Sequence[UnitRef | str], steps: int = 7, progress: ProgressFn = no_progress,
          should_stop: StopFn | None = None, **style) -> Morph:
    """Responses along the angle-to-curve morph, each unit at its own preferred curve, every
    stimulus drawn in ``style`` (renderer arguments, :meth:`stimuli.StimulusStyle.arguments`)."""
    size = max(model.input_size)
    preferred = preferred_curves(model, units, progress=progress, should_stop=should_stop, **style)
    series, values, plain = [], [], []
    for p in preferred:
        images = stimuli.angle_to_curve_series(p.orientation, p.radius, steps, size, center=p.centre, **style)
        curve = stimuli.curve(p.orientation, p.radius, size, center=p.centre, **style)[None]
        responses = _responses(model, p.unit, np.concatenate([images, curve]), should_stop)
        series.append(images)
        values.append(responses[:-1])
        plain.append(responses[-1])
    return Morph(preferred, np.array(values), np.array(series), np.array(plain))


def generality_styles(size: int) -> list[tuple[str, dict[str, Any]]]:
    """The preferred curve's variations: (name, renderer arguments); the first is the reference."""
    width = stimuli.default_width(size)
    return [
        ("black on white", {}),
        ("white on black", {"fg": 1.0, "bg": 0.0}),
        ("red on green", {"fg": (0.85, 0.1, 0.1), "bg": (0.2, 0.65, 0.2)}),
        ("blue on yellow", {"fg": (0.1, 0.2, 0.85), "bg": (0.95, 0.85, 0.2)}),
        ("low contrast", {"fg": 0.4, "bg": 0.6}),
        ("thin stroke", {"width": 0.5 * width}),
        ("thick stroke", {"width": 2.5 * width}),
        ("filled", {"filled": True, "fill": 0.0}),
        ("on texture", {"bg": stimuli.texture(size)}),
    ]


@dataclass
class Generality:
    """``values[u, s]``: unit u's response to style s divided by its black-on-white response."""

    preferred: list[PreferredCurve]
    styles: list[str]
    raw: np.ndarray
    images: np.ndarray  # [styles, H, W, 3], drawn at the first unit's preferred curve

    @property
    def values(self) -> np.ndarray:
        peak = self.raw[:, :1]
        return np.divide(self.raw, peak, out=np.zeros_like(self.raw), where=np.abs(peak) > 1e-12)

    def to_json(self) -> dict[str, Any]:
        return {"styles": self.styles,
                "units": [{"unit": p.unit, "orientation_deg": p.orientation, "radius_px": p.radius,
                           "responses": self.raw[i].tolist(), "normalised": self.values[i].tolist()}
                          for i, p in enumerate(self.preferred)]}


def generality(model: LoadedModel, units: Sequence[UnitRef | str], progress: ProgressFn = no_progress,
               should_stop: StopFn | None = None) -> Generality:
    """Each unit's response to its preferred curve in every style of :func:`generality_styles`."""
    size = max(model.input_size)
    preferred = preferred_curves(model, units, progress=progress, should_stop=should_stop)
    styles = generality_styles(size)
    raw, shown = [], None
    for p in preferred:
        images = np.stack([stimuli.curve(p.orientation, p.radius, size, center=p.centre, **style)
                           for _, style in styles])
        raw.append(_responses(model, p.unit, images, should_stop))
        shown = images if shown is None else shown
    return Generality(preferred, [name for name, _ in styles], np.array(raw), shown)


def morph_figure(result: Morph, scale: float = 1.0):
    """The first unit's morph, one column per step, above each unit's response curve."""
    from circuitloupe.core.figures import new_plot, plot_to_image

    steps = result.values.shape[1]
    fig, _ = new_plot(1.1 * steps + 1.2, 4.2, scale)
    fig.clear()
    grid = fig.add_gridspec(2, steps, height_ratios=(1, 2.2))
    for k in range(steps):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(result.images[0, k])
        ax.set_axis_off()
        ax.set_title("angle" if k == 0 else "curve" if k == steps - 1 else f"{k}", fontsize=7)
    ax = fig.add_subplot(grid[1, :])
    for i, p in enumerate(result.preferred):
        ax.plot(range(steps), result.values[i], marker="o", markersize=3, color=tuning.hue_colour(p.orientation),
                label=f"{p.unit} ({p.orientation:.0f} deg)")
    ax.set_xticks(range(steps))
    ax.set_xlabel("morph step (angle to curve; each unit at its preferred orientation)", fontsize=8)
    ax.set_ylabel("response (pre-ReLU)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, frameon=False, ncol=2)
    fig.tight_layout()
    return plot_to_image(fig)


def generality_figure(result: Generality, scale: float = 1.0):
    """The styles (drawn at the first unit's preferred curve) over each unit's normalised response."""
    from circuitloupe.core.figures import new_plot, plot_to_image

    count = len(result.styles)
    fig, _ = new_plot(1.0 * count + 1.2, 4.4, scale)
    fig.clear()
    grid = fig.add_gridspec(2, count, height_ratios=(1, 2.2))
    for k, name in enumerate(result.styles):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(result.images[k])
        ax.set_axis_off()
        ax.set_title(name, fontsize=6)
    ax = fig.add_subplot(grid[1, :])
    units = len(result.preferred)
    width = 0.8 / max(units, 1)
    for i, p in enumerate(result.preferred):
        ax.bar(np.arange(count) + (i - (units - 1) / 2) * width, result.values[i], width,
               color=tuning.hue_colour(p.orientation), label=p.unit)
    ax.axhline(1.0, color="0.4", linewidth=0.6, linestyle="--")
    ax.set_xticks(range(count), result.styles, fontsize=6, rotation=20)
    ax.set_ylabel("response / black-on-white response", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=6, frameon=False, ncol=2)
    fig.tight_layout()
    return plot_to_image(fig)
