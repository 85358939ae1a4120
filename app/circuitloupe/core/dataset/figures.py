"""Dataset figures as PIL images, shared by ``circuitloupe scan --out`` and the dataset pane's export.

Every function takes ``scale`` (1.0 = 100 dpi plots, 96 px example tiles).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from circuitloupe.core import figures
from circuitloupe.core.dataset.report import Example, UnitReport
from circuitloupe.core.dataset.stats import ExponentialFit, expected_value_density, histogram

VIEWS = ("histogram", "log-histogram", "expected", "top", "bottom", "examples", "quilt", "summary")
FIRING_COLOUR = "#ca0020"
NEGATIVE_COLOUR = "#0571b0"


def histogram_figure(values: np.ndarray, fit: ExponentialFit | None = None, log_y: bool = False,
                     title: str = "", bins: int = 100, scale: float = 1.0) -> Image.Image:
    """Probability density of pre-ReLU ``values`` (blue below zero, red above), the exponential
    fit of the positive tail, and the firing fraction; ``log_y`` makes the tail a straight line."""
    values = np.asarray(values, dtype=np.float64).ravel()
    fig, ax = figures.new_plot(6.0, 3.4, scale)
    edges, density = histogram(values, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0] if len(edges) > 1 else 1.0
    colours = [FIRING_COLOUR if c > 0 else NEGATIVE_COLOUR for c in centres]
    ax.bar(centres, density, width=width, color=colours, alpha=0.75, linewidth=0)
    if fit is not None:
        x = np.linspace(max(fit.threshold, edges[0]), edges[-1], 200)
        ax.plot(x, fit.density(x), color="black", linewidth=1.2,
                label=f"exp fit: rate {fit.rate:.3g} (1/rate {fit.scale:.3g})")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
    if log_y:
        ax.set_yscale("log")
        positive = density[density > 0]
        if positive.size:
            ax.set_ylim(positive.min() / 2, positive.max() * 2)
    firing = float((values > 0).mean()) if values.size else 0.0
    mean = float(values.mean()) if values.size else 0.0
    ax.set_title(f"{title}  firing {firing:.1%}, mean {mean:.3g}".strip(), fontsize=10)
    ax.set_xlabel("pre-ReLU activation")
    ax.set_ylabel("probability density" + (" (log)" if log_y else ""))
    return figures.plot_to_image(fig)


def expected_value_figure(values: np.ndarray, title: str = "", bins: int = 100, scale: float = 1.0) -> Image.Image:
    """``x * p(x)`` over positive activations: where the unit's expected output comes from."""
    centres, xpx = expected_value_density(values, bins)
    fig, ax = figures.new_plot(6.0, 3.0, scale)
    keep = centres > 0
    width = centres[1] - centres[0] if len(centres) > 1 else 1.0
    ax.bar(centres[keep], xpx[keep], width=width, color=FIRING_COLOUR, alpha=0.8, linewidth=0)
    ax.set_title(f"{title}  contribution to expected value x·p(x)".strip(), fontsize=10)
    ax.set_xlabel("activation x")
    ax.set_ylabel("x · p(x)")
    return figures.plot_to_image(fig)


def examples_figure(examples: Sequence[Example], title: str = "", columns: int | None = None,
                    scale: float = 1.0) -> Image.Image:
    """Receptive-field crops in a grid, each labelled with its value."""
    shown = [e for e in examples if e.crop is not None]
    if not shown:
        return _note("no examples", scale)
    return figures.tile_grid([e.crop for e in shown], [f"{e.value:.4g}" for e in shown],
                             columns=columns or min(len(shown), 9), tile_size=96, scale=scale, title=title or None)


def quilt_figure(rows: Sequence[tuple[float, float, Sequence[Example]]], title: str = "",
                 scale: float = 1.0) -> Image.Image:
    """Examples arranged by activation range: one row per range (highest first), labelled on the
    left; examples with an attribution show it beside the crop (red pushes the unit up, blue down)."""
    tile, gap = int(round(64 * scale)), max(1, int(round(3 * scale)))
    label_w, title_h = int(round(110 * scale)), int(round(22 * scale)) if title else 0
    rows = [(lo, hi, [tile_image for e in examples for tile_image in _tiles(e)]) for lo, hi, examples in rows]
    columns = max([len(r[2]) for r in rows] + [1])
    canvas = Image.new("RGB", (label_w + columns * (tile + gap) + gap, title_h + len(rows) * (tile + gap) + gap), "white")
    draw = ImageDraw.Draw(canvas)
    text = figures.font(max(8, int(round(11 * scale))))
    if title:
        draw.text((gap, gap), title, fill="black", font=figures.font(max(9, int(round(13 * scale)))))
    for r, (lo, hi, examples) in enumerate(rows):
        y = title_h + gap + r * (tile + gap)
        draw.text((gap, y + tile // 2 - 6), f"{lo:.3g} .. {hi:.3g}", fill="black", font=text)
        for c, array in enumerate(examples):
            image = figures.upscale(figures.to_pil(array).convert("RGB"), (tile, tile), smooth=True)
            canvas.paste(image, (label_w + c * (tile + gap), y))
    return canvas


def _tiles(example: Example) -> list[np.ndarray]:
    """The example's crop, and its attribution as red/white/blue where it has one."""
    if example.crop is None:
        return []
    if example.attribution is None:
        return [example.crop]
    limit = float(np.abs(example.attribution).max()) or 1.0
    return [example.crop, figures.diverging_rgb(example.attribution, limit)]


def report_figure(report: UnitReport, view: str = "summary", scale: float = 1.0) -> Image.Image:
    """One of :data:`VIEWS` for a unit report; ``examples`` stacks top and bottom examples and
    ``summary`` puts the log histogram and x·p(x) above them."""
    title = str(report.unit)
    if view == "histogram":
        return histogram_figure(report.values, report.fit, False, title, scale=scale)
    if view == "log-histogram":
        return histogram_figure(report.values, report.fit, True, title, scale=scale)
    if view == "expected":
        return expected_value_figure(report.values, title, scale=scale)
    if view == "top":
        return examples_figure(report.top, f"{title} top {len(report.top)}", scale=scale)
    if view == "bottom":
        return examples_figure(report.bottom, f"{title} bottom {len(report.bottom)}", scale=scale)
    if view == "examples":
        return figures.stack([report_figure(report, "top", scale), report_figure(report, "bottom", scale)])
    if view == "quilt":
        return quilt_figure(report.quilt, f"{title} by activation range", scale=scale)
    if view == "summary":
        plots = figures.side_by_side([histogram_figure(report.values, report.fit, True, title, scale=scale),
                                      expected_value_figure(report.values, title, scale=scale)],
                                     height=300, scale=scale)
        return figures.stack([plots, report_figure(report, "examples", scale)])
    raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")



def _note(text: str, scale: float) -> Image.Image:
    canvas = Image.new("RGB", (int(240 * scale), int(40 * scale)), "white")
    ImageDraw.Draw(canvas).text((8, 8), text, fill="black", font=figures.font(max(9, int(12 * scale))))
    return canvas
