"""A unit of an atlas as pictures: its histogram, and its examples as receptive-field crops."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.atlas.store import Atlas, Example, UnitSummary
from circuitloupe.core.dataset import report
from circuitloupe.core.dataset.figures import FIRING_COLOUR, NEGATIVE_COLOUR, examples_figure
from circuitloupe.core.dataset.receptive import receptive_field
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import LoadedModel, load_model, pick_device
from circuitloupe.core.paths import atomic_write_bytes
from circuitloupe.core.units import UnitRef


def open_model(atlas: Atlas, model: str | None = None, weights: str | None = None,
               device: str = "auto") -> LoadedModel:
    """The atlas's model: ``model``/``weights`` when given, else the ones it was built with.

    A model file (``file.py:factory``) is code, so it is run only when named here.
    """
    spec = model or atlas.meta["model"]
    if model is None and ".py:" in spec:
        raise UserError(f"the atlas was built with the model file {spec}; name it with --model to run it")
    loaded = load_model(spec, weights if weights is not None else atlas.meta.get("weights"), device=pick_device(device))
    if loaded.weights_id != atlas.meta["weights_id"]:
        raise UserError(f"these weights ({loaded.weights_id[:12]}) are not the atlas's "
                        f"({atlas.meta['weights_id'][:12]}); "
                        "give the --weights it was built with")
    return loaded


class AtlasCrops:
    """Receptive-field crops of an atlas's examples, decoded the way its build decoded them."""

    def __init__(self, atlas: Atlas, model: LoadedModel) -> None:
        self.atlas, self.model = atlas, model
        self._loaders: dict[str, report.CropLoader] = {}

    def __call__(self, layer: str, example: Example) -> np.ndarray | None:
        """[h, w, C] in [0, 1], or None when the image is gone or unreadable."""
        if layer not in self._loaders:
            meta = self.atlas.meta
            size = tuple(meta["input_size"])
            field = receptive_field(self.model, self.atlas.layers[layer].source, size)
            self._loaders[layer] = report.CropLoader(self.atlas.root, size, meta["resize"], tuple(meta["pad_colour"]),
                                                     field, keep=32)
        return self._loaders[layer](example.file, example.y, example.x)


def histogram_plot(summary: UnitSummary, log_y: bool = True, scale: float = 1.0) -> Image.Image:
    """The unit's pre-ReLU histogram as a density (blue below zero, red above), with the
    exponential tail fit; values outside the histogram's range are counted in the title."""
    edges, counts = summary.edges, summary.counts.astype(np.float64)
    total = counts.sum() + summary.underflow + summary.overflow
    widths = np.diff(edges)
    density = counts / (total * widths) if total else counts
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = figures.new_plot(6.0, 3.4, scale)
    ax.bar(centres, density, width=widths, color=[FIRING_COLOUR if c > 0 else NEGATIVE_COLOUR for c in centres],
           alpha=0.75, linewidth=0)
    if summary.fit is not None:
        x = np.linspace(max(0.0, edges[0]), edges[-1], 200)
        ax.plot(x, summary.fit.density(x), color="black", linewidth=1.2, label=f"exp fit: rate {summary.fit.rate:.3g}")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
    if log_y and (density > 0).any():
        ax.set_yscale("log")
        ax.set_ylim(density[density > 0].min() / 2, density.max() * 2)
    stats = summary.statistics
    outside = f", {summary.underflow + summary.overflow} outside" if summary.underflow + summary.overflow else ""
    ax.set_title(f"{summary.unit}  firing {stats.get('fraction_firing', 0):.1%}, mean {stats.get('mean', 0):.3g}"
                 f"{outside}", fontsize=10)
    ax.set_xlabel("pre-ReLU activation")
    ax.set_ylabel("probability density" + (" (log)" if log_y else ""))
    return figures.plot_to_image(fig)


def examples_plot(examples: list[Example], crops: AtlasCrops, layer: str, title: str,
                  scale: float = 1.0) -> Image.Image:
    """Examples as labelled receptive-field crops."""
    shown = [report.Example(e.file, e.y, e.x, e.value, crops(layer, e)) for e in examples]
    return examples_figure(shown, title, scale=scale)


def unit_figure(summary: UnitSummary, crops: AtlasCrops | None, scale: float = 1.0) -> Image.Image:
    """Histogram above the top and bottom examples (the examples need ``crops``)."""
    parts = [histogram_plot(summary, scale=scale)]
    if crops is not None:
        layer = summary.unit.layer
        parts += [examples_plot(summary.top, crops, layer, f"{summary.unit} top {len(summary.top)}", scale),
                  examples_plot(summary.bottom, crops, layer, f"{summary.unit} bottom {len(summary.bottom)}", scale)]
    return figures.stack(parts)


def save_image(image: np.ndarray, path: Path, size: int | None = None) -> None:
    """Write an [h, w, C] image in [0, 1] as a PNG without metadata (same pixels, same bytes)."""
    picture = figures.to_pil(image).convert("RGB")
    if size is not None:
        picture = figures.upscale(picture, (size, size), smooth=True)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def covers(atlas: Atlas | None, model: LoadedModel | None, unit: UnitRef) -> bool:
    """Whether ``atlas`` was built with ``model`` (same spec and weights) and holds ``unit``'s layer."""
    return (atlas is not None and model is not None and atlas.meta["model"] == model.spec
            and atlas.meta["weights_id"] == model.weights_id and unit.layer in atlas.layers)


def top_crops(atlas: Atlas, model: LoadedModel, unit: UnitRef, k: int) -> list[tuple[np.ndarray, float]]:
    """The unit's top ``k`` atlas examples as RGB receptive-field crops [h, w, 3] with their values."""
    crops = AtlasCrops(atlas, model)
    out = []
    for example in atlas.unit(unit).top[:k]:
        image = crops(unit.layer, example)
        if image is not None:
            out.append((np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image, example.value))
    return out


def summary_line(summary: UnitSummary) -> str:
    """One line of a unit's atlas statistics, for cards and status bars."""
    s = summary.statistics
    if not s.get("count"):
        return "atlas: no values"
    return (f"atlas: mean {s['mean']:.3g}, std {s['std']:.3g}, max {s['max']:.3g}, "
            f"firing {s['fraction_firing']:.1%} of {s['count']:,} positions")
