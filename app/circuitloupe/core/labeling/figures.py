"""Labeling result figures (matplotlib Agg -> PIL), shared by ``circuitloupe label stats`` and the pane.

All take a session's :class:`~circuitloupe.core.labeling.session.LabelResults` and its label set.
The x axes span the observed activations (not the outer bins' edges), and the headline gives a
share only when the bins support one (:func:`~circuitloupe.core.labeling.stats.bin_support`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.labeling.labelsets import LabelSet
from circuitloupe.core.labeling.session import LabelResults
from circuitloupe.core.labeling.stats import UNLABELLED, BinSupport, bin_support

UNLABELLED_COLOUR = "#eeeeee"
VIEWS = ("proportions", "density", "log-density", "expected", "results")


def support(results: LabelResults) -> BinSupport:
    """Whether the results' bins support expected-value shares, and the warnings to show."""
    return bin_support(results.dataset, results.numbers, results.counts)


def positive_summary(results: LabelResults, label_set: LabelSet) -> str:
    """The article's headline, e.g. ``curve + imperfect curve = 55%``, when the bins support a
    share; otherwise says there is none yet (empty without positive labels)."""
    names = label_set.positive_names()
    if not names:
        return ""
    if not support(results).supported:
        return f"{' + '.join(names)}: no share yet (the bins do not support one; see the warnings)"
    return f"{' + '.join(names)} = {results.positive_share:.0%}"


def step_edges(results: LabelResults) -> tuple[np.ndarray, np.ndarray]:
    """(x, rows): each labelled bin's two edges, clipped to the observed range, and the label
    proportions repeated to match ([2 * bins, labels]), for a stepped stacked area."""
    low, high = results.dataset.extent()
    edges = np.stack([results.numbers, results.numbers + 1], axis=1).ravel() * results.bin_width
    return np.clip(edges, low, high), np.repeat(results.proportions, 2, axis=0)


def x_range(results: LabelResults, positive_only: bool = False) -> tuple[float, float]:
    """The plots' x range: the observed values (from 0 for the expected-value plot), padded 2%."""
    low, high = results.dataset.extent()
    low = max(low, 0.0) if positive_only else low
    pad = 0.02 * (high - low) if high > low else 1.0
    return low - pad, high + pad


def proportions_figure(results: LabelResults, label_set: LabelSet, scale: float = 1.0) -> Image.Image:
    """Stacked area of label proportions per activation bin."""
    fig, ax = figures.new_plot(6.0, 3.2, scale)
    if len(results.numbers):
        x, rows = step_edges(results)
        ax.stackplot(x, rows.T, labels=results.names, colors=[label_set.colour(n) for n in results.names],
                     alpha=0.9)
    ax.set_xlim(*x_range(results))
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"activation (bins of {results.bin_width:g})")
    ax.set_ylabel("proportion of labels")
    ax.set_title(f"label proportions per activation bin ({int(results.counts.sum())} labelled)", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return figures.plot_to_image(fig)


def density_by_label_figure(results: LabelResults, label_set: LabelSet, log_y: bool = False,
                            scale: float = 1.0) -> Image.Image:
    """The dataset's probability density per bin, each bar split by its label proportions
    (bins without labelled items in light grey)."""
    fig, ax = figures.new_plot(6.0, 3.2, scale)
    density = results.dataset.density()
    _stacked_bars(ax, results, label_set, density)
    if log_y:
        ax.set_yscale("log")
        positive = density[density > 0]
        if positive.size:
            ax.set_ylim(positive.min() / 2, positive.max() * 2)
    ax.set_xlim(*x_range(results))
    ax.set_xlabel("activation")
    ax.set_ylabel("probability density" + (" (log)" if log_y else ""))
    ax.set_title("dataset density coloured by label proportion", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return figures.plot_to_image(fig)


def expected_value_figure(results: LabelResults, label_set: LabelSet, scale: float = 1.0) -> Image.Image:
    """``x * p(x)`` per bin split by label, with each label's share of the expected value."""
    fig, ax = figures.new_plot(6.0, 3.2, scale)
    supported = support(results).supported  # no percentages the bins cannot carry
    labels = {name: f"{name} {results.shares[name]:.0%}" if supported else name
              for name in (*results.names, UNLABELLED)}
    _stacked_bars(ax, results, label_set, results.dataset.expected_density(), labels, positive_only=True)
    ax.set_xlim(*x_range(results, positive_only=True))
    ax.set_xlabel("activation x")
    ax.set_ylabel("x · p(x)")
    headline = positive_summary(results, label_set) if supported else ""
    ax.set_title("contribution to expected value" + (f": {headline}" if headline else ""), fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return figures.plot_to_image(fig)


def results_figure(results: LabelResults, label_set: LabelSet, scale: float = 1.0) -> Image.Image:
    """The three result plots stacked: proportions, density by label, expected value by label."""
    parts = [proportions_figure(results, label_set, scale), density_by_label_figure(results, label_set, True, scale),
             expected_value_figure(results, label_set, scale)]
    return figures.stack(parts)


def view_figure(results: LabelResults, label_set: LabelSet, view: str = "results", scale: float = 1.0) -> Image.Image:
    """One of :data:`VIEWS`."""
    if view == "proportions":
        return proportions_figure(results, label_set, scale)
    if view in ("density", "log-density"):
        return density_by_label_figure(results, label_set, view == "log-density", scale)
    if view == "expected":
        return expected_value_figure(results, label_set, scale)
    if view == "results":
        return results_figure(results, label_set, scale)
    raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")


def bin_label_fractions(results: LabelResults) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per activation bin of the dataset: the bin centres, each label's share of the labelled
    samples there ([bins, labels + 1]; the last column, ``UNLABELLED``, is 1 in bins with no
    labelled sample) and the column names."""
    dataset = results.dataset
    centres = dataset.lows + dataset.width / 2
    row = {int(b): i for i, b in enumerate(results.numbers)}
    fractions = np.zeros((len(centres), len(results.names) + 1))
    for i, number in enumerate(dataset.numbers):
        if int(number) in row:
            fractions[i, :-1] = results.proportions[row[int(number)]]
        else:
            fractions[i, -1] = 1.0
    return centres, fractions, [*results.names, UNLABELLED]


def _stacked_bars(ax, results: LabelResults, label_set: LabelSet, heights: np.ndarray,
                  legend: dict[str, str] | None = None, positive_only: bool = False) -> None:
    width = results.dataset.width
    centres, fractions, names = bin_label_fractions(results)
    keep = centres > 0 if positive_only else np.ones(len(centres), bool)
    bottom = np.zeros(len(centres))
    for k, name in enumerate(names):
        part = heights * fractions[:, k]
        colour = UNLABELLED_COLOUR if name == UNLABELLED else label_set.colour(name)
        text = (legend or {}).get(name, name)
        ax.bar(centres[keep], part[keep], bottom=bottom[keep], width=width, color=colour, linewidth=0, label=text)
        bottom += part
    top = float(bottom[keep].max()) if keep.any() else 0.0
    if top > 0:
        ax.set_ylim(0, top * 1.05)
