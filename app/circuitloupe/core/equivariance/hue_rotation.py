"""Hue and rotation jointly: colour-contrast families where turning the hue by 180 degrees acts like
rotating by 180 degrees (Olah et al., "Naturally Occurring Equivariance", the colour-contrast units).

Every stimulus is hue-turned by each of H hue steps and rotated by each of A rotation steps:
``R[a, h, n, u]``. From that grid come the permutation of one rotation step (hue turns as extra
stimuli), of one hue step, of a half turn of each, and the **half-turn score**
``||F(rot180 x) - F(hue180 x)|| / ||F(rot180 x)||`` (responses standardised per unit), beside two
baselines: the identity (``F(x)`` in place of ``F(hue180 x)``: the family ignores the half turn) and
random permutations of the units. The chart places each unit at its preferred (orientation, hue) on
the orientation x hue torus, which wraps with the 180-degree shift: (θ, h) is (θ + 180, h + 180).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from circuitloupe.core.equivariance.analysis import EquivarianceResult, _normalise, analyse, measure
from circuitloupe.core.equivariance.transforms import (DEFAULT_GRID, HUE_ROTATION, prepare, synthetic_stimuli,
                                                        transform_values)
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

#: Half-turn score below which (and below half of both baselines) hue + 180° matches rotation + 180°.
MATCH_TOLERANCE = 0.3


@dataclass
class HueRotationResult:
    """The joint analysis (see the module docstring). ``rotation`` and ``hue`` analyse one step of
    each; ``rotation_half`` and ``hue_half`` the half turns (their ``mapping`` is the permutation a
    half turn induces). ``preferred[u]`` is the (rotation, hue turn) of the probe stimulus that
    excites unit u most, with the hue turn in [0, 180) (the other half of the torus is the same
    point turned by 180° in both); differences between units are their relative orientation and hue."""

    units: list[str]
    angles: list[float]
    hues: list[float]
    rotation: EquivarianceResult
    hue: EquivarianceResult
    rotation_half: EquivarianceResult
    hue_half: EquivarianceResult
    score: float
    baseline_identity: float
    baseline_random: float
    baseline_random_std: float
    probe: int
    preferred: list[tuple[float, float]]
    responses: np.ndarray = field(repr=False)  # R[a, h, n, u]

    kind = HUE_ROTATION

    @property
    def same_permutation(self) -> bool:
        return self.rotation_half.mapping == self.hue_half.mapping

    @property
    def matches(self) -> bool:
        """Whether hue + 180° acts like rotation + 180° on this family, clearly better than both baselines."""
        return bool(self.score <= MATCH_TOLERANCE and self.score < 0.5 * min(self.baseline_identity,
                                                                              self.baseline_random))

    def chart(self) -> np.ndarray:
        """``[U, H, A]``: each unit's standardised response to the probe, hue (rows) x rotation (columns)."""
        a, h, n, u = self.responses.shape
        norm = _normalise(self.responses.reshape(a * h, n, u)).reshape(a, h, n, u)
        return norm[:, :, self.probe, :].transpose(2, 1, 0)

    def to_json(self) -> dict:
        """A JSON-ready summary: the step and half-turn permutations, the half-turn score and the chart."""
        return {
            "units": self.units, "transform": HUE_ROTATION, "angles": self.angles, "hues": self.hues,
            "rotation": self.rotation.to_json(), "hue": self.hue.to_json(),
            "half_turns": {"rotation_180": self.rotation_half.mapped_units(),
                           "hue_180": self.hue_half.mapped_units(),
                           "same_permutation": self.same_permutation, "matches": self.matches},
            "score": self.score,
            "baselines": {"identity": self.baseline_identity, "random": self.baseline_random,
                          "random_std": self.baseline_random_std},
            "probe_stimulus": self.probe,
            "preferred": {u: {"rotation": o, "hue": h} for u, (o, h) in zip(self.units, self.preferred)},
            "chart": self.chart().round(6).tolist(),
        }


def grid_values(steps: Sequence[int] | None = None) -> tuple[list[float], list[float]]:
    """The rotation angles and hue turns of an ``(A, H)`` grid; both must be even (180° is a step)."""
    rotations, hues = DEFAULT_GRID if not steps else (tuple(steps) * 2)[:2]
    for name, count in (("rotation", rotations), ("hue", hues)):
        if count < 2 or count % 2:
            raise UserError(f"hue_rotation needs an even number of {name} steps (so that 180° is one), not {count}")
    return transform_values("rotate", rotations), transform_values("hue", hues)


def analyse_hue_rotation(responses: np.ndarray, units: Sequence[str], angles: Sequence[float],
                         hues: Sequence[float], hole_threshold: float = 1.0, random_trials: int = 200,
                         seed: int = 0) -> HueRotationResult:
    """The joint analysis of responses ``R[a, h, n, u]`` (see the module docstring)."""
    a_steps, h_steps, n, u = responses.shape
    if (a_steps, h_steps) != (len(angles), len(hues)) or u != len(units):
        raise ValueError("responses must be [rotations, hues, stimuli, units]")
    units = [str(x) for x in units]
    norm = _normalise(responses.reshape(a_steps * h_steps, n, u)).reshape(a_steps, h_steps, n, u)
    rotation = analyse(responses.reshape(a_steps, h_steps * n, u), units, "rotate", angles, hole_threshold)
    hue = analyse(responses.transpose(1, 0, 2, 3).reshape(h_steps, a_steps * n, u), units, "hue", hues,
                  hole_threshold)
    rotated = np.roll(norm, -(a_steps // 2), axis=0)  # rotated[a, h] = R[a + 180°, h]
    turned = np.roll(norm, -(h_steps // 2), axis=1)  # turned[a, h] = R[a, h + 180°]
    flat = norm.reshape(-1, u)
    rotation_half = analyse(np.stack([flat, rotated.reshape(-1, u)]), units, "rotate", [0.0, 180.0], hole_threshold)
    hue_half = analyse(np.stack([flat, turned.reshape(-1, u)]), units, "hue", [0.0, 180.0], hole_threshold)
    energy = float((rotated ** 2).sum()) or 1.0

    def error(other: np.ndarray) -> float:
        return float(np.sqrt(((rotated - other) ** 2).sum() / energy))

    rng = np.random.default_rng(seed)
    randoms = [error(turned[..., rng.permutation(u)]) for _ in range(random_trials)]
    # The probe: the stimulus with the sharpest peaks over the grid, as for one transformation.
    probe = int(np.argmax((norm.max(axis=(0, 1)) - norm.mean(axis=(0, 1))).sum(axis=1)))
    preferred = []
    for k in range(u):
        a, h = np.unravel_index(int(np.argmax(norm[:, :, probe, k])), (a_steps, h_steps))
        orientation, hue_angle = float(angles[a]), float(hues[h])
        if hue_angle >= 180.0:  # the same point of the torus: (θ, h) = (θ + 180, h + 180)
            orientation, hue_angle = (orientation + 180.0) % 360.0, hue_angle - 180.0
        preferred.append((orientation, hue_angle))
    return HueRotationResult(
        units=units, angles=[float(x) for x in angles], hues=[float(x) for x in hues], rotation=rotation, hue=hue,
        rotation_half=rotation_half, hue_half=hue_half, score=error(turned), baseline_identity=error(norm),
        baseline_random=float(np.mean(randoms)), baseline_random_std=float(np.std(randoms)), probe=probe,
        preferred=preferred, responses=responses)


def hue_rotation(model: LoadedModel, units: Sequence[UnitRef | str], steps: Sequence[int] | None = None,
                 stimuli: torch.Tensor | np.ndarray | None = None, reduce: str = "centre",
                 hole_threshold: float = 1.0, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> HueRotationResult:
    """Measure ``units`` over every rotation x hue step (``steps`` = (A, H), default 8 x 8) and
    analyse them jointly. ``stimuli`` default: the grey synthetic shapes and faint colour edges."""
    refs = [model.catalogue.unit(x) for x in units]
    if len(refs) < 2:
        raise UserError("an equivariance analysis needs at least two units")
    if model.in_channels != 3:
        raise UserError("hue rotation needs a colour model; this one takes grey images")
    angles, hues = grid_values(steps)
    if stimuli is None:  # saturated colours would clip when their hue turns: grey shapes and faint colour edges
        stimuli = synthetic_stimuli(model.input_size[0], colour=False, kind=HUE_ROTATION)
    grid = [(a, h) for a in angles for h in hues]
    responses = measure(model, refs, prepare(model, stimuli), HUE_ROTATION, grid, reduce, progress=progress,
                        should_stop=should_stop)
    responses = responses.reshape(len(angles), len(hues), *responses.shape[1:])
    return analyse_hue_rotation(responses, [str(r) for r in refs], angles, hues, hole_threshold)
