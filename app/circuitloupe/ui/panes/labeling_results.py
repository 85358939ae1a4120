"""The Labeling pane's Results tab: headline, warnings, the three plots and labeller agreement.

The plots follow the data (x axes span the observed activations) and show per-label shares of
the expected value only when the bins support them, as the CLI's figures do.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from circuitloupe.core.labeling.controller import LabelingController
from circuitloupe.core.labeling.figures import bin_label_fractions, step_edges, x_range
from circuitloupe.core.labeling.session import LabelResults

UNLABELLED_COLOUR = "#dddddd"
WARNING_COLOUR = "#b35806"


class LabelResultsView(QWidget):
    """Shows one labeller's :class:`LabelResults` (see :meth:`show_results`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proportion_plot = _plot("label proportion per activation bin", "proportion")
        self.density_plot = _plot("dataset density coloured by label", "density")
        self.expected_plot = _plot("contribution to expected value", "x · p(x)")
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet(f"color: {WARNING_COLOUR};")
        self.warnings.setToolTip("Why the expected-value shares cannot be read yet")
        self.agreement_note = QLabel("")
        self.agreement_note.setWordWrap(True)
        self.agreement = QTableWidget()
        self.agreement.setMinimumHeight(40)
        self.agreement.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.agreement.setToolTip("Agreement between labellers on items both labelled: percent and Cohen's kappa, "
                                  "overall and per label (that label or not)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.warnings)
        plots = QHBoxLayout()
        for plot in (self.proportion_plot, self.density_plot, self.expected_plot):
            plots.addWidget(plot)
        layout.addLayout(plots, 2)
        layout.addWidget(self.agreement_note)
        layout.addWidget(self.agreement, 1)

    def show_results(self, controller: LabelingController, results: LabelResults) -> None:
        label_set = controller.session.label_set
        support = controller.support(results)
        self.headline.setText(controller.headline(results))
        self.warnings.setText("\n".join(f"⚠ {w}" for w in support.warnings))
        self.warnings.setVisible(bool(support.warnings))
        for plot in (self.proportion_plot, self.density_plot, self.expected_plot):
            plot.clear()
            plot.getPlotItem().legend.clear()
        if len(results.numbers):
            edges, rows = step_edges(results)
            bottom = np.zeros(len(edges))
            for k, name in enumerate(results.names):
                top = bottom + rows[:, k]
                colour = label_set.colour(name)
                fill = pg.FillBetweenItem(pg.PlotCurveItem(edges, bottom), pg.PlotCurveItem(edges, top),
                                          brush=pg.mkBrush(colour))
                self.proportion_plot.addItem(fill)
                self.proportion_plot.getPlotItem().legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=1,
                                                                                  brush=colour), name)
                bottom = top
        colours = {name: label_set.colour(name) for name in results.names}
        _stacked(self.density_plot, results, colours, results.dataset.density(), False, {})
        shares = {name: f" {share:.0%}" for name, share in results.shares.items()} if support.supported else {}
        _stacked(self.expected_plot, results, colours, results.dataset.expected_density(), True, shares)
        for plot, positive_only in ((self.proportion_plot, False), (self.density_plot, False),
                                    (self.expected_plot, True)):
            plot.setXRange(*x_range(results, positive_only), padding=0)
        self._fill_agreement(controller)

    def _fill_agreement(self, controller: LabelingController) -> None:
        session, me = controller.session, controller.labeller
        labellers = session.labellers()
        others = [name for name in labellers if name != me]
        names = session.label_set.names
        self.agreement.clear()
        shown = me in labellers and bool(others)
        self.agreement.setVisible(shown)
        self.agreement_note.setText(f"Agreement of {me} with the other labellers of this session:" if shown else
                                    "Agreement appears when a second labeller (Options › Labeller) has labelled "
                                    "items of this session too.")
        if not shown:
            return
        pairs = [session.agreement(me, other) for other in others]
        self.agreement.setRowCount(len(names) + 1)
        self.agreement.setColumnCount(2 * len(pairs))
        headers = []
        for pair in pairs:
            headers += [f"{me} / {pair['labellers'][1]} %", "kappa"]
        self.agreement.setHorizontalHeaderLabels(headers)
        self.agreement.setVerticalHeaderLabels(["all labels", *names])
        for c, pair in enumerate(pairs):
            rows = [pair] + [pair["per_label"][name] for name in names]
            for r, stats in enumerate(rows):
                self.agreement.setItem(r, 2 * c, QTableWidgetItem(_number(stats["percent"], "{:.1f}")))
                self.agreement.setItem(r, 2 * c + 1, QTableWidgetItem(_number(stats["kappa"], "{:.3f}")))


def _plot(title: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setMinimumSize(80, 80)
    plot.setLabel("left", left)
    plot.setLabel("bottom", "activation")
    plot.getAxis("bottom").enableAutoSIPrefix(False)
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.addLegend(offset=(-5, 5))
    return plot


def _stacked(plot: pg.PlotWidget, results: LabelResults, colours: dict[str, str], heights: np.ndarray,
             positive_only: bool, shares: dict[str, str]) -> None:
    """Bars of ``heights`` per dataset bin, split by label proportion (only bins above 0 when
    ``positive_only``); legend entries end with ``shares[name]`` where given."""
    centres, fractions, names = bin_label_fractions(results)
    keep = centres > 0 if positive_only else np.ones(len(centres), bool)
    bottom = np.zeros(len(centres))
    for k, name in enumerate(names):
        part = heights * fractions[:, k]
        bars = pg.BarGraphItem(x=centres[keep], height=part[keep], y0=bottom[keep], width=results.dataset.width,
                               brush=colours.get(name, UNLABELLED_COLOUR), pen=None, name=name + shares.get(name, ""))
        plot.addItem(bars)
        bottom = bottom + part


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)
