"""Curve finder pane: sweep a layer with synthetic curves (a FindCurvesRequest run on the inference
service), propose its curve-detector family, show the family's radial tuning and every candidate's
scores, and save the family for the browser. The figure it exports is the Result's, the one
``circuitloupe find-curves --out`` writes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem)

from circuitloupe import tasks
from circuitloupe.core import curve_finder
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks import FindCurvesRequest, FindCurvesResult
from circuitloupe.ui.widgets.column import column_layout
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.radial_plot import draw_radial, hue_rgb, new_radial_plot
from circuitloupe.ui.widgets.result_export import ResultExport, edited_note

COLUMNS = ("unit", "family", "preferred °", "selectivity", "peak/mean", "peak σ", "curve−line σ", "FWHM °")


@dock_pane("curve_finder")
class CurveFinderPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.result: FindCurvesResult | None = None
        self._job = None
        self._build_controls()
        self._build_views()
        column_layout(self, self.controls, self.progress, self.splitter, self.save_row, self.info, stretch=self.splitter)
        state.sigModelChanged.connect(self._on_model)
        if state.model is not None:
            self._on_model(state.model)

    @property
    def search(self) -> curve_finder.CurveSearch | None:
        return self.result.search if self.result is not None else None

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
        self.min_curve_vs_line = spin_box(
            -20.0, 20.0, 1.0, "Least margin of the best curve over the best straight stroke, in those standard "
                              "deviations", step=0.5)
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
                                                  ("min sel.", self.min_selectivity), ("min σ", self.min_sigma),
                                                  ("min c−l σ", self.min_curve_vs_line))):
            grid.addWidget(QLabel(label), 1, 2 * column)
            grid.addWidget(widget, 1, 2 * column + 1)
        grid.setColumnStretch(1, 1)
        self.controls = grid
        self.progress = JobProgress("batches")

    def _build_views(self) -> None:
        self.plot = new_radial_plot("Radial tuning of the family: each curve scaled to its peak, drawn in the "
                                    "direction its preferred curve bulges (0° up, counter-clockwise), coloured by "
                                    "that angle")
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
        self.result = None
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
        try:
            request = FindCurvesRequest(
                self.layer.currentText(), top=self.top.value(), orientations=self.orientations.value(),
                radii=self.radii.value(), min_selectivity=self.min_selectivity.value(),
                min_sigma=self.min_sigma.value(), min_curve_vs_line=self.min_curve_vs_line.value())
        except UserError as error:
            self.state.message(str(error))
            return
        if self._job is not None:
            self._job.cancel()
        self.run_button.setEnabled(False)
        self.info.setText(f"sweeping every unit of {request.layer} with curves…")
        self._job = self.run_job(tasks.run, request, name=f"find curves {request.layer}", on_done=self._on_result)
        for signal in (self._job.sigFailed, self._job.sigCancelled):
            signal.connect(self._on_stopped)
        self.progress.follow(self._job)

    def _on_stopped(self, *_args) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.info.setText("stopped; the previous result (if any) is kept")

    def _on_result(self, result: FindCurvesResult) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.result = result
        self.family_name.setText(f"curves {result.search.layer}")
        self._show()

    def _show(self) -> None:
        self.plot.clear()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        search = self.search
        self.save_button.setEnabled(bool(search and search.family))
        if search is None:
            return
        draw_radial(self.plot, search.tunings)
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
                    item.setForeground(pg.mkColor(*hue_rgb(score.preferred)))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(2, Qt.SortOrder.AscendingOrder)  # by preferred orientation
        self.info.setText(search.summary() + edited_note(self.result))

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
