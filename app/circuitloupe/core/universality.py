"""Universality, side by side: the curve families of several models, matched by radial tuning.

Zoom In's third claim is that the same features form in different networks. For curve detectors
the test is concrete: sweep each model's curve layer (:func:`curve_finder.find_curves`), then
match every unit of one model's family to a unit of another's by the circular cross-correlation
of their radial tuning curves (each curve zero-mean, unit-norm, so the correlation is 1 for
identical shapes). Units are paired by the assignment that maximises the correlation at zero lag
(Hungarian algorithm); a pair counts as a match when that correlation reaches ``min_correlation``
and their preferred orientations lie within ``max_offset_deg``. The lag of the correlation peak
says how far one curve is turned against the other. Coverage is reported per 45-degree sector:
which orientations each family has a detector for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from circuitloupe.core.curve_finder import CurveSearch
from circuitloupe.core.tuning import RadialTuning

SECTORS = 8  # 45-degree sectors for coverage


def circular_correlation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Normalised circular cross-correlation: ``c[k] = sum_i p[i] q[i + k]`` for zero-mean,
    unit-norm ``p`` and ``q`` (1 at lag k when q is p turned by k samples)."""
    p = _normalised(p)
    q = _normalised(q)
    return np.real(np.fft.ifft(np.conj(np.fft.fft(p)) * np.fft.fft(q)))


def _normalised(profile: np.ndarray) -> np.ndarray:
    centred = np.asarray(profile, dtype=np.float64) - np.mean(profile)
    norm = np.linalg.norm(centred)
    return centred / norm if norm > 0 else centred


def angle_difference(a: float, b: float) -> float:
    """``b - a`` in degrees, wrapped to (-180, 180]."""
    d = (b - a) % 360.0
    return d - 360.0 if d > 180.0 else d


@dataclass(frozen=True)
class UnitMatch:
    """Unit ``a`` of one family paired with unit ``b`` of another."""

    a: str
    b: str
    correlation: float  # at zero lag
    peak_correlation: float  # at the best lag
    lag_deg: float  # how far b's tuning curve is turned against a's
    offset_deg: float  # preferred(b) - preferred(a)
    matched: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def match_families(a: Sequence[RadialTuning], b: Sequence[RadialTuning], min_correlation: float = 0.7,
                   max_offset_deg: float = 30.0) -> list[UnitMatch]:
    """Pair the units of two families by radial tuning (see the module docstring)."""
    from scipy.optimize import linear_sum_assignment

    if not a or not b:
        return []
    step = float(a[0].angles[1] - a[0].angles[0]) if len(a[0].angles) > 1 else 1.0
    xcorr = np.array([[circular_correlation(ta.profile, tb.profile) for tb in b] for ta in a])
    rows, cols = linear_sum_assignment(-xcorr[:, :, 0])
    matches = []
    for i, j in zip(rows, cols):
        lag = int(np.argmax(xcorr[i, j]))
        lag_deg = angle_difference(0.0, lag * step)
        offset = angle_difference(a[i].preferred, b[j].preferred)
        zero = float(xcorr[i, j, 0])
        matches.append(UnitMatch(a[i].unit, b[j].unit, zero, float(xcorr[i, j, lag]), lag_deg, offset,
                                 zero >= min_correlation and abs(offset) <= max_offset_deg))
    return sorted(matches, key=lambda m: next(t.preferred for t in a if t.unit == m.a))


def coverage(preferred: Sequence[float], sectors: int = SECTORS) -> list[int]:
    """How many units prefer an orientation in each ``360 / sectors``-degree sector (from 0)."""
    counts = np.zeros(sectors, dtype=int)
    for angle in preferred:
        counts[int((angle % 360.0) // (360.0 / sectors))] += 1
    return counts.tolist()


@dataclass
class Comparison:
    """Each model's curve search, and the matches of every later model's family to the first's."""

    searches: list[CurveSearch]
    matches: dict[str, list[UnitMatch]]  # "model_i -> model_j" for each pair
    min_correlation: float
    max_offset_deg: float

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = []
        for search in self.searches:
            preferred = [s.preferred for s in search.family]
            rows.append({"model": search.model, "layer": search.layer, "family": len(search.family),
                         "candidates": len(search.candidates), "units": len(search.scores),
                         "coverage": coverage(preferred), "coverage_gap_deg": search.coverage_gap(),
                         "preferred_deg": [round(p, 1) for p in preferred]})
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"sectors_deg": [360 / SECTORS * k for k in range(SECTORS)],
                "min_correlation": self.min_correlation, "max_offset_deg": self.max_offset_deg,
                "models": self.summary_rows(),
                "families": {s.model: [str(u) for u in s.family_units()] for s in self.searches},
                "matches": {pair: [m.as_dict() for m in found] for pair, found in self.matches.items()},
                "matched": {pair: sum(m.matched for m in found) for pair, found in self.matches.items()}}


def compare(searches: Sequence[CurveSearch], min_correlation: float = 0.7,
            max_offset_deg: float = 30.0) -> Comparison:
    """Match every pair of families (each model against each later one)."""
    matches = {}
    for i, first in enumerate(searches):
        for second in searches[i + 1:]:
            matches[f"{first.model} -> {second.model}"] = match_families(first.tunings, second.tunings,
                                                                          min_correlation, max_offset_deg)
    return Comparison(list(searches), matches, min_correlation, max_offset_deg)


def comparison_figure(comparison: Comparison, scale: float = 1.0):
    """One row per model: its family's radial tuning curves (each scaled to its peak, coloured by
    preferred orientation) over 0-360 degrees, the covered 45-degree sectors shaded, and a line
    from each unit's peak to its match in the row below."""
    from matplotlib.patches import ConnectionPatch

    from circuitloupe.core.figures import new_plot, plot_to_image
    from circuitloupe.core.tuning import hue_colour

    rows = len(comparison.searches)
    fig, _ = new_plot(7.5, 1.7 * rows + 0.6, scale)
    fig.clear()
    axes = np.atleast_1d(fig.subplots(rows, 1, sharex=True))
    peaks: list[dict[str, tuple[float, float]]] = []
    for ax, search, row in zip(axes, comparison.searches, comparison.summary_rows()):
        width = 360.0 / SECTORS
        for sector, count in enumerate(row["coverage"]):
            if count:
                ax.axvspan(sector * width, (sector + 1) * width, color="0.92", zorder=0)
        found = {}
        for t in search.tunings:
            profile = t.profile / t.profile.max() if t.profile.max() > 0 else t.profile
            ax.plot(t.angles, profile, color=hue_colour(t.preferred), linewidth=1.2)
            found[t.unit] = (t.preferred, 1.0)
        peaks.append(found)
        ax.set_xlim(0, 360)
        ax.set_ylim(0, 1.15)
        ax.set_xticks(range(0, 361, 45))
        ax.tick_params(labelsize=7)
        ax.set_ylabel(f"{search.model}\n{search.layer}", fontsize=7)
        ax.set_title(f"{len(search.family)} curve units, {sum(1 for c in row['coverage'] if c)} of {SECTORS} "
                     f"sectors covered", fontsize=8, loc="left")
    axes[-1].set_xlabel("preferred orientation (degrees); shaded: 45-degree sectors with a detector", fontsize=8)
    for i in range(rows - 1):
        pair = f"{comparison.searches[i].model} -> {comparison.searches[i + 1].model}"
        for m in comparison.matches.get(pair, []):
            if m.matched and m.a in peaks[i] and m.b in peaks[i + 1]:
                fig.add_artist(ConnectionPatch(peaks[i][m.a], peaks[i + 1][m.b], "data", "data", axesA=axes[i],
                                               axesB=axes[i + 1], color="0.35", linewidth=0.8, linestyle=":"))
    fig.tight_layout()
    return plot_to_image(fig)
