"""Handwritten curve detectors: write a layer's curve units by hand from an earlier layer.

Zoom In argues we understand curve detectors well enough to write their weights ourselves. The
recipe here:

1. Measure every unit of the earlier layer with curves (radial tuning, 36 orientations): its
   preferred orientation ``phi`` and orientation selectivity ``s``. Units with ``s`` below
   ``min_selectivity`` get no weight.
2. For a hand-made detector of orientation ``theta``, lay an arc on the later layer's kernel:
   its apex on the centre cell, bulging towards ``theta``, radius ``radius`` cells. Each kernel
   cell ``p`` gets the local orientation of the arc there (the direction from the arc's centre of
   curvature to ``p``, ``theta + alpha``) and a closeness ``exp(-d^2 / 2 sigma^2)`` from its
   distance ``d`` to the arc. The weight from earlier unit ``u`` at ``p`` is
   ``closeness * s_u * cos(phi_u - (theta + alpha))``: excitatory where the earlier unit's
   orientation fits the arc's tangent there, inhibitory where it is opposite.
3. The kernel replaces the kernel of an existing unit of the layer (the model's own unit of the
   nearest preferred orientation), scaled to that unit's kernel norm, in a copy of the model.

The result says where the spliced units' radial tuning peaks (for ``units = 8`` they are meant
45 degrees apart), how their activations correlate with the units they replaced over a folder of
images, and how much the logits move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from circuitloupe.core import tuning
from circuitloupe.core.ablation import EdgeEdit, find_edge, model_copy
from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


def orientation_of(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """The stimulus orientation (degrees, 0 = up, counter-clockwise) of image-space vectors."""
    return np.rad2deg(np.arctan2(-dx, -dy)) % 360.0


def arc_template(theta: float, phis: np.ndarray, selectivity: np.ndarray, kernel: tuple[int, int],
                 radius: float = 2.0, sigma: float = 0.6) -> np.ndarray:
    """Weights [len(phis), kh, kw] of a curve detector of orientation ``theta`` (see the module)."""
    kh, kw = kernel
    ys, xs = np.mgrid[0:kh, 0:kw].astype(np.float64)
    px, py = xs - (kw - 1) / 2, ys - (kh - 1) / 2
    t = np.deg2rad(theta)
    ox, oy = radius * np.sin(t), radius * np.cos(t)  # centre of curvature: behind the apex
    vx, vy = px - ox, py - oy
    closeness = np.exp(-((np.hypot(vx, vy) - radius) ** 2) / (2 * sigma ** 2))
    local = orientation_of(vx, vy)  # the arc's own orientation at each cell
    fit = np.cos(np.deg2rad(phis[:, None, None] - local[None]))
    return (closeness[None] * selectivity[:, None, None] * fit).astype(np.float32)


@dataclass
class HandwrittenUnit:
    unit: UnitRef  # the model's unit it replaced
    designed: float
    preferred: float  # measured in the spliced model
    selectivity: float
    original_preferred: float
    correlation: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"unit": str(self.unit), "designed_orientation_deg": self.designed,
                "preferred_orientation_deg": self.preferred, "selectivity": self.selectivity,
                "original_preferred_deg": self.original_preferred, "correlation": self.correlation}


@dataclass
class Handwritten:
    layer: str
    earlier: str
    sources: int  # earlier units with weight
    units: list[HandwrittenUnit]
    tunings: list[tuning.RadialTuning] = field(repr=False)
    original_tunings: list[tuning.RadialTuning] = field(repr=False)
    logits: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "from": self.earlier, "oriented_sources": self.sources,
                "units": [u.as_dict() for u in self.units], "logits": self.logits}


def _source_tuning(model: LoadedModel, earlier: str, should_stop: StopFn | None,
                   progress: ProgressFn) -> tuple[np.ndarray, np.ndarray]:
    channels = model.catalogue.layer(earlier).channels
    tunings = tuning.family_radial_tuning(model, [UnitRef(earlier, c) for c in range(channels)], orientations=36,
                                          curvatures=3, progress=progress, should_stop=should_stop)
    phis = np.array([t.preferred if np.isfinite(t.preferred) else 0.0 for t in tunings])
    return phis, np.array([t.selectivity for t in tunings])


def _replaced_units(model: LoadedModel, layer: str, designed: Sequence[float],
                    should_stop: StopFn | None) -> tuple[list[UnitRef], list[tuning.RadialTuning]]:
    """For each designed orientation, the model's unit of the layer nearest in preferred orientation
    (most selective first), each used once."""
    channels = model.catalogue.layer(layer).channels
    if len(designed) > channels:
        raise UserError(f"{layer} has {channels} units; ask for at most that many hand-made ones")
    found = tuning.family_radial_tuning(model, [UnitRef(layer, c) for c in range(channels)], orientations=36,
                                        curvatures=3, should_stop=should_stop)
    free = set(range(channels))
    chosen = []
    for theta in designed:
        def cost(c: int) -> float:
            preferred = found[c].preferred
            gap = abs((preferred - theta + 180) % 360 - 180) if np.isfinite(preferred) else 180.0
            return gap - 10.0 * found[c].selectivity
        best = min(free, key=lambda c: (cost(c), c))
        free.discard(best)
        chosen.append(best)
    return [UnitRef(layer, c) for c in chosen], [found[c] for c in chosen]


def handwritten(model: LoadedModel, layer: str, earlier: str, units: int = 8, min_selectivity: float = 0.2,
                images: str | None = None, progress: ProgressFn = no_progress,
                should_stop: StopFn | None = None) -> tuple[Handwritten, LoadedModel]:
    """Write ``units`` curve detectors of ``layer`` by hand from ``earlier`` (see the module);
    returns the report and the spliced copy of the model."""
    catalogue = model.catalogue
    layer, earlier = catalogue.layer(layer).name, catalogue.layer(earlier).name
    if catalogue.position(earlier) >= catalogue.position(layer):
        raise UserError(f"--from {earlier} must come before {layer}")
    if not 1 <= units <= 64:
        raise UserError("--units must be 1 to 64")
    phis, selectivity = _source_tuning(model, earlier, should_stop, progress)
    weights = np.where(selectivity >= min_selectivity, selectivity, 0.0)
    if np.count_nonzero(weights) < 2:
        raise UserError(f"{earlier} has fewer than 2 orientation-selective units (selectivity >= "
                        f"{min_selectivity}); pick an earlier layer with edge or curve units")
    designed = [k * 360.0 / units for k in range(units)]
    replaced, original_tunings = _replaced_units(model, layer, designed, should_stop)
    source = int(np.argmax(weights))
    spliced = model_copy(model, f"{units} hand-written curve units in {layer}", f"handwritten:{layer}x{units}")
    for unit, theta in zip(replaced, designed):
        check_stop(should_stop)
        try:
            edge = find_edge(spliced, EdgeEdit(UnitRef(earlier, source), unit))
        except UserError:
            edge = None
        if edge is None or not 0 <= edge.in_index - source <= edge.module.weight.shape[1] - len(phis):
            raise UserError(f"{layer}'s units do not read every unit of {earlier} through one convolution (a "
                            "depthwise layer reads one channel per unit); pick a layer that combines them")
        offset = edge.in_index - source
        weight = edge.module.weight
        kernel = np.zeros(tuple(weight.shape[1:]), dtype=np.float32)
        kernel[offset:offset + len(phis)] = arc_template(theta, phis, weights, tuple(weight.shape[2:]))
        with torch.no_grad():
            norm = float(weight[edge.out_index].norm())
            new = torch.as_tensor(kernel, dtype=weight.dtype, device=weight.device)
            weight[edge.out_index] = new * (norm / max(float(new.norm()), 1e-12))
    measured = tuning.family_radial_tuning(spliced, replaced, orientations=72, curvatures=4, should_stop=should_stop)
    made = [HandwrittenUnit(u, theta, m.preferred, m.selectivity, o.preferred)
            for u, theta, m, o in zip(replaced, designed, measured, original_tunings)]
    report = Handwritten(layer, earlier, int(np.count_nonzero(weights)), made, measured, original_tunings)
    if images:
        _compare_on_images(model, spliced, report, images, should_stop)
    return report, spliced


def _compare_on_images(model: LoadedModel, spliced: LoadedModel, report: Handwritten, folder: str,
                       should_stop: StopFn | None) -> None:
    """Correlate each spliced unit with the unit it replaced (every position of every image), and
    measure the logits' change."""
    from circuitloupe.core.activations import forward_until
    from circuitloupe.core.dataset.folder import walk_folder
    from circuitloupe.core.images import load_image, to_batch

    arrays = []
    for entry in walk_folder(folder).images:
        try:
            arrays.append(load_image(Path(folder) / entry.relpath, model.in_channels))
        except ImageError:
            continue
    if not arrays:
        raise UserError(f"{folder} holds no readable images")
    check_stop(should_stop)
    batch = to_batch(arrays, model.input_size).to(model.device)
    channels = [u.unit.channel for u in report.units]
    with torch.no_grad():
        before = forward_until(model, batch, [report.layer])[report.layer][:, channels]
        after = forward_until(spliced, batch, [report.layer])[report.layer][:, channels]
        logits_before, logits_after = model.forward(batch).flatten(1), spliced.forward(batch).flatten(1)
    for k, made in enumerate(report.units):
        a, b = before[:, k].flatten().double().cpu().numpy(), after[:, k].flatten().double().cpu().numpy()
        made.correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
    report.logits = {"images": len(arrays),
                     "mean_abs_change": float((logits_after - logits_before).abs().mean()),
                     "top1_agreement": float((logits_after.argmax(1) == logits_before.argmax(1)).double().mean())}


def handwritten_figure(report: Handwritten, scale: float = 1.0):
    """The hand-made units' radial tuning beside the tuning the replaced units had."""
    from circuitloupe.core.figures import side_by_side

    made = tuning.radial_tuning_figure(report.tunings, scale=scale,
                                       title=f"hand-written in {report.layer} (from {report.earlier})")
    own = tuning.radial_tuning_figure(report.original_tunings, scale=scale, title="the model's own units")
    return side_by_side([made, own], height=int(round(440 * scale)), scale=1.0)
