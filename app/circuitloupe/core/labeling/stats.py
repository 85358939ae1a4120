"""Label-by-activation statistics (numpy only): proportions per bin, expected-value shares, agreement.

A session's items are a stratified sample, so label proportions are measured per activation
bin and then weighted by the full dataset's distribution in the same bins
(:class:`DatasetBins`): the share of the unit's expected (post-ReLU) output that each label
carries is ``sum_b S_b * P_b(label) / sum_b S_b`` with ``S_b`` the sum of ``max(x, 0)`` over
all dataset values in bin ``b`` (i.e. ``N * x * p(x) * width``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from circuitloupe.core.labeling.sampling import bin_of

UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class DatasetBins:
    """The whole dataset's values in bins of ``width``: bin ``first + i`` has ``counts[i]``
    values whose positive parts sum to ``relu_sums[i]``."""

    width: float
    first: int
    counts: np.ndarray
    relu_sums: np.ndarray

    @classmethod
    def from_values(cls, values: np.ndarray, width: float) -> DatasetBins:
        values = np.asarray(values, dtype=np.float64).ravel()
        bins = bin_of(values, width)
        first = int(bins.min()) if bins.size else 0
        count = int(bins.max()) - first + 1 if bins.size else 0
        counts = np.bincount(bins - first, minlength=count)
        sums = np.bincount(bins - first, weights=np.maximum(values, 0), minlength=count)
        return cls(float(width), first, counts.astype(np.int64), sums.astype(np.float64))

    @property
    def numbers(self) -> np.ndarray:
        """Bin numbers, one per count."""
        return np.arange(self.first, self.first + len(self.counts))

    @property
    def lows(self) -> np.ndarray:
        return self.numbers * self.width

    def density(self) -> np.ndarray:
        """Probability density per bin (integrates to 1)."""
        total = self.counts.sum()
        return self.counts / (total * self.width) if total else self.counts.astype(float)

    def to_json(self) -> dict:
        return {"width": self.width, "first": self.first, "counts": self.counts.tolist(),
                "relu_sums": self.relu_sums.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> DatasetBins:
        return cls(float(data["width"]), int(data["first"]), np.asarray(data["counts"], np.int64),
                   np.asarray(data["relu_sums"], np.float64))


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
