"""Curve finder pane: sweep a layer with synthetic curves, propose its curve-detector family,
show the family's radial tuning and every candidate's scores, and save the family for the
browser. The figure it exports is the one ``circuitloupe find-curves --out`` writes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout)

from circuitloupe.core import curve_finder, tuning
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.service import JobContext
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress

COLUMNS = ("unit", "family", "preferred °", "selectivity", "peak/mean", "peak σ", "curve−line σ", "FWHM °")


def find_curves_job(ctx: JobContext, layer: str, top: int, orientations: int, radii: int,
                    min_selectivity: float, min_sigma: float) -> curve_finder.CurveSearch:
    return curve_finder.find_curves(ctx.model, layer, top=top, orientations=orientations, curvatures=radii,
                                    min_selectivity=min_selectivity, min_sigma=min_sigma,
                                    progress=ctx.progress, should_stop=ctx.should_stop)


def polar_xy(angles_deg: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates (y up) for orientations in degrees: 0 up, counter-clockwise."""
    theta = np.deg2rad(angles_deg)
    return -radius * np.sin(theta), radius * np.cos(theta)


class CurveFinderPane(Pane):
    title = "Curve finder"
    object_name = "curve_finder"
    shortcut = "Ctrl+0"
    area = Qt.DockWidgetArea.RightDockWidgetArea

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.search: curve_finder.CurveSearch | None = None
        self._job = None
        self._build_controls()
        self._build_views()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self.controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(self.save_row)
        layout.addWidget(self.info)
        state.sigModelChanged.connect(self._on_model)
        if state.model is not None:
            self._on_model(state.model)

    # ------------------------------------------------------------------ layout
    def _build_controls(self) -> None:
        self.layer = QComboBox()
        self.layer.setMinimumWidth(180)
        self.layer.setToolTip("Layer whose units are swept (the pre-ReLU value is used where there is one)")
        self.top = spin_box(
            1, 64, curve_finder.DEFAULT_TOP, "Largest family to propose: the most orientation-selective candidates")
        self.orientations = spin_box(4, 360, 36, "Curve orientations over 0-360 degrees (36 = 10 degree steps)")
        self.radii = spin_box(
            1, 16, 5, "Curve radii from tight to gentle; straight strokes are always added as a control")
        self.min_selectivity = spin_box(
            0.0, 1.0, 0.3, "Least orientation selectivity: resultant length of the radial tuning (1 - circular "
                           "variance)", step=0.05)
        self.min_sigma = spin_box(
            0.0, 20.0, 2.0, "Least best-curve response, in standard deviations above the unit's mean over the sample "
                            "photos", step=0.5)
        self.run_button = QPushButton("Find curves")
        self.run_button.setToolTip("Sweep every unit of the layer with synthetic curves and propose a family")
        self.run_button.clicked.connect(self.find)
        grid = QGridLayout()
        grid.addWidget(QLabel("Layer"), 0, 0)
        grid.addWidget(self.layer, 0, 1, 1, 5)
        grid.addWidget(QLabel("top"), 0, 6)
        grid.addWidget(self.top, 0, 7)
        grid.addWidget(self.run_button, 0, 8)
        for column, (label, widget) in enumerate((("orient.", self.orientations), ("radii", self.radii),
                                                  ("min sel.", self.min_selectivity), ("min σ", self.min_sigma))):
            grid.addWidget(QLabel(label), 1, 2 * column)
            grid.addWidget(widget, 1, 2 * column + 1)
        grid.setColumnStretch(1, 1)
        self.controls = grid
        self.progress = JobProgress("batches")

    def _build_views(self) -> None:
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setToolTip("Radial tuning of the family: each curve scaled to its peak, drawn in the direction "
                             "its preferred curve bulges (0° up, counter-clockwise), coloured by that angle")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.setToolTip("Candidates (units that passed the thresholds); click a row to select the unit, "
                              "double-click to open it in every pane")
        self.table.itemSelectionChanged.connect(self._on_row)
        self.table.itemDoubleClicked.connect(lambda item: self._open_row(item.row()))
        self.splitter = QSplitter()
        self.splitter.addWidget(self.plot)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.family_name = QLineEdit()
        self.family_name.setPlaceholderText("family name")
        self.family_name.setToolTip("Name for the saved family (the browser lists it under My families)")
        self.save_button = QPushButton("Save family")
        self.save_button.setToolTip("Save the proposed family for this model; the browser lists it")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_family)
        self.save_row = QGridLayout()
        self.save_row.addWidget(QLabel("Family"), 0, 0)
        self.save_row.addWidget(self.family_name, 0, 1)
        self.save_row.addWidget(self.save_button, 0, 2)
        self.save_row.setColumnStretch(1, 1)
        self.info = QLabel("Pick a layer whose receptive field is curve-sized and press Find curves.")
        self.info.setWordWrap(True)

    # ------------------------------------------------------------------ state
    def _on_model(self, model) -> None:
        self.search = None
        self.layer.clear()
        for info in model.catalogue:
            if info.shape[1] > 1 and not info.is_pre_relu:
                self.layer.addItem(info.name)
                self.layer.setItemData(self.layer.count() - 1, f"{info.channels} units, {info.shape[1]}x"
                                       f"{info.shape[2]} positions", Qt.ItemDataRole.ToolTipRole)
        unit = self.state.unit
        if unit is not None and self.layer.findText(unit.layer) >= 0:
            self.layer.setCurrentText(unit.layer)
        self._show()

    def find(self) -> None:
        """Start the sweep of the chosen layer on the inference service."""
        if self.state.model is None or not self.layer.currentText():
            return
        if self._job is not None:
            self._job.cancel()
        layer = self.layer.currentText()
        self.run_button.setEnabled(False)
        self.info.setText(f"sweeping every unit of {layer} with curves…")
        self._job = self.run_job(find_curves_job, layer, self.top.value(), self.orientations.value(),
                                 self.radii.value(), self.min_selectivity.value(), self.min_sigma.value(),
                                 name=f"find curves {layer}", on_done=self._on_search)
        for signal in (self._job.sigFailed, self._job.sigCancelled):
            signal.connect(self._on_stopped)
        self.progress.follow(self._job)

    def _on_stopped(self, *_args) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.info.setText("stopped; the previous result (if any) is kept")

    def _on_search(self, search: curve_finder.CurveSearch) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.search = search
        self.family_name.setText(f"curves {search.layer}")
        self._show()

    def _show(self) -> None:
        self.plot.clear()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        search = self.search
        self.save_button.setEnabled(bool(search and search.family))
        if search is None:
            return
        self._draw_polar(search.tunings)
        family = {s.channel for s in search.family}
        rows = search.candidates
        self.table.setRowCount(len(rows))
        for row, score in enumerate(rows):
            values = (score.unit, "yes" if score.channel in family else "", score.preferred, score.selectivity,
                      score.peak_to_mean, score.peak_sigma, score.curve_vs_line, score.width)
            for column, value in enumerate(values):
                item = QTableWidgetItem()
                if isinstance(value, float):
                    item.setData(Qt.ItemDataRole.DisplayRole, round(value, 2))
                else:
                    item.setText(value)
                item.setData(Qt.ItemDataRole.UserRole, score.unit)
                if score.channel in family:
                    r, g, b = tuning.hue_colour(score.preferred)
                    item.setForeground(pg.mkColor(int(r * 255), int(g * 255), int(b * 255)))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(2, Qt.SortOrder.AscendingOrder)  # by preferred orientation
        self.info.setText(search.summary())

    def _draw_polar(self, tunings: list[tuning.RadialTuning]) -> None:
        for radius in (0.5, 1.0):
            x, y = polar_xy(np.linspace(0, 360, 181), np.full(181, radius))
            self.plot.plot(x, y, pen=pg.mkPen(150, 150, 150, 90))
        for angle in range(0, 360, 45):
            x, y = polar_xy(np.array([angle, angle]), np.array([0.0, 1.1]))
            self.plot.plot(x, y, pen=pg.mkPen(150, 150, 150, 60))
        for radial in tunings:
            peak = radial.peak if radial.peak > 0 else 1.0
            angles = np.append(radial.angles, radial.angles[0])
            x, y = polar_xy(angles, np.append(radial.profile, radial.profile[0]) / peak)
            r, g, b = tuning.hue_colour(radial.preferred)
            colour = (int(r * 255), int(g * 255), int(b * 255))
            self.plot.plot(x, y, pen=pg.mkPen(*colour, width=2), name=radial.unit)
            lx, ly = polar_xy(np.array([radial.preferred]), np.array([1.12]))
            label = pg.TextItem(radial.unit.rsplit(":", 1)[1], color=colour, anchor=(0.5, 0.5))
            label.setPos(float(lx[0]), float(ly[0]))
            self.plot.addItem(label)

    def _unit_at(self, row: int) -> UnitRef | None:
        item = self.table.item(row, 0)
        return UnitRef.parse(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _on_row(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        unit = self._unit_at(rows[0].row()) if rows else None
        if unit is not None:
            self.state.set_unit(unit)

    def _open_row(self, row: int) -> None:
        unit = self._unit_at(row)
        if unit is not None:
            self.state.activate_unit(unit)

    def save_family(self) -> str | None:
        """Save the proposed family under the name in the field; returns the name saved."""
        if self.search is None or self.state.model is None:
            return None
        try:
            name = curve_finder.save_family(self.state.model, self.search, self.family_name.text().strip() or None)
        except UserError as error:
            self.state.message(str(error))
            return None
        self.state.message(f"saved family '{name}': {', '.join(str(u) for u in self.search.family_units())}")
        return name

    # ------------------------------------------------------------------ export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.search is None:
            return None
        return curve_finder.curve_family_figure(self.search, scale)

    def cli_command(self) -> str | None:
        if self.state.model is None or not self.layer.currentText():
            return None
        model = self.state.model
        layer = self.search.layer if self.search is not None else self.layer.currentText()
        weights = f" --weights {model.weights_spec}" if model.is_random else ""
        return (f"circuitloupe find-curves {layer} --model {model.spec}{weights} --top {self.top.value()} "
                f"--orientations {self.orientations.value()} --radii {self.radii.value()} "
                f"--min-selectivity {self.min_selectivity.value():g} --min-sigma {self.min_sigma.value():g} "
                f"--json curves.json --out curves.png")
