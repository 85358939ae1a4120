"""Figures of an equivariance analysis: response matrix, permutation, score, weight symmetry, and
the joint hue x rotation chart."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.equivariance.analysis import EquivarianceResult
from circuitloupe.core.equivariance.hue_rotation import HueRotationResult
from circuitloupe.core.equivariance.symmetry import WeightSymmetry

# --------------------------------------------------------------------------- figures

def _short(unit: str) -> str:
    return unit if len(unit) <= 14 else unit.split(":")[-1]


def _step_label(kind: str, value: float) -> str:
    if kind == "flip":
        return "mirror" if value else "orig"
    if kind == "scale":
        return f"×{value:.2g}"
    return f"{value:g}°"


def response_matrix_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Units x steps heat map of each unit's normalised response to the probe stimulus."""
    matrix = result.response_matrix()
    fig, ax = figures.new_plot(max(3.0, 0.45 * len(result.values) + 2), max(2.2, 0.3 * len(result.units) + 1.2), scale)
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(result.values)), [_step_label(result.kind, v) for v in result.values], fontsize=7)
    ax.set_yticks(range(len(result.units)), [_short(u) for u in result.units], fontsize=7)
    ax.set_xlabel(f"{result.kind} step")
    title = "responses to the probe stimulus"
    if result.scale_fits is not None:  # the unit that fits each zoom
        ax.scatter(range(len(result.values)), result.scale_fits, marker="*", s=70 * scale, color="gold",
                   edgecolors="black", linewidths=0.6)
        title += " (★ fits the zoom)"
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05)
    return figures.plot_to_image(fig)


def permutation_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Match error of every (unit, image-unit) pair, the inferred mapping circled, holes crossed."""
    n = len(result.units)
    errors = np.sqrt(result.cost / np.maximum(result.cost.max(), 1e-12))
    fig, ax = figures.new_plot(max(2.6, 0.35 * n + 1.6), max(2.4, 0.35 * n + 1.2), scale)
    ax.imshow(errors, cmap="viridis_r", vmin=0, vmax=1)
    for i, j in enumerate(result.assignment):
        hole = result.mapping[i] is None
        ax.scatter([j], [i], s=60 * scale, facecolors="none", edgecolors="red" if hole else "white", linewidths=1.5)
        if hole:
            ax.scatter([j], [i], s=40 * scale, marker="x", color="red")
    labels = [_short(u) for u in result.units]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("maps to (unit responding to g·x)")
    ax.set_ylabel("unit (on x)")
    ax.set_title("inferred permutation" + (f" (shift {result.shift:+d})" if result.shift else ""), fontsize=9)
    return figures.plot_to_image(fig)


def _score_bars(result: EquivarianceResult | HueRotationResult, first: str, ylabel: str, title: str,
                scale: float) -> Image.Image:
    """Bars: a result's score beside its identity and random baselines (± one standard deviation)."""
    fig, ax = figures.new_plot(3.2, 2.6, scale)
    values = [result.score, result.baseline_identity, result.baseline_random]
    ax.bar([first, "identity", "random"], values, color=["#ca0020", "#999999", "#0571b0"],
           yerr=[0, 0, result.baseline_random_std], capsize=4)
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=7)
    ax.set_title(title, fontsize=9)
    return figures.plot_to_image(fig)


def score_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Bars: relative error after the best permutation versus identity and random permutations."""
    title = f"{result.kind} by {_step_label(result.kind, result.step)}"
    if result.wraps_at:
        title += f", wraps at {result.wraps_at}°"
    return _score_bars(result, "best π", "relative error ||f(gx) − P f(x)|| / ||f(gx)||", title, scale)


def hue_rotation_figure(result: HueRotationResult, scale: float = 1.0, tile: int = 56) -> Image.Image:
    """The joint analysis: each unit's response to the probe over hue (rows) x rotation (columns),
    the family on the orientation x hue torus, and the half-turn score."""
    charts = result.chart()
    limit = float(np.abs(charts).max()) or 1.0
    tiles = [figures.diverging_rgb(chart[::-1], limit) for chart in charts]  # hue 0 at the bottom
    grid = figures.tile_grid(tiles, [_short(u) for u in result.units], columns=min(4, len(tiles)), tile_size=tile,
                             scale=scale, pad=4, title="x: rotation 0-360°, y: hue 0-360° (up)")
    verdict = "yes" if result.matches else "no"
    title = f"hue+180° ≡ rotation+180°: {verdict}" + ("" if result.same_permutation else " (permutations differ)")
    bars = _score_bars(result, "hue vs rot", "||f(rot180 x) − f(hue180 x)|| / ||f(rot180 x)||", title, scale)
    parts = [grid, _torus_figure(result, scale), bars]
    return figures.side_by_side(parts, height=int(max(p.height for p in parts) / scale), scale=scale)


def _torus_figure(result: HueRotationResult, scale: float) -> Image.Image:
    """The article's chart: each unit at the (rotation, hue turn) of the probe that excites it most,
    filled, and at the same point of the torus turned by 180° in both, hollow, in that hue."""
    import colorsys

    fig, ax = figures.new_plot(3.4, 3.0, scale)
    for unit, (orientation, hue) in zip(result.units, result.preferred):
        colour = colorsys.hsv_to_rgb(hue / 360.0, 0.8, 0.85)
        twin_colour = colorsys.hsv_to_rgb(((hue + 180.0) % 360.0) / 360.0, 0.8, 0.85)
        ax.scatter([orientation], [hue], s=50 * scale, color=colour, edgecolors="black", linewidths=0.5)
        ax.scatter([(orientation + 180.0) % 360.0], [hue + 180.0], s=50 * scale, facecolors="none",
                   edgecolors=twin_colour, linewidths=1.5)
        ax.annotate(_short(unit), (orientation, hue), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axhline(180.0, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xlim(-10, 360)
    ax.set_ylim(-10, 360)
    ax.set_xticks(range(0, 361, 90))
    ax.set_yticks(range(0, 361, 90))
    ax.set_xlabel("rotation of the probe (°)", fontsize=8)
    ax.set_ylabel("hue turn of the probe (°)", fontsize=8)
    ax.set_title("orientation × hue; hollow: same unit at (+180°, +180°)", fontsize=8)
    return figures.plot_to_image(fig)


def summary_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """The response matrix, the permutation and the score side by side (the CLI's ``--out``)."""
    parts = [response_matrix_figure(result, scale), permutation_figure(result, scale), score_figure(result, scale)]
    return figures.side_by_side(parts, height=int(max(p.height for p in parts) / scale), scale=scale)


def weight_symmetry_figure(symmetry: WeightSymmetry, scale: float = 1.0, tile: int = 48) -> Image.Image:
    """Three grids (dst rows x src columns): actual W[π(j), π(i)], predicted g·W[j, i], and the
    relative error of each pair (the title gives the overall error and, as "raw", the error
    without transforming the kernels)."""
    d, s = symmetry.errors.shape
    limit = float(max(np.abs(symmetry.actual).max(), np.abs(symmetry.predicted).max())) or 1.0
    grids = []
    for title, kernels in (("actual W[p(j), p(i)]", symmetry.actual), ("predicted g(W[j, i])", symmetry.predicted)):
        tiles = [figures.diverging_rgb(kernels[j, i], limit) for j in range(d) for i in range(s)]
        grids.append(figures.tile_grid(tiles, columns=s, tile_size=tile, scale=scale, pad=2, title=title))
    error_tiles = [np.full((2, 2, 3), 0.85) if math.isnan(e)
                   else figures.sequential_rgb(np.full((2, 2), min(e, 1.0)), 0, 1, cmap="Reds")
                   for e in symmetry.errors.ravel()]
    labels = ["hole" if math.isnan(e) else f"{e:.2f}" for e in symmetry.errors.ravel()]
    grids.append(figures.tile_grid(error_tiles, labels, columns=s, tile_size=tile, scale=scale, pad=2,
                                   title=f"error {symmetry.overall:.3f} (raw {symmetry.baseline:.2f})"))
    return figures.side_by_side(grids, height=int(max(g.height for g in grids) / scale), scale=scale)
