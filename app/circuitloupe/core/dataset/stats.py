"""Statistics of one unit's values over a dataset (numpy only).

Values are pre-ReLU activations at every position of every image, as the Curve Detectors
article used them: the distribution and its firing fraction, the exponential fit of the
positive tail, the expected-value contribution ``x * p(x)``, and which positions to show as
top, bottom and "quilt" examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class ExponentialFit:
    """``p(x) = fraction * rate * exp(-rate * (x - threshold))`` for ``x > threshold``.

    ``rate`` is the maximum-likelihood rate (1 / mean excess over the threshold), in
    1 / activation units; ``fraction`` the share of all values above the threshold.
    """

    rate: float
    fraction: float
    threshold: float
    count: int

    @property
    def scale(self) -> float:
        """Mean excess over the threshold (1 / rate), in activation units."""
        return 1.0 / self.rate

    def density(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > self.threshold, self.fraction * self.rate * np.exp(-self.rate * (x - self.threshold)), 0.0)


@dataclass(frozen=True)
class Position:
    """One position of one image: index into the cache's images, row, column and value."""

    image: int
    y: int
    x: int
    value: float


def describe(values: np.ndarray) -> dict[str, float]:
    """count, mean, std, min, max, fraction firing (> 0) and percentiles of ``values``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return {"count": 0}
    out = {"count": int(values.size), "mean": float(values.mean()), "std": float(values.std()),
           "min": float(values.min()), "max": float(values.max()),
           "fraction_firing": float((values > 0).mean())}
    for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES)):
        out[f"p{p}"] = float(v)
    return out


def exponential_tail_fit(values: np.ndarray, threshold: float = 0.0) -> ExponentialFit | None:
    """Maximum-likelihood exponential fit of the values above ``threshold`` (None if fewer than 2)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    tail = values[values > threshold] - threshold
    if tail.size < 2 or tail.mean() <= 0:
        return None
    return ExponentialFit(float(1.0 / tail.mean()), float(tail.size / values.size), float(threshold), int(tail.size))


def histogram(values: np.ndarray, bins: int | np.ndarray = 100,
              value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(edges [bins + 1], probability density [bins]) of ``values``; the density integrates to 1."""
    values = np.asarray(values, dtype=np.float64).ravel()
    density, edges = np.histogram(values, bins=bins, range=value_range, density=values.size > 0)
    return edges, density


def expected_value_density(values: np.ndarray, bins: int | np.ndarray = 100,
                           value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, ``x * p(x)`` per bin) for the post-ReLU value ``max(x, 0)``.

    The sum of ``x * p(x) * bin width`` over bins is the mean post-ReLU activation (up to
    binning): it shows which activation ranges carry the unit's expected output.
    """
    edges, density = histogram(values, bins, value_range)
    centres = (edges[:-1] + edges[1:]) / 2
    return centres, np.maximum(centres, 0) * density


def extreme_positions(maps: np.ndarray, k: int, bottom: bool = False) -> list[Position]:
    """The ``k`` images with the largest maximum (or, with ``bottom``, the smallest minimum),
    each at its extreme position: one example per image, best first. ``maps``: [N, H, W]."""
    n = maps.shape[0]
    if n == 0 or k <= 0:
        return []
    flat = maps.reshape(n, -1)
    where = flat.argmin(axis=1) if bottom else flat.argmax(axis=1)
    best = flat[np.arange(n), where]
    order = np.argsort(best, kind="stable")
    order = order[:k] if bottom else order[::-1][:k]
    w = maps.shape[2]
    return [Position(int(i), int(where[i] // w), int(where[i] % w), float(best[i])) for i in order]


def quilt_positions(maps: np.ndarray, ranges: int = 8, per_range: int = 8, seed: int = 0,
                    value_range: tuple[float, float] | None = None) -> list[tuple[float, float, list[Position]]]:
    """Examples arranged by activation range: ``ranges`` equal-width ranges over the values,
    highest first, each with up to ``per_range`` random positions whose value falls in it
    (preferring distinct images). Returns [(low, high, positions)]."""
    n, h, w = maps.shape
    flat = maps.ravel()
    if flat.size == 0:
        return []
    lo, hi = value_range if value_range is not None else (float(flat.min()), float(flat.max()))
    edges = np.linspace(lo, hi, ranges + 1)
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(ranges - 1, -1, -1):
        last = r == ranges - 1
        inside = np.flatnonzero((flat >= edges[r]) & ((flat <= edges[r + 1]) if last else (flat < edges[r + 1])))
        rng.shuffle(inside)
        picked, seen = [], set()
        for idx in inside:
            image = int(idx // (h * w))
            if image in seen:
                continue
            seen.add(image)
            picked.append(int(idx))
            if len(picked) == per_range:
                break
        positions = [Position(int(i // (h * w)), int(i % (h * w) // w), int(i % w), float(flat[i])) for i in picked]
        rows.append((float(edges[r]), float(edges[r + 1]), positions))
    return rows
