"""Measuring a family's responses under a transformation family and inferring the permutation it
induces, with holes, scored against the identity and random permutations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from circuitloupe.core.activations import forward_until
from circuitloupe.core.equivariance.transforms import (CYCLIC, MAX_SCALE, REDUCTIONS, prepare, synthetic_stimuli,
                                                        transform, transform_values)
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

# --------------------------------------------------------------------------- responses

def reduce_maps(maps: torch.Tensor, reduce: str = "centre") -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, C]``: the centre (mean of the central 1 or 2 pixels per axis, so
    it is unchanged by 90-degree rotations and flips), the spatial mean or the max."""
    if maps.dim() == 2:
        return maps
    if reduce == "mean":
        return maps.mean(dim=(-2, -1))
    if reduce == "max":
        return maps.amax(dim=(-2, -1))
    if reduce != "centre":
        raise UserError(f"reduce must be one of {', '.join(REDUCTIONS)}, not '{reduce}'")
    h, w = maps.shape[-2:]
    rows = slice((h - 1) // 2, h // 2 + 1)
    cols = slice((w - 1) // 2, w // 2 + 1)
    return maps[:, :, rows, cols].mean(dim=(-2, -1))


def unit_responses(model: LoadedModel, images: torch.Tensor, units: Sequence[UnitRef],
                   reduce: str = "centre") -> torch.Tensor:
    """Responses ``[B, U]`` of model-ready images ``[B, C, H, W]`` (see :func:`prepare`)."""
    layers = sorted({unit.layer for unit in units})
    found = forward_until(model, images, layers)
    reduced = {name: reduce_maps(value, reduce) for name, value in found.items()}
    return torch.stack([reduced[unit.layer][:, unit.channel] for unit in units], dim=1)


def measure(model: LoadedModel, units: Sequence[UnitRef | str], stimuli: torch.Tensor, kind: str,
            values: Sequence, reduce: str = "centre", batch_size: int = 64,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """Responses ``F[s, n, u]`` of ``units`` to every stimulus transformed by every step.

    ``stimuli`` are model-ready (:func:`prepare`). Returns float64 ``[S, N, U]``.
    """
    refs = [model.catalogue.unit(u) for u in units]
    stimuli = stimuli.to(model.device)
    batches = [stimuli[i:i + batch_size] for i in range(0, stimuli.shape[0], batch_size)]
    total, done = len(values) * len(batches), 0
    out = np.zeros((len(values), stimuli.shape[0], len(refs)))
    for s, value in enumerate(values):
        start = 0
        for batch in batches:
            check_stop(should_stop)
            moved = transform(batch, kind, value)
            out[s, start:start + batch.shape[0]] = unit_responses(model, moved, refs, reduce).double().cpu().numpy()
            start += batch.shape[0]
            done += 1
            if progress is not None:
                progress(done, total)
    return out


# --------------------------------------------------------------------------- analysis

@dataclass
class EquivarianceResult:
    """The outcome of one family x transformation analysis (see the module docstring).

    ``mapping[i]`` is the index (into ``units``) unit i maps to under one step, or None for a
    hole; ``assignment`` completes it to a full permutation (each hole gets the cheapest unused
    unit); ``unit_errors[i]`` is unit i's match error (for a hole, its best possible one).
    ``score`` and ``baseline_*`` are relative errors (0 = perfect). ``wraps_at`` (rotation only)
    is 90, 180 or 360 degrees, or None when the steps do not include 90 and 180. ``shift`` is the
    common index step of the mapping (+1: each unit maps to the next in the list) and
    ``direction`` says what that means for this family. ``scale_fits`` (scale only) gives, for each
    zoom step, the index of the unit that fits it best: the one most excited, relative to its own
    spread, by the probe stimulus zoomed that much (units may sit in different layers).
    ``responses`` is ``F[s, n, u]``.
    """

    units: list[str]
    kind: str
    values: list[float]
    mapping: list[int | None]
    assignment: list[int]
    unit_errors: list[float]
    score: float
    baseline_identity: float
    baseline_random: float
    baseline_random_std: float
    wraps_at: int | None
    shift: int | None
    direction: str | None
    holes: list[int]
    flip_pairs: list[tuple[int, int]]
    probe: int
    responses: np.ndarray = field(repr=False)
    cost: np.ndarray = field(repr=False)
    scale_fits: list[int] | None = None

    @property
    def step(self) -> float:
        """The transformation of one step (degrees, flip, or zoom factor)."""
        return self.values[1]

    def mapped_units(self) -> dict[str, str | None]:
        """``{unit: unit it maps to (or None)}`` by name."""
        return {self.units[i]: (None if j is None else self.units[j]) for i, j in enumerate(self.mapping)}

    def response_matrix(self) -> np.ndarray:
        """``[U, S]``: each unit's normalised response to the probe stimulus at every step."""
        return _normalise(self.responses)[:, self.probe, :].T

    def to_json(self) -> dict:
        """A JSON-ready summary: mapping, score, baselines and the per-unit errors."""
        return {
            "units": self.units, "transform": self.kind, "values": self.values,
            "mapping": self.mapped_units(),
            "permutation": [self.units[j] for j in self.assignment],
            "score": self.score,
            "baselines": {"identity": self.baseline_identity, "random": self.baseline_random,
                          "random_std": self.baseline_random_std},
            "unit_errors": dict(zip(self.units, self.unit_errors)),
            "holes": [self.units[i] for i in self.holes],
            "wraps_at_degrees": self.wraps_at, "shift": self.shift, "direction": self.direction,
            "flip_pairs": [[self.units[i], self.units[j]] for i, j in self.flip_pairs],
            "response_matrix": self.response_matrix().round(6).tolist(), "probe_stimulus": self.probe,
            **({"scale_fits": [{"factor": round(v, 6), "unit": self.units[u]}
                               for v, u in zip(self.values, self.scale_fits)]} if self.scale_fits is not None else {}),
        }


def _normalise(responses: np.ndarray) -> np.ndarray:
    """Standardise each unit over all steps and stimuli: subtract its mean, divide by its standard
    deviation (dead units become 0), so gains and offsets do not matter, only tuning."""
    centred = responses - responses.mean(axis=(0, 1), keepdims=True)
    std = np.sqrt((centred ** 2).mean(axis=(0, 1), keepdims=True))
    return np.where(std > 1e-12, centred / np.where(std > 1e-12, std, 1.0), 0.0)


def _pairs(kind: str, steps: int) -> list[tuple[int, int]]:
    """(from step, to step) pairs one generator apart; cyclic families wrap around."""
    pairs = [(s, s + 1) for s in range(steps - 1)]
    if kind in CYCLIC and steps > 2:
        pairs.append((steps - 1, 0))
    return pairs


def _relative_error(norm: np.ndarray, pairs, mapping: Sequence[int | None]) -> float:
    """``||F(g x) - P F(x)|| / ||F(g x)||`` summed over the step pairs for the (partial)
    permutation ``mapping`` (unit i -> mapping[i]; a hole predicts nothing, i.e. zero)."""
    num = den = 0.0
    for a, b in pairs:
        predicted = np.zeros_like(norm[b])
        for i, j in enumerate(mapping):
            if j is not None:
                predicted[:, j] = norm[a][:, i]
        num += float(((norm[b] - predicted) ** 2).sum())
        den += float((norm[b] ** 2).sum())
    return math.sqrt(num / den) if den > 0 else float("nan")


def analyse(responses: np.ndarray, units: Sequence[str], kind: str, values: Sequence[float],
            hole_threshold: float = 1.0, random_trials: int = 200, seed: int = 0) -> EquivarianceResult:
    """Infer the permutation and the equivariance score from responses ``F[s, n, u]``."""
    from scipy.optimize import linear_sum_assignment

    units = [str(u) for u in units]
    n_units = len(units)
    if responses.shape[0] != len(values) or responses.shape[2] != n_units:
        raise ValueError("responses must be [steps, stimuli, units]")
    norm = _normalise(responses)
    pairs = _pairs(kind, len(values))
    cost = np.zeros((n_units, n_units))
    energy = np.zeros(n_units)
    for a, b in pairs:
        diff = norm[b][:, None, :] - norm[a][:, :, None]  # [N, i, j]: F_j(g x) - F_i(x)
        cost += (diff ** 2).sum(axis=0)
        energy += (norm[b] ** 2).sum(axis=0)
    relative = np.sqrt(cost / np.where(energy > 0, energy, np.inf)[None, :])  # [i, j] match error
    # Holes: a unit may map to nothing (a dummy column, free); then some unit j is predicted by
    # nobody (matched to a dummy row) at the price hole_threshold² * energy[j], which at the
    # threshold 1 is exactly its share of the score's error. So the assignment minimises the score.
    augmented = np.zeros((2 * n_units, 2 * n_units))
    augmented[:n_units, :n_units] = cost
    augmented[n_units:, :n_units] = hole_threshold ** 2 * energy[None, :]
    rows, cols = linear_sum_assignment(augmented)
    mapping: list[int | None] = [None] * n_units
    for i, j in zip(rows, cols):
        if i < n_units and j < n_units and relative[i, j] <= hole_threshold:
            mapping[i] = int(j)
    unit_errors = [float(relative[i, mapping[i]] if mapping[i] is not None else relative[i].min())
                   for i in range(n_units)]
    assignment = _complete(mapping, cost)
    rng = np.random.default_rng(seed)
    randoms = [_relative_error(norm, pairs, list(rng.permutation(n_units))) for _ in range(random_trials)]
    shift, direction = _shift(mapping, kind)
    wraps = _wraps_at(norm, values) if kind == "rotate" else None
    flips = sorted({tuple(sorted((i, j))) for i, j in enumerate(mapping) if j is not None and j != i
                    and mapping[j] == i}) if kind == "flip" else []
    # The probe: the stimulus with the sharpest peaks across the steps (so the response
    # matrix shows how the response travels from unit to unit).
    probe = int(np.argmax((norm.max(axis=0) - norm.mean(axis=0)).sum(axis=1)))
    return EquivarianceResult(
        units=units, kind=kind, values=[float(v) for v in values], mapping=mapping,
        assignment=assignment, unit_errors=unit_errors,
        score=_relative_error(norm, pairs, mapping),
        baseline_identity=_relative_error(norm, pairs, list(range(n_units))),
        baseline_random=float(np.mean(randoms)), baseline_random_std=float(np.std(randoms)),
        wraps_at=wraps, shift=shift, direction=direction,
        holes=[i for i, j in enumerate(mapping) if j is None], flip_pairs=[tuple(p) for p in flips],
        probe=probe, responses=responses, cost=cost,
        scale_fits=[int(u) for u in np.argmax(norm[:, probe, :], axis=1)] if kind == "scale" else None,
    )


def _complete(mapping: list[int | None], cost: np.ndarray) -> list[int]:
    """A full permutation that agrees with ``mapping`` and gives each hole the cheapest unused unit."""
    from scipy.optimize import linear_sum_assignment

    holes = [i for i, j in enumerate(mapping) if j is None]
    free = sorted(set(range(len(mapping))) - {j for j in mapping if j is not None})
    full = [j if j is not None else -1 for j in mapping]
    if holes:
        rows, cols = linear_sum_assignment(cost[np.ix_(holes, free)])
        for r, c in zip(rows, cols):
            full[holes[r]] = free[c]
    return full


_DIRECTIONS = {
    "rotate": ("counter-clockwise", "clockwise"),
    "hue": ("hue increasing along the list", "hue decreasing along the list"),
    "scale": ("larger along the list", "smaller along the list"),
}


def _shift(mapping: list[int | None], kind: str) -> tuple[int | None, str | None]:
    """The most common index step π(i) - i (mod U) if at least half the units share it."""
    n = len(mapping)
    steps = [(j - i) % n for i, j in enumerate(mapping) if j is not None]
    if not steps or kind == "flip":
        return None, None
    values, counts = np.unique(steps, return_counts=True)
    best = int(values[np.argmax(counts)])
    if counts.max() * 2 <= n or best == 0:
        return None, None
    if kind in CYCLIC:
        best = best if best <= n // 2 else best - n
    positive, negative = _DIRECTIONS[kind]
    return best, (positive if best > 0 else negative)


def _wraps_at(norm: np.ndarray, values: Sequence[float], tolerance: float = 0.3) -> int | None:
    """90 or 180 if rotating by that angle maps every unit to itself: the best assignment between
    responses at 0 and at that angle is the identity, with relative error below ``tolerance``.
    360 if neither does; None if the steps do not include 90 and 180 degrees."""
    from scipy.optimize import linear_sum_assignment

    index = {round(v % 360, 6): s for s, v in enumerate(values)}
    if any(float(angle) not in index for angle in (90, 180)):
        return None
    n_units = norm.shape[2]
    for angle in (90, 180):
        turned = norm[index[float(angle)]]
        cost = ((turned[:, None, :] - norm[0][:, :, None]) ** 2).sum(axis=0)
        _, cols = linear_sum_assignment(cost)
        den = float((turned ** 2).sum())
        if den > 0 and np.array_equal(cols, np.arange(n_units)) and math.sqrt(float(np.trace(cost)) / den) < tolerance:
            return angle
    return 360


def equivariance(model: LoadedModel, units: Sequence[UnitRef | str], kind: str, steps: int | None = None,
                 stimuli: torch.Tensor | np.ndarray | None = None, reduce: str = "centre",
                 hole_threshold: float = 1.0, max_scale: float = MAX_SCALE, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> EquivarianceResult:
    """Measure ``units`` under a transformation family and analyse it (see :func:`analyse`).

    ``stimuli``: images in [0, 1] (any size and channel count, see :func:`prepare`); default
    :func:`synthetic_stimuli` at the model's input size. ``max_scale``: the last zoom of a scale
    family (up to 8, for families whose units span layers, such as circles from small to large).
    """
    refs = [model.catalogue.unit(u) for u in units]
    if len(refs) < 2:
        raise UserError("an equivariance analysis needs at least two units")
    values = transform_values(kind, steps, max_scale)
    if kind == "hue" and model.in_channels != 3:
        raise UserError("hue rotation needs a colour model; this one takes grey images")
    if stimuli is None:
        stimuli = synthetic_stimuli(model.input_size[0], colour=model.in_channels == 3, kind=kind)
    ready = prepare(model, stimuli)
    responses = measure(model, refs, ready, kind, values, reduce, progress=progress, should_stop=should_stop)
    return analyse(responses, [str(r) for r in refs], kind, values, hole_threshold)
