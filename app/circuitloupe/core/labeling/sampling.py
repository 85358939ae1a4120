"""Stratified sampling by activation bins, as the Curve Detectors article sampled images.

Values are cut into bins of a fixed width (bin ``k`` holds ``k * width <= v < (k + 1) * width``);
up to ``per_bin`` candidates are drawn from each bin without replacement, and the chosen ones
are shuffled together, all from one seeded generator, so a plan always gives the same sample.

The width is the plan's choice (the article used 100 for mixed3b:379's pre-ReLU values) or, by
default, follows the unit's own scale: a round width (1, 2, 2.5 or 5 times a power of ten) that
cuts the observed range into about ``bins`` bins. Bins stay aligned on multiples of the width,
so 0, where the unit starts firing, is always an edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from circuitloupe.core.errors import UserError

OVER = ("positions", "images")
DEFAULT_BINS = 20  # about the article's resolution: bins of 100 over 3b:379's range of about -1000..950
FIRING_BINS = 4  # default bins cut the positive values into at least this many...
MAX_BINS_FACTOR = 5  # ...unless that takes more than this many times the bins asked for
_ROUND = (1.0, 2.0, 2.5, 5.0, 10.0)


def auto_bin_width(values: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """A round width (1, 2, 2.5 or 5 times a power of ten) cutting the range of ``values`` into
    at most about ``bins`` equal bins, narrower where needed so that the positive values (where
    the unit fires) span :data:`FIRING_BINS` bins, up to ``MAX_BINS_FACTOR * bins`` bins in all."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise UserError("no values fall inside the sampling range")
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else abs(high) or 1.0
    width = _round(span / bins, up=True)
    if high > 0 and high / width < FIRING_BINS:
        width = max(_round(high / FIRING_BINS, up=False), _round(span / (MAX_BINS_FACTOR * bins), up=True))
    return width


def _round(raw: float, up: bool) -> float:
    """The nearest round number (1, 2, 2.5, 5 times a power of ten) at or above (below) ``raw``."""
    power = 10.0 ** np.floor(np.log10(raw))
    steps = [step * power for step in _ROUND]
    if up:
        return float(next(step for step in steps if step >= raw * (1 - 1e-12)))
    return float([step for step in (0.5 * power, *steps) if step <= raw * (1 + 1e-12)][-1])


@dataclass(frozen=True)
class SamplingPlan:
    """How a labeling session picks what to show.

    ``over``: ``positions`` (every position of every image is a candidate, shown as its
    receptive-field crop) or ``images`` (one candidate per image: its maximum position).
    ``low``/``high`` limit the values considered (None: no limit). ``bin_width`` None: chosen
    from the values by :meth:`resolved`, about ``bins`` bins over their range.
    """

    bin_width: float | None = None
    per_bin: int = 50
    seed: int = 0
    over: str = "positions"
    low: float | None = None
    high: float | None = None
    bins: int = DEFAULT_BINS

    def __post_init__(self) -> None:
        if self.bin_width is not None and not self.bin_width > 0:
            raise UserError("the bin width must be positive")
        if self.bins < 2:
            raise UserError("ask for at least 2 bins")
        if self.per_bin < 1:
            raise UserError("the count per bin must be at least 1")
        if self.over not in OVER:
            raise UserError(f"sampling is over {' or '.join(OVER)}, not '{self.over}'")

    def to_json(self) -> dict:
        return asdict(self)

    def resolved(self, values: np.ndarray) -> SamplingPlan:
        """This plan with a bin width: its own, or one that follows ``values`` (within low/high)."""
        if self.bin_width is not None:
            return self
        values = np.asarray(values, dtype=np.float64).ravel()
        return replace(self, bin_width=auto_bin_width(values[self.considered(values)], self.bins))

    def considered(self, values: np.ndarray) -> np.ndarray:
        """Which of the (flat, float) ``values`` are finite and inside ``low``/``high``: a boolean mask."""
        keep = np.isfinite(values)
        if self.low is not None:
            keep &= values >= self.low
        if self.high is not None:
            keep &= values < self.high
        return keep

    @classmethod
    def from_json(cls, data: dict) -> SamplingPlan:
        return cls(**data)


def bin_of(values: np.ndarray, width: float) -> np.ndarray:
    """Integer bin number of each value: ``floor(value / width)``."""
    return np.floor(np.asarray(values, dtype=np.float64) / width).astype(np.int64)


def stratified_sample(values: np.ndarray, plan: SamplingPlan) -> np.ndarray:
    """Indices into ``values`` chosen per bin (up to ``plan.per_bin`` each), shuffled together
    (bins of the plan's width, or of :meth:`SamplingPlan.resolved`'s when it has none)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    plan = plan.resolved(values)
    candidates = np.flatnonzero(plan.considered(values))
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
