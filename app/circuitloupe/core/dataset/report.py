"""One unit over a scanned dataset: statistics, examples as receptive-field crops, and lookups.

:func:`unit_report` gathers what the dataset views show (distribution, exponential tail fit,
top/bottom examples, the activation quilt) with the crops loaded, in one call that a job, the
CLI or a notebook can make. :func:`unit_distribution` and :func:`top_examples` answer from
the most recent cache for a model and layer, for other parts of the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from circuitloupe.core.activations import forward_until
from circuitloupe.core.dataset.cache import DatasetCache, find_cache
from circuitloupe.core.dataset.folder import prepare_pixels
from circuitloupe.core.dataset.receptive import ReceptiveField, crop, receptive_field
from circuitloupe.core.dataset.scan import resolve_target
from circuitloupe.core.dataset.stats import (ExponentialFit, Position, describe, exponential_tail_fit,
                                             extreme_positions, quilt_positions)
from circuitloupe.core.errors import ImageError
from circuitloupe.core.images import load_image
from circuitloupe.core.jobs import StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


@dataclass
class Example:
    """A dataset example: where it is, its value, and its receptive-field crop [h, w, C] in [0, 1]."""

    relpath: str
    y: int
    x: int
    value: float
    crop: np.ndarray | None = field(default=None, repr=False)
    attribution: np.ndarray | None = field(default=None, repr=False)  # [h, w] gradient x input over the crop

    def to_json(self) -> dict[str, Any]:
        return {"file": self.relpath, "y": self.y, "x": self.x, "value": self.value}


@dataclass
class UnitReport:
    """What the dataset views show for one unit. ``values`` are pre-ReLU values at every position."""

    unit: UnitRef
    dataset: str
    images: int
    values: np.ndarray = field(repr=False)
    stats: dict[str, float]
    fit: ExponentialFit | None
    top: list[Example]
    bottom: list[Example]
    quilt: list[tuple[float, float, list[Example]]]
    receptive: ReceptiveField
    bad: list[tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        """Statistics, fit, examples and skipped files as plain JSON-able data."""
        return {
            "unit": str(self.unit), "dataset": self.dataset, "images": self.images,
            "positions_per_image": self.receptive.grid[0] * self.receptive.grid[1],
            "receptive_field_px": list(self.receptive.size),
            "statistics": self.stats,
            "exponential_fit": None if self.fit is None else {
                "rate": self.fit.rate, "scale": self.fit.scale, "fraction": self.fit.fraction,
                "threshold": self.fit.threshold, "count": self.fit.count},
            "top": [e.to_json() for e in self.top],
            "bottom": [e.to_json() for e in self.bottom],
            "quilt": [{"low": lo, "high": hi, "examples": [e.to_json() for e in row]} for lo, hi, row in self.quilt],
            "skipped": [{"file": f, "error": e} for f, e in self.bad],
        }


def unit_report(model: LoadedModel, cache: DatasetCache, channel: int, k: int = 9, quilt_ranges: int = 8,
                quilt_per_range: int = 6, seed: int = 0, should_stop: StopFn | None = None) -> UnitReport:
    """The dataset views of ``channel`` of the cache's layer, with crops loaded from disk."""
    maps = cache.values(channel, "pre")
    records = cache.images()
    receptive = receptive_field(model, cache.key.layer, cache.input_size)
    loader = CropLoader.for_cache(cache, receptive)

    def examples(positions: list[Position]) -> list[Example]:
        out = []
        for p in positions:
            check_stop(should_stop)
            out.append(Example(records[p.image].relpath, p.y, p.x, p.value, loader(records[p.image].relpath, p.y, p.x)))
        return out

    quilt = [(lo, hi, examples(row)) for lo, hi, row in quilt_positions(maps, quilt_ranges, quilt_per_range, seed)]
    return UnitReport(
        unit=UnitRef(cache.key.layer, channel), dataset=cache.key.dataset, images=len(records),
        values=maps.ravel(), stats=describe(maps), fit=exponential_tail_fit(maps),
        top=examples(extreme_positions(maps, k)), bottom=examples(extreme_positions(maps, k, bottom=True)),
        quilt=quilt, receptive=receptive, bad=cache.bad())


def position_attribution(model: LoadedModel, unit: UnitRef, receptive: ReceptiveField, pixels: np.ndarray,
                         y: int, x: int) -> np.ndarray:
    """Gradient x input of ``unit``'s pre-ReLU value at position (y, x) of ``pixels`` ([H, W, C] in
    [0, 1] at the receptive field's input size), summed over colour channels and cut to the
    receptive field: [h, w] (positive = pushes the unit up)."""
    layer = model.catalogue.pre_relu_of(unit.layer) or unit.layer
    image = torch.as_tensor(np.asarray(pixels, np.float32)).permute(2, 0, 1)[None].to(model.device)
    image.requires_grad_(True)
    out = forward_until(model, image, [layer], detach=False)[layer]
    out = out if out.dim() == 4 else out[:, :, None, None]
    out[0, unit.channel, y, x].backward()
    heat = (image.grad * image).detach()[0].sum(0).cpu().numpy()
    return crop(heat[..., None], receptive, y, x, fill=(0.0,))[..., 0]


def add_attributions(model: LoadedModel, report: UnitReport, cache: DatasetCache,
                     should_stop: StopFn | None = None) -> None:
    """Give every example of ``report`` (top, bottom, quilt) its :func:`position_attribution`."""
    loader = CropLoader.for_cache(cache, report.receptive)
    examples = [*report.top, *report.bottom, *(e for _, _, row in report.quilt for e in row)]
    for example in examples:
        check_stop(should_stop)
        if example.crop is not None:
            example.attribution = position_attribution(model, report.unit, report.receptive,
                                                       loader.prepared(example.relpath), example.y, example.x)


class CropLoader:
    """Receptive-field crops of a dataset's images, decoded the way its scan decoded them.

    ``root`` is the dataset folder, ``input_size``/``resize`` the scan's settings, ``pad_colour``
    the fill for parts of a field outside the image. The last few prepared images are kept,
    so several crops of one image decode it once.
    """

    def __init__(self, root: str | Path, input_size: tuple[int, int], resize: str, pad_colour: tuple[float, ...],
                 receptive: ReceptiveField, keep: int = 8) -> None:
        self.root, self.input_size, self.resize = Path(root), tuple(input_size), resize
        self.pad_colour, self.receptive, self.keep = tuple(pad_colour), receptive, keep
        self._prepared: dict[str, np.ndarray] = {}

    @classmethod
    def for_cache(cls, cache: DatasetCache, receptive: ReceptiveField) -> CropLoader:
        return cls(cache.root, cache.input_size, cache.resize, cache.pad_colour, receptive)

    def prepared(self, relpath: str) -> np.ndarray:
        """The image as the model saw it: [h, w, C] in [0, 1] at the scan's input size."""
        if relpath not in self._prepared:
            if len(self._prepared) >= self.keep:
                self._prepared.pop(next(iter(self._prepared)))
            pixels = load_image(self.root / relpath, len(self.pad_colour))
            self._prepared[relpath] = prepare_pixels(pixels, self.input_size, self.resize)
        return self._prepared[relpath]

    def __call__(self, relpath: str, y: int, x: int) -> np.ndarray | None:
        """The crop for position (y, x) of ``relpath``, or None when the file is gone or unreadable."""
        try:
            return crop(self.prepared(relpath), self.receptive, y, x, self.pad_colour)
        except ImageError:
            return None


def _latest(model: LoadedModel, unit: UnitRef | str) -> tuple[DatasetCache, int] | None:
    target = resolve_target(model, unit)
    if target.unit is None:
        return None
    cache = find_cache(model.spec, model.weights_id, target.layer, channels=(target.unit.channel,))
    return None if cache is None else (cache, target.unit.channel)


def unit_distribution(model: LoadedModel, unit: UnitRef | str) -> np.ndarray | None:
    """Pre-ReLU values of ``unit`` at every position of every image, float32 [N * H * W], from
    the most recent cache for this model, weights and layer (any dataset), or None."""
    found = _latest(model, unit)
    if found is None:
        return None
    cache, channel = found
    try:
        return cache.values(channel, "pre").ravel()
    finally:
        cache.close()


def top_examples(model: LoadedModel, unit: UnitRef | str, k: int = 9) -> list[tuple[np.ndarray, float]] | None:
    """The ``k`` images where ``unit`` fires most (one position each, best first) as
    receptive-field crops [h, w, 3] in [0, 1] with their pre-ReLU values, from the most recent
    cache for this model, weights and layer, or None when there is none."""
    found = _latest(model, unit)
    if found is None:
        return None
    cache, channel = found
    try:
        records = cache.images()
        loader = CropLoader.for_cache(cache, receptive_field(model, cache.key.layer, cache.input_size))
        out = []
        for p in extreme_positions(cache.values(channel, "pre"), k):
            image = loader(records[p.image].relpath, p.y, p.x)
            if image is not None:
                out.append((np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image, p.value))
        return out
    finally:
        cache.close()
