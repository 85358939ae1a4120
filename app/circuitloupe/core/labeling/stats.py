"""Label-by-activation statistics (numpy only): proportions per bin, expected-value shares, agreement.

A session's items are a stratified sample, so label proportions are measured per activation
bin and then weighted by the full dataset's distribution in the same bins
(:class:`DatasetBins`): the share of the unit's expected (post-ReLU) output that each label
carries is ``sum_b S_b * P_b(label) / sum_b S_b`` with ``S_b`` the sum of ``max(x, 0)`` over
all dataset values in bin ``b`` (i.e. ``N * x * p(x) * width``).

Those shares mean something only when the bins resolve the firing range and hold enough
labels: :func:`bin_support` says when they do not, and why, in words the pane and the CLI show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from circuitloupe.core.labeling.sampling import bin_of

UNLABELLED = "unlabelled"
MIN_LABELS = 5  # labelled items a bin needs before its label proportions count
MIN_FIRING_BINS = 3  # bins the positive values must span for shares of x * p(x) to resolve anything
MAX_THIN_SHARE = 0.1  # most of the expected value that may sit in bins with too few labels


@dataclass(frozen=True)
class DatasetBins:
    """The whole dataset's values in bins of ``width``: bin ``first + i`` has ``counts[i]``
    values whose positive parts sum to ``relu_sums[i]``; ``low``/``high`` are the smallest and
    largest value (None in sessions made before they were kept)."""

    width: float
    first: int
    counts: np.ndarray
    relu_sums: np.ndarray
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_values(cls, values: np.ndarray, width: float) -> DatasetBins:
        values = np.asarray(values, dtype=np.float64).ravel()
        bins = bin_of(values, width)
        first = int(bins.min()) if bins.size else 0
        count = int(bins.max()) - first + 1 if bins.size else 0
        counts = np.bincount(bins - first, minlength=count)
        sums = np.bincount(bins - first, weights=np.maximum(values, 0), minlength=count)
        low, high = (float(values.min()), float(values.max())) if values.size else (None, None)
        return cls(float(width), first, counts.astype(np.int64), sums.astype(np.float64), low, high)

    @property
    def numbers(self) -> np.ndarray:
        """Bin numbers, one per count."""
        return np.arange(self.first, self.first + len(self.counts))

    @property
    def lows(self) -> np.ndarray:
        return self.numbers * self.width

    def extent(self) -> tuple[float, float]:
        """The range plots show: the observed values, else (older sessions) the bins' edges."""
        if self.low is not None and self.high is not None and self.high > self.low:
            return self.low, self.high
        return float(self.first * self.width), float((self.first + len(self.counts)) * self.width)

    def density(self) -> np.ndarray:
        """Probability density per bin (integrates to 1)."""
        total = self.counts.sum()
        return self.counts / (total * self.width) if total else self.counts.astype(float)

    def expected_density(self) -> np.ndarray:
        """Each bin's contribution to the expected post-ReLU value, ``x * p(x)`` (its mean over the bin)."""
        total = self.counts.sum()
        return self.relu_sums / (total * self.width) if total else self.relu_sums.astype(float)

    def to_json(self) -> dict:
        return {"width": self.width, "first": self.first, "counts": self.counts.tolist(),
                "relu_sums": self.relu_sums.tolist(), "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: dict) -> DatasetBins:
        low, high = data.get("low"), data.get("high")
        return cls(float(data["width"]), int(data["first"]), np.asarray(data["counts"], np.int64),
                   np.asarray(data["relu_sums"], np.float64), None if low is None else float(low),
                   None if high is None else float(high))


def label_counts(bins: Sequence[int], labels: Sequence[str | None],
                 names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted bin numbers that have labelled items, counts [bins, len(names)]); None labels
    (skips) are left out."""
    pairs = [(b, names.index(l)) for b, l in zip(bins, labels) if l is not None and l in names]
    numbers = np.array(sorted({b for b, _ in pairs}), dtype=np.int64)
    counts = np.zeros((len(numbers), len(names)), np.int64)
    where = {b: i for i, b in enumerate(numbers)}
    for b, k in pairs:
        counts[where[b], k] += 1
    return numbers, counts


def proportions(counts: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` normalised to sum to 1 (rows of zeros stay zero)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)


def expected_value_shares(dataset: DatasetBins, numbers: np.ndarray, props: np.ndarray,
                          names: Sequence[str]) -> dict[str, float]:
    """Each label's share of the expected post-ReLU value, plus ``unlabelled`` for bins with
    positive values but no labelled items. Shares sum to 1 (all 0 if nothing is positive)."""
    total = float(dataset.relu_sums.sum())
    shares = {name: 0.0 for name in names}
    shares[UNLABELLED] = 0.0
    if total <= 0:
        return shares
    row = {int(b): i for i, b in enumerate(numbers)}
    for number, weight in zip(dataset.numbers, dataset.relu_sums):
        if weight <= 0:
            continue
        if int(number) in row:
            for k, name in enumerate(names):
                shares[name] += float(weight * props[row[int(number)], k] / total)
        else:
            shares[UNLABELLED] += float(weight / total)
    return shares


@dataclass(frozen=True)
class BinSupport:
    """Whether the bins carry the expected-value shares (``supported``), and what to warn about."""

    firing_bins: int
    thin_bins: int
    thin_share: float
    supported: bool
    warnings: tuple[str, ...]


def bin_support(dataset: DatasetBins, numbers: np.ndarray, counts: np.ndarray) -> BinSupport:
    """Shares are supported when the firing values span at least :data:`MIN_FIRING_BINS` bins
    and the "thin" bins, those with fewer than :data:`MIN_LABELS` labelled items (or fewer than
    all their values, when they hold fewer), carry at most :data:`MAX_THIN_SHARE` of the
    expected value. Every thin bin is warned about."""
    labelled = dict(zip(map(int, numbers), map(int, np.asarray(counts).sum(axis=1)))) if len(numbers) else {}
    firing = int((dataset.relu_sums > 0).sum())
    total = float(dataset.relu_sums.sum())
    thin = np.array([labelled.get(int(b), 0) < min(MIN_LABELS, int(c))
                     for b, c in zip(dataset.numbers, dataset.counts)], bool)
    thin_share = float(dataset.relu_sums[thin].sum() / total) if total > 0 else 0.0
    warnings = []
    if total <= 0:
        warnings.append("no value in the dataset is positive: the unit never fires, so there is no expected value "
                        "to share out")
    elif firing < MIN_FIRING_BINS:
        warnings.append(f"the firing values (0 .. {dataset.extent()[1]:.3g}) fall in {firing} bin(s) of "
                        f"{dataset.width:g}: too coarse for label shares; sample a new session with narrower bins "
                        "(the default bins follow the data)")
    if thin.any():
        warnings.append(f"{int(thin.sum())} of {len(thin)} bins hold fewer than {MIN_LABELS} labelled items; they "
                        f"carry {thin_share:.0%} of the expected value")
    supported = total > 0 and firing >= MIN_FIRING_BINS and thin_share <= MAX_THIN_SHARE
    return BinSupport(firing, int(thin.sum()), thin_share, supported, tuple(warnings))


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two labellers' answers to the same items (None when undefined)."""
    a, b = list(a), list(b)
    if not a or len(a) != len(b):
        return None
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / n
    categories = set(a) | set(b)
    expected = sum((a.count(c) / n) * (b.count(c) / n) for c in categories)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement(a: Sequence[str], b: Sequence[str], names: Sequence[str]) -> dict:
    """Agreement of two labellers over the same items: overall percent and kappa, and per
    label the percent agreement and kappa of "this label or not"."""
    n = len(a)
    result = {"items": n, "percent": 100.0 * sum(x == y for x, y in zip(a, b)) / n if n else None,
              "kappa": cohen_kappa(a, b), "per_label": {}}
    for name in names:
        xa, xb = [x == name for x in a], [y == name for y in b]
        result["per_label"][name] = {
            "percent": 100.0 * sum(x == y for x, y in zip(xa, xb)) / n if n else None,
            "kappa": cohen_kappa(xa, xb), "count_a": sum(xa), "count_b": sum(xb)}
    return result
