"""Circuits over several layers: from a target unit back through a path of layers.

Zoom In's dog-head and car circuits span several layers. :func:`trace` starts at a unit, takes
the ``top`` units of the first layer of the path with the largest expanded-weight norm into it
(:func:`weights.expanded_weights`, the same numbers as ``circuitloupe expanded``), then for
every unit found so far the strongest contributors in the next layer back, keeping the ``top``
units of each layer by their summed strength into the level after them. Each edge carries the
expanded-weight norm (its strength) and the sum of the kernel (its sign: excitatory when
positive, inhibitory when negative). ``among`` keeps a layer to an article's units (a preset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from circuitloupe.core import weights as W
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef, parse_unit_list


@dataclass(frozen=True)
class Edge:
    src: UnitRef
    dst: UnitRef
    strength: float  # L2 norm of the expanded-weight kernel
    total: float  # sum of the kernel: its sign says excitatory or inhibitory

    def as_dict(self) -> dict[str, Any]:
        return {"src": str(self.src), "dst": str(self.dst), "strength": self.strength, "total": self.total}


@dataclass
class Trace:
    """``levels[0]`` is the target; ``levels[i]`` the units kept in ``layers[i - 1]``."""

    target: UnitRef
    layers: list[str]
    levels: list[list[UnitRef]]
    edges: list[Edge] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"target": str(self.target), "layers": self.layers,
                "levels": [[str(u) for u in level] for level in self.levels],
                "edges": [e.as_dict() for e in self.edges]}


def default_layers(model: LoadedModel, layer: str, k: int) -> list[str]:
    """The ``k`` layers before ``layer`` the articles would trace through, latest first (each the
    layer expanded weights into the one after it come from by default: mixed4b -> mixed4a ->
    mixed3b); fewer when the model runs out of earlier layers."""
    path: list[str] = []
    while len(path) < k:
        earlier = W.default_source_layer(model, path[-1] if path else layer)
        if earlier is None:
            break
        path.append(earlier)
    return path


def trace(model: LoadedModel, unit: UnitRef | str, layers: Sequence[str], top: int = 4,
          progress: ProgressFn = no_progress, should_stop: StopFn | None = None, among: str = "") -> Trace:
    """The strongest contributors to ``unit`` in each layer of ``layers`` (latest first); a layer
    named in ``among`` (units such as ``mixed4a:235,222``) keeps only those units."""
    catalogue = model.catalogue
    target = catalogue.unit(unit)
    names = [catalogue.layer(layer).name for layer in layers]
    if not names:
        raise UserError("--trace needs at least one earlier layer, e.g. --trace mixed3b,mixed3a")
    positions = [catalogue.position(target.layer)] + [catalogue.position(n) for n in names]
    if any(later <= earlier for later, earlier in zip(positions, positions[1:])):
        raise UserError(f"list the --trace layers from the latest to the earliest, all before {target.layer}")
    if not 1 <= top <= 64:
        raise UserError("--top must be 1 to 64 units per layer")
    allowed: dict[str, set[int]] = {}
    for ref in (parse_unit_list(among) if among.strip() else []):
        ref = catalogue.unit(ref)
        allowed.setdefault(ref.layer, set()).add(ref.channel)
    if set(allowed) - set(names):
        raise UserError(f"--among names units of {', '.join(sorted(set(allowed) - set(names)))}, "
                        "which --trace does not list")
    result = Trace(target, names, [[target]])
    total = sum(1 for _ in names)
    for depth, layer in enumerate(names, start=1):
        strengths: dict[UnitRef, float] = {}
        candidates: list[Edge] = []
        for dst in result.levels[-1]:
            check_stop(should_stop)
            kernels = W.expanded_weights(model, dst, layer)
            ranked = W.ranked_kernels(kernels, layer, len(kernels) if layer in allowed else top)
            if layer in allowed:  # ranked over every channel first: the top ones may all be excluded
                ranked = [r for r in ranked if r[0].channel in allowed[layer]]
            for src, norm, kernel in ranked[:top]:  # connected channels only (norm above 0)
                candidates.append(Edge(src, dst, norm, float(kernel.sum())))
                strengths[src] = strengths.get(src, 0.0) + norm
        kept = sorted(strengths, key=lambda u: (-strengths[u], u.channel))[:top]
        result.levels.append(kept)
        result.edges += [e for e in candidates if e.src in kept]
        progress(depth, total)
    return result


def trace_figure(result: Trace, thumbnails: dict[UnitRef, np.ndarray] | None = None, scale: float = 1.0,
                 cell: int = 72):
    """A layered graph, earliest layer on the left: each unit as its feature visualisation (or a
    grey tile with its channel), each edge a line whose colour is its sign (red positive, blue
    negative, as the weight figures) and whose width is its strength."""
    from PIL import Image, ImageDraw

    from circuitloupe.core import figures

    size = int(round(cell * scale))
    gap_x, gap_y = int(round(110 * scale)), int(round(26 * scale))
    columns = result.levels[::-1]
    labels = [*result.layers[::-1], result.target.layer]
    rows = max(len(c) for c in columns)
    top = int(round(34 * scale))
    width = len(columns) * size + (len(columns) - 1) * gap_x + 2 * gap_y
    height = top + rows * (size + gap_y) + gap_y
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    face = figures.font(max(8, int(11 * scale)))
    where: dict[UnitRef, tuple[int, int]] = {}
    for c, (units, label) in enumerate(zip(columns, labels)):
        x = gap_y + c * (size + gap_x)
        offset = top + (rows - len(units)) * (size + gap_y) // 2
        draw.text((x, int(8 * scale)), label, fill="black", font=face)
        for r, unit in enumerate(units):
            y = offset + r * (size + gap_y)
            where[unit] = (x, y)
    # Colour and width are scaled per pair of layers: weights into later layers are larger.
    limit: dict[str, float] = {}
    strongest: dict[str, float] = {}
    for e in result.edges:
        limit[e.src.layer] = max(limit.get(e.src.layer, 0.0), abs(e.total))
        strongest[e.src.layer] = max(strongest.get(e.src.layer, 0.0), e.strength)
    for edge in sorted(result.edges, key=lambda e: e.strength):
        (sx, sy), (dx, dy) = where[edge.src], where[edge.dst]
        rgb = W.weight_rgb(np.array([[edge.total]]), limit[edge.src.layer] or 1.0)[0, 0]
        draw.line([(sx + size, sy + size // 2), (dx, dy + size // 2)], fill=tuple(int(v * 255) for v in rgb),
                  width=max(1, int(round(6 * scale * edge.strength / (strongest[edge.src.layer] or 1.0)))))
    for unit, (x, y) in where.items():
        image = (thumbnails or {}).get(unit)
        array = W.pending_tile(size, str(unit.channel)) if image is None else image
        canvas.paste(figures.upscale(figures.to_pil(array).convert("RGB"), (size, size)), (x, y))
        draw.text((x, y + size + 1), f"{unit.channel}", fill="black", font=face)
    return canvas
