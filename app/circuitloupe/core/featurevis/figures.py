"""Feature visualisation figures (PNG), shared by ``circuitloupe featvis`` and the pane's export."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.featurevis.cache import UnitVis


def single_image(image: np.ndarray, scale: float = 1.0) -> Image.Image:
    """One visualisation [H, W, 3] in [0, 1] as a PNG-ready image, ``scale`` times its pixels."""
    pil = figures.to_pil(image)
    if scale != 1.0:
        pil = figures.upscale(pil, (max(1, round(pil.width * scale)), max(1, round(pil.height * scale))))
    return pil


def unit_grid(results: Sequence[UnitVis], scale: float = 1.0, tile_size: int | None = None,
              title: str | None = None, names: Sequence[str] | None = None) -> Image.Image:
    """Every unit's images in a labelled grid: one row per unit when there are several images per
    unit, otherwise a near-square grid. ``tile_size`` defaults to the image size (at least 96);
    ``names`` label the rows instead of the units (e.g. for directions)."""
    tiles, labels = [], []
    per_unit = max(len(r.images) for r in results)
    names = names or [str(r.unit) for r in results]
    for r, name in zip(results, names):
        for k, image in enumerate(r.images):
            tiles.append(image)
            labels.append(name if per_unit == 1 else f"{name} #{k + 1}")
    size = tile_size or max(96, max(int(r.images.shape[1]) for r in results))
    columns = per_unit if per_unit > 1 else None
    return figures.tile_grid(tiles, labels, columns=columns, tile_size=size, scale=scale, title=title)
