"""Tuning pane: a unit's response map to synthetic curves / angles, and a family's radial and
joint tuning curves, morph and generality: each a TuningRequest run on the inference service
(progress and cancel), its Result shown in its own tab and reproduced by "Copy as CLI command"."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QTabWidget)

from circuitloupe import tasks
from circuitloupe.core import tuning
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks import Result, TuningRequest
from circuitloupe.ui.panes.tuning_widgets import StimulusStyleBox
from circuitloupe.ui.widgets.array_view import diverging_colormap
from circuitloupe.ui.widgets.column import column_layout
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.legend import add_legend
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.radial_plot import draw_radial, hue_rgb, new_radial_plot
from circuitloupe.ui.widgets.result_export import ResultExport, edited_note

MAP_TAB, RADIAL_TAB, JOINT_TAB, CURVES_TAB = range(4)


IDLE_TEXT = "Pick a unit and press Response map; pick a family for radial and joint tuning."


@dock_pane("tuning")
class TuningPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.results: dict[int, Result] = {}  # the Result each tab shows
        self._job = None
        self._build_controls()
        self._build_views()
        column_layout(self, self.controls, self.style_box, self.progress, self.tabs, self.info, stretch=self.tabs)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)
        if state.unit is not None:
            self._on_unit(state.unit)

    @property
    def result(self) -> Result | None:
        """The Result the current tab shows."""
        return self.results.get(self.tabs.currentIndex())

    @property
    def rmap(self) -> tuning.ResponseMap | None:
        result = self.results.get(MAP_TAB)
        return result.maps[0] if result is not None else None

    # ------------------------------------------------------------------ layout

    def _build_controls(self) -> None:
        self.unit_edit = QLineEdit()
        self.unit_edit.setToolTip("Unit for the response map (layer:channel); follows the selected unit")
        self.unit_edit.returnPressed.connect(self.compute_map)
        self.stimulus = QComboBox()
        self.stimulus.addItems(tuning.STIMULI)
        self.stimulus.setToolTip("curve: orientation x radius; angle: orientation x opening angle")
        self.orientations = spin_box(4, 720, 72, "Orientations over 0-360 degrees (72 = 5 deg steps, 720 = 0.5 deg)")
        self.curvatures = spin_box(1, 32, 8, "Rows: radii from tight to nearly straight (or opening angles)")
        self.pre_relu = QCheckBox("pre-ReLU")
        self.pre_relu.setChecked(True)
        self.pre_relu.setToolTip("Record the value before the ReLU where the layer has one")
        self.map_button = QPushButton("Response map")
        self.map_button.setToolTip("Sweep the stimuli through the unit (Enter in the unit field)")
        self.map_button.clicked.connect(self.compute_map)
        self.family = QComboBox()
        self.family.setToolTip("A preset family of the model; its units fill the family field")
        self.family.currentTextChanged.connect(self._on_family)
        self.family_edit = QLineEdit()
        self.family_edit.setToolTip("Family units for radial and joint tuning, e.g. conv4:3,7,12")
        self.step = QSpinBox()
        self.step.setRange(1, 30)
        self.step.setValue(1)
        self.step.setSuffix("°")
        self.step.setToolTip("Rotation step for joint tuning (the article uses 1 degree)")
        self.radial_button = QPushButton("Radial tuning")
        self.radial_button.setToolTip("Positive responses averaged over curvature, one circle for the family")
        self.radial_button.clicked.connect(self.compute_radial)
        self.joint_button = QPushButton("Joint tuning")
        self.joint_button.setToolTip("Rotate each member's best stimuli 0-360 deg and record every member")
        self.joint_button.clicked.connect(self.compute_joint)
        self.morph_button = QPushButton("Morph")
        self.morph_button.setToolTip("Each family unit's preferred curve morphed from a sharp angle (Curve Detectors)")
        self.morph_button.clicked.connect(self.compute_morph)
        self.generality_button = QPushButton("Generality")
        self.generality_button.setToolTip("Each family unit's preferred curve in other colours, contrasts, strokes "
                                          "and textures, relative to black on white")
        self.generality_button.clicked.connect(self.compute_generality)
        grid = QGridLayout()
        grid.addWidget(QLabel("Unit"), 0, 0)
        grid.addWidget(self.unit_edit, 0, 1)
        grid.addWidget(self.stimulus, 0, 2)
        grid.addWidget(QLabel("orient."), 0, 3)
        grid.addWidget(self.orientations, 0, 4)
        grid.addWidget(QLabel("curv."), 0, 5)
        grid.addWidget(self.curvatures, 0, 6)
        grid.addWidget(self.pre_relu, 0, 7)
        grid.addWidget(self.map_button, 0, 8)
        grid.addWidget(QLabel("Family"), 1, 0)
        grid.addWidget(self.family_edit, 1, 1)
        grid.addWidget(self.family, 1, 2, 1, 3)
        grid.addWidget(QLabel("step"), 1, 5)
        grid.addWidget(self.step, 1, 6)
        buttons = QHBoxLayout()
        buttons.addWidget(self.radial_button)
        buttons.addWidget(self.joint_button)
        buttons.addWidget(self.morph_button)
        buttons.addWidget(self.generality_button)
        grid.addLayout(buttons, 1, 7, 1, 2)
        grid.setColumnStretch(1, 1)
        self.controls = grid
        self.style_box = StimulusStyleBox()
        self.progress = JobProgress("batches")

    def _build_views(self) -> None:
        self.map_plot = pg.PlotWidget()
        self.map_plot.setToolTip("Response map: orientation across, curvature down; hover for values")
        item = self.map_plot.getPlotItem()
        item.setLabel("bottom", "orientation (deg, 0 = bulging up, CCW)")
        item.setLabel("left", "row (radius px / opening deg)")
        item.invertY(True)
        self.map_image = pg.ImageItem(axisOrder="row-major")
        self.map_plot.addItem(self.map_image)
        self.map_bar = pg.ColorBarItem(interactive=False, width=12, colorMap=diverging_colormap())
        self.map_bar.setImageItem(self.map_image, insert_in=item)
        self.map_image.hoverEvent = self._map_hover
        self.radial_plot = new_radial_plot("Radial tuning: the angle is the stimulus orientation (0 up, CCW); each "
                                           "unit normalised to its peak and coloured by its preferred orientation")
        self.joint_plot = pg.PlotWidget()
        self.joint_plot.setToolTip("Joint tuning: each member's response to rotated best stimuli, aligned")
        self.joint_plot.setLabel("bottom", "orientation (deg)")
        self.joint_plot.setLabel("left", "response / peak")
        self.joint_plot.setXRange(0, 360)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.map_plot, "Response map")
        self.tabs.addTab(self.radial_plot, "Radial tuning")
        self.tabs.addTab(self.joint_plot, "Joint tuning")
        self.curves_view = FigureView("Morph or Generality: the family's preferred curves, varied")
        self.tabs.addTab(self.curves_view, "Morph / generality")
        self.info = QLabel(IDLE_TEXT)
        self.info.setWordWrap(True)

    # ------------------------------------------------------------------ state

    def _on_model(self, model) -> None:
        self.results.clear()
        self._clear_map()
        self.radial_plot.clear()
        self.joint_plot.clear()
        self.curves_view.set_image(None)
        self.family_edit.clear()  # the old model's units; a preset of the new one refills it
        self.family.blockSignals(True)
        self.family.clear()
        self.family.addItem("(custom)")
        self.family.addItems(list(model.families))
        self.family.blockSignals(False)
        curve = next((name for name in model.families if "curve" in name), None)
        if curve is not None:
            self.family.setCurrentText(curve)

    def _on_unit(self, unit: UnitRef) -> None:
        self.unit_edit.setText(str(unit))
        if self.rmap is not None and not self._map_shows(unit):
            self._clear_map()  # the map was another unit's

    def _map_shows(self, unit: UnitRef) -> bool:
        """Whether the response map on screen is ``unit``'s (or its pre-ReLU value's)."""
        shown = UnitRef.parse(self.rmap.unit)
        layers = (unit.layer, self.state.model.catalogue.pre_relu_of(unit.layer))
        return shown.channel == unit.channel and shown.layer in layers

    def _clear_map(self) -> None:
        self.results.pop(MAP_TAB, None)
        self.map_image.clear()
        self.map_plot.getPlotItem().getAxis("left").setTicks(None)
        self.info.setText(IDLE_TEXT)

    def _on_family(self, name: str) -> None:
        model = self.state.model
        if model is not None and name in model.families:
            self.family_edit.setText(" ".join(model.families[name]))

    def _family_units(self) -> tuple[str, ...]:
        units = parse_unit_list(self.family_edit.text())
        return tuple(str(self.state.model.catalogue.unit(u)) for u in units)

    def _sweep(self) -> dict:
        """The request fields of the sweep controls and the stimulus style."""
        return {"stimulus": self.stimulus.currentText(), "orientations": self.orientations.value(),
                "curvatures": self.curvatures.value(), "post_relu": not self.pre_relu.isChecked(),
                **self.style_box.values()}

    # ------------------------------------------------------------------ jobs

    def _start(self, tab: int, units, **fields) -> None:
        """Run ``TuningRequest(units, **fields)``; its Result goes to ``tab``. ``units`` is called
        for the unit names, so a mistake in them is a message like any other bad field."""
        if self.state.model is None:
            self.state.message("open a model first")
            return
        try:
            request = TuningRequest(units=units(), **fields)
        except UserError as error:
            self.state.message(str(error))
            return
        self.tabs.setCurrentIndex(tab)
        if self._job is not None:
            self._job.cancel()
        self._job = self.run_job(tasks.run, request, name=" ".join(request.to_argv()[:4]),
                                 on_done=lambda result: self._on_result(tab, result))
        self.progress.follow(self._job)

    def compute_map(self) -> None:
        def unit() -> tuple[str]:
            return (str(self.state.model.catalogue.unit(self.unit_edit.text().strip())),)

        self._start(MAP_TAB, unit, figure="maps", **self._sweep())

    def compute_radial(self) -> None:
        self._start(RADIAL_TAB, self._family_units, figure="radial", **self._sweep())

    def compute_joint(self) -> None:
        self._start(JOINT_TAB, self._family_units, figure="joint", step=float(self.step.value()), **self._sweep())

    def compute_morph(self) -> None:
        """The angle-to-curve morph of each family unit's preferred curve, in the stimulus style."""
        self._start(CURVES_TAB, self._family_units, stimulus="morph", **self.style_box.values())

    def compute_generality(self) -> None:
        """Each family unit's preferred curve in other styles (it varies the style itself)."""
        self._start(CURVES_TAB, self._family_units, figure="generality")

    def cancel_jobs(self) -> None:
        if self._job is not None:
            self._job.cancel()

    # ------------------------------------------------------------------ results

    def _on_result(self, tab: int, result: Result) -> None:
        self.results[tab] = result
        if tab == MAP_TAB:
            self._show_map(result.maps[0])
        elif tab == RADIAL_TAB:
            self._show_radial(result.radial())
        elif tab == JOINT_TAB:
            self._show_joint(result.joint)
        else:
            self.curves_view.set_image(result.figure(1.0))
            self.info.setText("; ".join(result.lines()[:3]))
        self.info.setText(self.info.text() + edited_note(result))

    def _show_map(self, rmap: tuning.ResponseMap) -> None:
        grid = rmap.sigma if rmap.sigma is not None else rmap.values
        limit = float(np.abs(grid).max()) or 1.0
        step = 360.0 / len(rmap.orientations)
        self.map_image.setImage(grid.astype(np.float32), levels=(-limit, limit))
        self.map_image.setColorMap(diverging_colormap())
        self.map_image.setRect(QRectF(rmap.orientations[0] - step / 2, -0.5, 360.0, len(rmap.parameters)))
        self.map_bar.setLevels((-limit, limit))
        left = self.map_plot.getPlotItem().getAxis("left")
        left.setTicks([[(i, tuning.param_label(p)) for i, p in enumerate(rmap.parameters)]])
        self.map_plot.getPlotItem().setLabel("left", rmap.parameter_name)
        self.map_plot.autoRange(padding=0)
        radial = tuning.radial_from_map(rmap)
        value, orientation, parameter = rmap.peak
        unit_label = " sigma (dataset)" if rmap.sigma is not None else ""
        self.info.setText(f"{rmap.unit}: peak {value:.4g}{unit_label} at {orientation:.1f}° / "
                          f"{rmap.parameter_name} {parameter:.1f}; preferred {radial.preferred:.1f}°, "
                          f"width {radial.width:.1f}°")

    def _map_hover(self, event) -> None:
        if self.rmap is None or event.isExit():
            return
        pos = event.pos()
        grid = self.rmap.sigma if self.rmap.sigma is not None else self.rmap.values
        row, col = int(pos.y()), int(pos.x())
        if 0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]:
            self.info.setText(f"{self.rmap.unit}: {self.rmap.orientations[col]:.1f}°, {self.rmap.parameter_name} "
                              f"{self.rmap.parameters[row]:.1f} -> {grid[row, col]:.4g}")

    def _show_radial(self, results: list[tuning.RadialTuning]) -> None:
        draw_radial(self.radial_plot, results)
        lines = [f"{r.unit.split(':')[-1]}: {r.preferred:.0f}°/{r.width:.0f}°" for r in results]
        layer = results[0].unit.split(":")[0] if results else ""
        self.info.setText(f"{layer} preferred orientation / tuning width: " + ", ".join(lines))

    def _show_joint(self, joint: tuning.JointTuning) -> None:
        self.joint_plot.clear()
        add_legend(self.joint_plot, (-5, 5))
        for unit, curve in zip(joint.units, joint.curves):
            peak = float(curve.max())
            values = curve / peak if peak > 0 else curve
            where = float(joint.angles[int(np.argmax(curve))]) if peak > 0 else float("nan")
            self.joint_plot.plot(joint.angles, values, pen=pg.mkPen(*hue_rgb(where), width=2), name=unit)
        self.info.setText(f"joint tuning of {len(joint.units)} units over {len(joint.angles)} rotations")
