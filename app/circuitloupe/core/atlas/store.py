"""The atlas on disk, and reading one unit's summary back.

An atlas is a folder::

    atlas.json             model, weights, input settings, layers, summary sizes (no image counts)
    index.json             the per-file index: image root, [path, class] per file, skipped files
    layers/LAYER/NAME.npy  one plain .npy per array of each layer (see LayerSummary), loaded
                           with allow_pickle=False and memory-mapped
    featvis/LAYER/C-OBJECTIVE.png   feature visualisations, with --featvis

Everything but ``index.json`` has a size fixed by the layers and the K / bins / sample settings;
the bytes depend only on the images (as a set), the model and those settings.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitloupe.core.atlas.summary import LayerSpec, LayerSummary
from circuitloupe.core.dataset.stats import PERCENTILES, ExponentialFit
from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import atomic_write_text
from circuitloupe.core.units import UnitRef

FORMAT = "circuitloupe-atlas"
VERSION = 1
FINAL_ARRAYS = ("edges", "hist", "positives", "count", "mean", "m2", "tail", "top_value", "top_file", "top_pos",
                "bottom_value", "bottom_file", "bottom_pos", "sample_key", "sample_file", "sample_pos", "sample_value")


def write_atlas(folder: Path, meta: dict[str, Any], index: dict[str, Any], summaries: list[LayerSummary]) -> None:
    """Write a finished atlas into ``folder`` (replacing its summary files; featvis/ is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = folder / "layers"
    staging = folder / ".layers.new"
    shutil.rmtree(staging, ignore_errors=True)
    for summary in summaries:
        moments = summary.moments()
        state = summary.state()
        state.update(count=np.array([moments.count], np.int64), mean=moments.mean, m2=moments.m2, tail=moments.tail)
        target = staging / summary.spec.name
        target.mkdir(parents=True)
        for name in FINAL_ARRAYS:
            np.save(target / f"{name}.npy", np.ascontiguousarray(state[name]), allow_pickle=False)
    shutil.rmtree(layers, ignore_errors=True)
    staging.rename(layers)
    atomic_write_text(folder / "index.json", json.dumps(index, sort_keys=True, separators=(",", ":")) + "\n")
    atomic_write_text(folder / "atlas.json", json.dumps(meta, sort_keys=True, indent=1) + "\n")


@dataclass
class Example:
    """A top/bottom or sampled example: file path, class, position and pre-ReLU value."""

    file: str
    cls: str
    y: int
    x: int
    value: float

    def to_json(self) -> dict[str, Any]:
        out = {"file": self.file, "y": self.y, "x": self.x, "value": self.value}
        if self.cls:
            out["class"] = self.cls
        return out


@dataclass
class UnitSummary:
    """What an atlas knows about one unit (values are pre-ReLU where the model has them)."""

    unit: UnitRef
    statistics: dict[str, float]
    fit: ExponentialFit | None
    top: list[Example]
    bottom: list[Example]
    edges: np.ndarray  # [bins + 1]
    counts: np.ndarray  # [bins]
    underflow: int
    overflow: int
    sample: list[Example]

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": str(self.unit), "statistics": self.statistics,
            "exponential_fit": None if self.fit is None else {
                "rate": self.fit.rate, "scale": self.fit.scale, "fraction": self.fit.fraction,
                "threshold": self.fit.threshold, "count": self.fit.count},
            "top": [e.to_json() for e in self.top], "bottom": [e.to_json() for e in self.bottom],
            "histogram": {"edges": self.edges.tolist(), "counts": self.counts.tolist(),
                          "underflow": self.underflow, "overflow": self.overflow},
            "sample": [e.to_json() for e in self.sample]}


class Atlas:
    """A finished atlas folder, opened read-only (arrays memory-mapped, loaded on demand)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / "atlas.json").read_text(encoding="utf-8"))
            index = json.loads((self.folder / "index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"{folder} is not an atlas (no readable atlas.json and index.json)") from error
        if self.meta.get("format") != FORMAT or self.meta.get("version") != VERSION:
            raise UserError(f"{folder} is not a version {VERSION} Circuit Loupe atlas")
        self.root = Path(index["root"])
        self.files: list[str] = [f for f, _ in index["files"]]
        self.classes: list[str] = [c for _, c in index["files"]]
        self.skipped: list[tuple[str, str]] = [(self.files[i], e) for i, e in index["skipped"]]
        self.layers = {d["name"]: LayerSpec(d["name"], d["source"], d["channels"], tuple(d["grid"]))
                       for d in self.meta["layers"]}
        self._arrays: dict[str, dict[str, np.ndarray]] = {}

    @property
    def images(self) -> int:
        return len(self.files) - len(self.skipped)

    def arrays(self, layer: str) -> dict[str, np.ndarray]:
        if layer not in self.layers:
            raise UserError(f"the atlas has no layer '{layer}'; it has {', '.join(self.layers)}")
        if layer not in self._arrays:
            folder = self.folder / "layers" / layer
            try:
                self._arrays[layer] = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                                       for name in FINAL_ARRAYS}
            except (OSError, ValueError) as error:
                raise UserError(f"the atlas {self.folder} is incomplete or damaged ({layer}): {error}") from error
        return self._arrays[layer]

    def resolve(self, unit: str | UnitRef) -> UnitRef:
        """``mixed3b:379`` (or ``mixed3b_pre_relu:379``) -> the atlas's unit, checked."""
        text = str(unit)
        layer, _, channel = text.rpartition(":")
        if layer not in self.layers:
            layer = next((n for n, s in self.layers.items() if s.source == layer), layer)
        if not channel.isdigit():
            raise UserError(f"'{text}' is not a unit; write LAYER:CHANNEL, e.g. {next(iter(self.layers))}:0")
        spec = self.layers.get(layer)
        if spec is None:
            raise UserError(f"the atlas has no layer '{layer}'; it has {', '.join(self.layers)}")
        if int(channel) >= spec.channels:
            raise UserError(f"{layer} has {spec.channels} units; {channel} is out of range")
        return UnitRef(layer, int(channel))

    def unit(self, unit: str | UnitRef) -> UnitSummary:
        ref = self.resolve(unit)
        a, spec, c = self.arrays(ref.layer), self.layers[ref.layer], ref.channel
        count = int(a["count"][0])
        mean, m2, positives, tail = float(a["mean"][c]), float(a["m2"][c]), int(a["positives"][c]), float(a["tail"][c])
        top, bottom = self._examples(a, "top", c, spec), self._examples(a, "bottom", c, spec)
        hist = np.asarray(a["hist"][c], np.int64)
        edges = np.asarray(a["edges"][c], np.float64)
        stats: dict[str, float] = {"count": count}
        if count:
            stats.update(mean=mean, std=float(np.sqrt(m2 / count)), min=bottom[0].value, max=top[0].value,
                         fraction_firing=positives / count)
            stats.update(histogram_percentiles(edges, hist, bottom[0].value, top[0].value))
        fit = None
        if positives >= 2 and tail > 0:
            fit = ExponentialFit(1.0 / (tail / positives), positives / count, 0.0, positives)
        sample = [self._example(int(f), int(p), float(v), spec)
                  for f, p, v in zip(a["sample_file"], a["sample_pos"], a["sample_value"][:, c])]
        return UnitSummary(ref, stats, fit, top, bottom, edges, hist[1:-1].copy(), int(hist[0]), int(hist[-1]), sample)

    def _examples(self, a: dict[str, np.ndarray], kind: str, c: int, spec: LayerSpec) -> list[Example]:
        return [self._example(int(f), int(p), float(v), spec)
                for f, p, v in zip(a[f"{kind}_file"][c], a[f"{kind}_pos"][c], a[f"{kind}_value"][c]) if f >= 0]

    def _example(self, file: int, pos: int, value: float, spec: LayerSpec) -> Example:
        return Example(self.files[file], self.classes[file], pos // spec.grid[1], pos % spec.grid[1], value)

    def featvis(self, unit: UnitRef, objective: str = "channel") -> Path | None:
        """The unit's feature visualisation PNG for ``objective``, or None when not rendered."""
        path = featvis_path(self.folder, unit, objective)
        return path if path.is_file() else None


def featvis_path(folder: Path, unit: UnitRef, objective: str) -> Path:
    """Where an atlas in ``folder`` keeps ``unit``'s visualisation for ``objective``."""
    return folder / "featvis" / unit.layer / f"{unit.channel}-{objective}.png"


def histogram_percentiles(edges: np.ndarray, hist: np.ndarray, low: float, high: float) -> dict[str, float]:
    """Percentiles ``p1``..``p99`` read from a histogram with under/overflow bins (linear within
    a bin; the under/overflow bins span [low, edges[0]] and [edges[-1], high]): accurate to a bin."""
    bounds = np.concatenate([[min(low, edges[0])], edges, [max(high, edges[-1])]])
    cumulative = np.concatenate([[0], np.cumsum(hist)]).astype(np.float64)
    total = cumulative[-1]
    out = {}
    for p in PERCENTILES:
        target = p / 100 * total
        i = int(np.clip(np.searchsorted(cumulative, target, side="left") - 1, 0, hist.size - 1))
        inside = (target - cumulative[i]) / hist[i] if hist[i] else 0.0
        out[f"p{p}"] = float(bounds[i] + inside * (bounds[i + 1] - bounds[i]))
    return out
