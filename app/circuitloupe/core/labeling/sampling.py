"""Stratified sampling by activation bins, as the Curve Detectors article sampled images.

Values are cut into bins of a fixed width (bin ``k`` holds ``k * width <= v < (k + 1) * width``);
up to ``per_bin`` candidates are drawn from each bin without replacement, and the chosen ones
are shuffled together, all from one seeded generator, so a plan always gives the same sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from circuitloupe.core.errors import UserError

OVER = ("positions", "images")


@dataclass(frozen=True)
class SamplingPlan:
    """How a labeling session picks what to show.

    ``over``: ``positions`` (every position of every image is a candidate, shown as its
    receptive-field crop) or ``images`` (one candidate per image: its maximum position).
    ``low``/``high`` limit the values considered (None: no limit).
    """

    bin_width: float = 100.0
    per_bin: int = 50
    seed: int = 0
    over: str = "positions"
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if not self.bin_width > 0:
            raise UserError("the bin width must be positive")
        if self.per_bin < 1:
            raise UserError("the count per bin must be at least 1")
        if self.over not in OVER:
            raise UserError(f"sampling is over {' or '.join(OVER)}, not '{self.over}'")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SamplingPlan:
        return cls(**data)


def bin_of(values: np.ndarray, width: float) -> np.ndarray:
    """Integer bin number of each value: ``floor(value / width)``."""
    return np.floor(np.asarray(values, dtype=np.float64) / width).astype(np.int64)


def stratified_sample(values: np.ndarray, plan: SamplingPlan) -> np.ndarray:
    """Indices into ``values`` chosen per bin (up to ``plan.per_bin`` each), shuffled together."""
    values = np.asarray(values, dtype=np.float64).ravel()
    keep = np.ones(values.shape, bool)
    if plan.low is not None:
        keep &= values >= plan.low
    if plan.high is not None:
        keep &= values < plan.high
    candidates = np.flatnonzero(keep)
    rng = np.random.default_rng(plan.seed)
    bins = bin_of(values[candidates], plan.bin_width)
    order = np.argsort(bins, kind="stable")
    bins, candidates = bins[order], candidates[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]]) if bins.size else np.array([], int)
    ends = np.r_[starts[1:], bins.size]
    chosen = [rng.choice(candidates[s:e], size=min(plan.per_bin, e - s), replace=False)
              for s, e in zip(starts, ends)]
    picked = np.concatenate(chosen) if chosen else np.array([], np.int64)
    return rng.permutation(picked)
