"""Tuning figures (matplotlib): response maps, radial and joint tuning curves, the summary."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import DIVERGING_STOPS, new_plot, plot_to_image, side_by_side
from circuitloupe.core.tuning.sweeps import JointTuning, RadialTuning, ResponseMap, radial_from_map

# --------------------------------------------------------------------------- figures

def hue_colour(orientation: float) -> tuple[float, float, float]:
    """The colour for a preferred orientation: hue = orientation / 360."""
    import colorsys

    if np.isnan(orientation):
        return (0.5, 0.5, 0.5)
    return colorsys.hsv_to_rgb((orientation % 360.0) / 360.0, 0.85, 0.85)


def response_map_figure(maps: ResponseMap | Sequence[ResponseMap], scale: float = 1.0,
                        use_sigma: bool | None = None, columns: int | None = None) -> Image.Image:
    """Heatmaps of response maps (orientation across, curvature down), red/white/blue around 0.

    ``use_sigma`` (default: when every map has it) shows standard deviations of the dataset
    distribution instead of raw activations. Each panel is titled with the unit and its peak.
    """
    from matplotlib.colors import LinearSegmentedColormap

    maps = [maps] if isinstance(maps, ResponseMap) else list(maps)
    if not maps:
        raise UserError("no response maps to draw")
    use_sigma = all(m.sigma is not None for m in maps) if use_sigma is None else use_sigma
    columns = columns or min(len(maps), 4)
    rows = -(-len(maps) // columns)
    fig, first = new_plot(4.2 * columns, 3.2 * rows, scale)
    first.remove()
    cmap = LinearSegmentedColormap.from_list("circuits", DIVERGING_STOPS)
    for k, rmap in enumerate(maps):
        ax = fig.add_subplot(rows, columns, k + 1)
        grid = rmap.sigma if use_sigma and rmap.sigma is not None else rmap.values
        limit = float(np.abs(grid).max()) or 1.0
        step = 360.0 / len(rmap.orientations) if len(rmap.orientations) > 1 else 360.0
        image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit, origin="upper",
                          extent=(rmap.orientations[0] - step / 2, rmap.orientations[-1] + step / 2,
                                  len(rmap.parameters) - 0.5, -0.5), interpolation="nearest")
        ax.set_yticks(range(len(rmap.parameters)))
        ax.set_yticklabels([param_label(p) for p in rmap.parameters], fontsize=7)
        ax.set_xticks(np.arange(0, 361, 90))
        ax.set_xlabel("orientation (deg, 0 = bulging up, CCW)", fontsize=7)
        ax.set_ylabel(rmap.parameter_name, fontsize=8)
        value, theta, param = rmap.peak
        kind = "pre-ReLU" if rmap.pre_relu else "post-ReLU"
        ax.set_title(f"{rmap.unit} ({kind})\npeak {value:.3g} at {theta:.0f} deg, {param_label(param)}",
                     fontsize=8)
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label("sigma (dataset)" if use_sigma and rmap.sigma is not None else "activation", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return plot_to_image(fig)


def param_label(value: float) -> str:
    """A radius or opening for an axis label: 'inf', '9.2', '16'."""
    return "inf" if not np.isfinite(value) else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def radial_tuning_figure(tunings: Sequence[RadialTuning], scale: float = 1.0, normalise: bool = True,
                         title: str | None = None) -> Image.Image:
    """A family's radial tuning curves on one circle, each coloured by its preferred orientation.

    The polar angle is the stimulus orientation (0 up, counter-clockwise), so each bump points
    the way its preferred curve bulges. ``normalise`` scales each curve to its own peak.
    """
    fig, ax = new_plot(5.2, 5.2, scale, polar=True)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(1)
    for tuning in tunings:
        peak = tuning.peak if tuning.peak > 0 else 1.0
        profile = tuning.profile / peak if normalise else tuning.profile
        theta = np.deg2rad(np.append(tuning.angles, tuning.angles[0]))
        colour = hue_colour(tuning.preferred)
        ax.plot(theta, np.append(profile, profile[0]), color=colour, linewidth=1.6)
        ax.fill(theta, np.append(profile, profile[0]), color=colour, alpha=0.08)
        if not np.isnan(tuning.preferred):
            radius = 1.08 * (1.0 if normalise else tuning.peak)
            ax.text(np.deg2rad(tuning.preferred), radius, tuning.unit.split(":")[-1], color=colour,
                    fontsize=7, ha="center", va="center")
    ax.set_yticklabels([])
    ax.tick_params(labelsize=7)
    layers = sorted({t.unit.split(":")[0] for t in tunings})
    default = f"radial tuning of {len(tunings)} units, {', '.join(layers)}"
    default += " (each curve / its peak)" if normalise else ""
    ax.set_title(title or default, fontsize=9, pad=14)
    return plot_to_image(fig)


def joint_tuning_figure(joint: JointTuning, scale: float = 1.0, normalise: bool = True,
                        title: str | None = None) -> Image.Image:
    """Each family member's response over stimulus orientation (rotated images), hue by its peak."""
    fig, ax = new_plot(7.0, 3.2, scale)
    for unit, curve in zip(joint.units, joint.curves):
        peak = float(curve.max())
        values = curve / peak if normalise and peak > 0 else curve
        where = float(joint.angles[int(np.argmax(curve))]) if peak > 0 else float("nan")
        ax.plot(joint.angles, values, color=hue_colour(where), linewidth=1.4, label=unit)
    ax.set_xlim(0, 360)
    ax.set_xticks(np.arange(0, 361, 45))
    ax.set_xlabel("orientation (deg, 0 = bulging up, CCW)", fontsize=8)
    ax.set_ylabel("response / peak" if normalise else "activation", fontsize=8)
    ax.tick_params(labelsize=7)
    if len(joint.units) <= 24:
        ax.legend(fontsize=6, ncol=1 if len(joint.units) <= 12 else 2, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or f"joint tuning ({joint.source} rotated 0-360, aligned, averaged)", fontsize=9)
    fig.tight_layout()
    return plot_to_image(fig)


def summary_figure(maps: Sequence[ResponseMap], scale: float = 1.0) -> Image.Image:
    """The response maps beside the units' radial tuning curves on one circle."""
    left = response_map_figure(maps, scale)
    right = radial_tuning_figure([radial_from_map(m) for m in maps], scale)
    return side_by_side([left, right], height=max(left.height, right.height), scale=1.0)
