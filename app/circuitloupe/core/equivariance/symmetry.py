"""Do the weights between two analysed families transform with their units?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from circuitloupe.core.equivariance.analysis import EquivarianceResult
from circuitloupe.core.equivariance.transforms import transform
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.resample import affine_resample, rotation_thetas, zoom_theta
from circuitloupe.core.weights import circuit_weights

# --------------------------------------------------------------------------- weight symmetry

@dataclass
class WeightSymmetry:
    """Do the weights between two families transform with their units?

    For source units i and target units j mapped by π_src and π_dst, the expanded weight
    ``W[π_dst(j), π_src(i)]`` (actual) is compared with ``g(W[j, i])`` (predicted: the kernel
    rotated/flipped/zoomed by one step; unchanged for hue). ``errors[j, i]`` is their relative
    error (NaN where a unit is a hole); ``overall`` pools all pairs; ``baseline`` is the same
    error without transforming the kernel.
    """

    src_units: list[str]
    dst_units: list[str]
    kind: str
    step: float
    weights: np.ndarray = field(repr=False)  # [D, S, kh, kw]
    actual: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    errors: np.ndarray = field(repr=False)
    overall: float = float("nan")
    baseline: float = float("nan")

    def to_json(self) -> dict:
        return {"src_units": self.src_units, "dst_units": self.dst_units, "transform": self.kind,
                "step": self.step, "overall": self.overall, "baseline_untransformed": self.baseline,
                "pair_errors": [[None if math.isnan(e) else float(e) for e in row] for row in self.errors]}


def transform_kernel(kernel: np.ndarray, kind: str, value: float) -> np.ndarray:
    """One step of ``kind`` applied to a spatial kernel ``[..., kh, kw]`` (zero beyond it)."""
    if kind == "hue":
        return kernel
    tensor = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)).reshape(-1, 1, *kernel.shape[-2:])
    if kind == "rotate" and abs(value / 90 - round(value / 90)) > 1e-9:
        padded = F.pad(tensor, (1, 1, 1, 1))
        out = affine_resample(padded, rotation_thetas(value, padded.shape[-2:])[0], padding="zeros")[..., 1:-1, 1:-1]
    elif kind == "scale":
        out = affine_resample(tensor, zoom_theta(value), padding="zeros") / value ** 2
    else:
        out = transform(tensor, kind, value)
    return out.reshape(kernel.shape).numpy()


def weight_symmetry(model: LoadedModel, src: EquivarianceResult, dst: EquivarianceResult,
                    progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> WeightSymmetry:
    """Compare the expanded weights between two analysed families (same transformation) with
    their transformed copies; see :class:`WeightSymmetry`."""
    if src.kind != dst.kind or src.step != dst.step:
        raise UserError("weight symmetry needs two families analysed with the same transformation and steps")
    weights = circuit_weights(model, src.units, dst.units, progress=progress, should_stop=should_stop)
    return symmetry_of_weights(weights, src, dst)


def symmetry_of_weights(weights: np.ndarray, src: EquivarianceResult, dst: EquivarianceResult) -> WeightSymmetry:
    """:class:`WeightSymmetry` from a circuit grid ``weights[j, i]`` = kernel from src i into dst j."""
    d, s = weights.shape[:2]
    actual = np.zeros_like(weights)
    predicted = np.zeros_like(weights)
    errors = np.full((d, s), np.nan)
    num = den = base = 0.0
    for j in range(d):
        for i in range(s):
            pj, pi = dst.mapping[j], src.mapping[i]
            if pj is None or pi is None:
                continue
            actual[j, i] = weights[pj, pi]
            predicted[j, i] = transform_kernel(weights[j, i], src.kind, src.step)
            diff = float(((actual[j, i] - predicted[j, i]) ** 2).sum())
            scale = max(float((actual[j, i] ** 2).sum()), float((predicted[j, i] ** 2).sum()), 1e-24)
            errors[j, i] = math.sqrt(diff / scale)
            num += diff
            den += float((actual[j, i] ** 2).sum())
            base += float(((actual[j, i] - weights[j, i]) ** 2).sum())
    return WeightSymmetry(list(src.units), list(dst.units), src.kind, src.step, weights, actual, predicted, errors,
                          overall=math.sqrt(num / den) if den > 0 else float("nan"),
                          baseline=math.sqrt(base / den) if den > 0 else float("nan"))
