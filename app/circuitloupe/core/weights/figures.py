"""Expanded-weight and circuit figures, with feature-visualisation thumbnails when the
featurevis cache has them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from circuitloupe.core import figures
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

# ---------------------------------------------------------------------------------------------
# Thumbnails (feature visualisations, when the featurevis cache has them)

def cached_thumbnails(model: LoadedModel, units: Sequence[UnitRef]) -> dict[UnitRef, np.ndarray]:
    """Feature-visualisation thumbnails already cached for ``units`` ([H, W, 3] in [0, 1]).

    Units without a cached thumbnail (or without the feature visualisation module) are left out.
    """
    cache = _featurevis_cache()
    if cache is None:
        return {}
    found = {}
    for unit in units:
        image = cache.thumbnail(model, unit)
        if image is not None:
            found[unit] = np.asarray(image, dtype=np.float32)
    return found


def render_missing_thumbnails(model: LoadedModel, units: Sequence[UnitRef], size: int = 64, steps: int = 64,
                              progress: ProgressFn | None = None,
                              should_stop: StopFn | None = None) -> dict[UnitRef, np.ndarray]:
    """Thumbnails of ``units``: cached ones as they are, the rest rendered (``size`` px, ``steps``
    optimisation steps) and cached. Empty when feature visualisation is not available."""
    cache = _featurevis_cache()
    if cache is None:
        return {}
    found = cache.render_thumbnails(model, units, size=size, steps=steps, progress=progress,
                                    should_stop=should_stop)
    return {unit: np.asarray(image, dtype=np.float32) for unit, image in found.items()}


def featurevis_available() -> bool:
    """True when the feature visualisation module (and its thumbnail cache) can be imported."""
    return _featurevis_cache() is not None


def _featurevis_cache():
    try:
        return importlib.import_module("circuitloupe.core.featurevis.cache")
    except ImportError:
        return None


def pending_tile(size: int = 64, text: str = "") -> np.ndarray:
    """A light grey tile (with optional centred text) for a unit without a thumbnail: [size, size, 3]."""
    image = Image.new("RGB", (size, size), (228, 228, 228))
    if text:
        draw = ImageDraw.Draw(image)
        points = max(8, size // 6)
        face = figures.font(points)
        box = draw.textbbox((0, 0), text, font=face)
        while box[2] > size - 6 and points > 8:
            points -= 1
            face = figures.font(points)
            box = draw.textbbox((0, 0), text, font=face)
        draw.text(((size - box[2]) / 2, (size - box[3]) / 2), text, fill=(120, 120, 120), font=face)
    return np.asarray(image, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Figures

def weight_rgb(values: np.ndarray, limit: float, magnitude: bool = False) -> np.ndarray:
    """Weights [..., kh, kw] -> RGB: red/white/blue about zero, or |w| from white to black."""
    if magnitude:
        t = np.clip(np.abs(values) / (limit if limit > 0 else 1.0), 0, 1)[..., None]
        return np.repeat(1.0 - t, 3, axis=-1).astype(np.float32)
    return figures.diverging_rgb(values, limit)


def _thumb(thumbnails: dict | None, unit: UnitRef, size: int) -> Image.Image:
    image = (thumbnails or {}).get(unit)
    array = pending_tile(size, str(unit.channel)) if image is None else image
    return figures.upscale(figures.to_pil(array).convert("RGB"), (size, size))


@dataclass(frozen=True)
class FigureGrid:
    """Where the cells of a weight figure lie, in figure pixels, so a view can hit-test them.

    Item ``n`` sits in row ``n // columns`` and column ``n % columns``; its heatmap's top-left
    corner is ``origin + (column * step_x + kernel_dx, row * step_y)`` and it is ``size`` pixels
    square; the thumbnail (expanded figure) lies ``size + gap`` to the heatmap's left.
    """

    origin_x: int
    origin_y: int
    step_x: int
    step_y: int
    size: int
    columns: int
    count: int
    kernel_dx: int = 0

    def cell_at(self, x: float, y: float, kh: int, kw: int) -> tuple[int, int, int] | None:
        """(item, kernel row, kernel column) of the heatmap pixel under (x, y), or None."""
        column, dx = divmod(x - self.origin_x - self.kernel_dx, self.step_x)
        row, dy = divmod(y - self.origin_y, self.step_y)
        item = int(row) * self.columns + int(column)
        if not (0 <= column < self.columns and row >= 0 and item < self.count):
            return None
        if not (0 <= dx < self.size and 0 <= dy < self.size):
            return None
        return item, int(dy * kh // self.size), int(dx * kw // self.size)

    def thumbnail_at(self, x: float, y: float) -> int | None:
        """The item whose thumbnail is under (x, y) (expanded figure), or None."""
        column, dx = divmod(x - self.origin_x, self.step_x)
        row, dy = divmod(y - self.origin_y, self.step_y)
        item = int(row) * self.columns + int(column)
        if 0 <= column < self.columns and row >= 0 and item < self.count and dx < self.size and dy < self.size:
            return item
        return None


def expanded_grid(count: int, scale: float = 1.0, cell: int = 96, columns: int = 4) -> FigureGrid:
    """The layout of :func:`expanded_figure` for ``count`` input units."""
    size, gap = int(round(cell * scale)), max(2, int(round(6 * scale)))
    text_h, title_h = int(round(16 * scale)), int(round(24 * scale))
    columns = max(1, min(columns, count)) if count else 1
    return FigureGrid(gap, title_h, 2 * size + 4 * gap, size + text_h + 2 * gap, size, columns, count,
                      kernel_dx=size + gap)


def expanded_figure(ranked: Sequence[tuple[UnitRef, float, np.ndarray]], target: UnitRef | str,
                    thumbnails: dict[UnitRef, np.ndarray] | None = None, scale: float = 1.0,
                    cell: int = 96, columns: int = 4) -> Image.Image:
    """Top input units of ``target``: each unit's thumbnail beside its kernel heatmap.

    ``ranked`` holds (input unit, L2 norm, kernel [kh, kw]); all kernels share one colour scale
    (red excitatory, blue inhibitory). Layout: :func:`expanded_grid`.
    """
    grid = expanded_grid(len(ranked), scale, cell, columns)
    size, gap = grid.size, max(2, int(round(6 * scale)))
    text_h = int(round(16 * scale))
    limit = max((float(np.abs(k).max()) for _, _, k in ranked), default=1.0) or 1.0
    rows = max(1, -(-len(ranked) // grid.columns))
    width = grid.origin_x + grid.columns * grid.step_x
    height = grid.origin_y + rows * grid.step_y + text_h + gap
    canvas = Image.new("RGB", (max(width, int(round(420 * scale))), height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((gap, gap // 2), f"Expanded weights into {target} (shared scale ±{limit:.3g})", fill="black",
              font=figures.font(max(9, int(round(14 * scale)))))
    face = figures.font(max(8, int(round(11 * scale))))
    for i, (unit, norm, kernel) in enumerate(ranked):
        r, c = divmod(i, grid.columns)
        x, y = grid.origin_x + c * grid.step_x, grid.origin_y + r * grid.step_y
        canvas.paste(_thumb(thumbnails, unit, size), (x, y))
        canvas.paste(figures.upscale(figures.to_pil(weight_rgb(kernel, limit)), (size, size)), (x + grid.kernel_dx, y))
        draw.text((x, y + size + 2), f"{unit}  |w|={norm:.3g}", fill="black", font=face)
    colour_key(canvas, draw, gap, height - text_h - gap // 2, limit, scale, magnitude=False)
    return canvas


def circuit_grid(n_dst: int, n_src: int, scale: float = 1.0, cell: int = 72) -> FigureGrid:
    """The layout of :func:`circuit_figure`: item ``i * n_src + j`` is row ``i``, column ``j``."""
    size, gap = int(round(cell * scale)), max(2, int(round(4 * scale)))
    head = size + int(round(14 * scale)) + gap
    return FigureGrid(head, head, size + gap, size + gap, size, max(1, n_src), n_dst * n_src)


def circuit_figure(weights: np.ndarray, src_units: Sequence[UnitRef], dst_units: Sequence[UnitRef],
                   magnitude: bool = False, thumbnails: dict[UnitRef, np.ndarray] | None = None,
                   scale: float = 1.0, cell: int = 72) -> Image.Image:
    """A circuit grid: rows = later units, columns = earlier units, one shared colour scale.

    ``weights`` is [len(dst), len(src), kh, kw] (from :func:`circuit_weights`); cells are red
    (excitatory) / blue (inhibitory) about white, or |w| from white to black when ``magnitude``.
    Thumbnails of both families (where given, else stand-ins) run along the top and left
    edges. Layout: :func:`circuit_grid`.
    """
    weights = np.asarray(weights, dtype=np.float32)
    n_dst, n_src = weights.shape[:2]
    grid = circuit_grid(n_dst, n_src, scale, cell)
    size, label_h = grid.size, int(round(14 * scale))
    gap = grid.step_x - size
    limit = float(np.abs(weights).max()) or 1.0
    width = max(grid.origin_x + n_src * grid.step_x + gap, int(round(260 * scale)))
    height = grid.origin_y + n_dst * grid.step_y + label_h + 2 * gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    face = figures.font(max(8, int(round(10 * scale))))
    for j, unit in enumerate(src_units):
        x = grid.origin_x + j * grid.step_x
        canvas.paste(_thumb(thumbnails, unit, size), (x, 0))
        draw.text((x, size + 1), str(unit), fill="black", font=face)
    for i, unit in enumerate(dst_units):
        y = grid.origin_y + i * grid.step_y
        canvas.paste(_thumb(thumbnails, unit, size), (0, y))
        box = draw.textbbox((0, y + size + 1 - label_h), str(unit), font=face)
        draw.rectangle(box, fill="white")
        draw.text((0, y + size + 1 - label_h), str(unit), fill="black", font=face)
        for j in range(n_src):
            heat = figures.to_pil(weight_rgb(weights[i, j], limit, magnitude))
            canvas.paste(figures.upscale(heat, (size, size)), (grid.origin_x + j * grid.step_x, y))
    colour_key(canvas, draw, gap, height - label_h - gap, limit, scale, magnitude)
    return canvas


def colour_key(canvas: Image.Image, draw: ImageDraw.ImageDraw, x: int, y: int, limit: float, scale: float,
                magnitude: bool) -> None:
    """A small colour bar with its end values at (x, y)."""
    bar_w, bar_h = int(round(120 * scale)), max(4, int(round(10 * scale)))
    ramp = np.linspace(0 if magnitude else -limit, limit, bar_w)[None, :].repeat(bar_h, 0)
    canvas.paste(figures.to_pil(weight_rgb(ramp, limit, magnitude)), (x, y))
    low = "0" if magnitude else f"{-limit:.3g}"
    draw.text((x + bar_w + 4, y - 2), f"{low} .. {limit:.3g}" + ("  |w|" if magnitude else ""), fill="black",
              font=figures.font(max(8, int(round(10 * scale)))))
