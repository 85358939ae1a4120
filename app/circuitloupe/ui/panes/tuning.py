"""Tuning pane: a unit's response map to synthetic curves / angles, and a family's radial and
joint tuning curves, all computed on the inference service with progress and cancel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QTabWidget, QVBoxLayout)

from circuitloupe import tasks
from circuitloupe.core import tuning
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.service import JobContext
from circuitloupe.tasks import TuningRequest
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.array_view import diverging_colormap
from circuitloupe.ui.widgets.legend import add_legend
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress

MAP_TAB, RADIAL_TAB, JOINT_TAB, CURVES_TAB = range(4)


IDLE_TEXT = "Pick a unit and press Response map; pick a family for radial and joint tuning."


def response_map_job(ctx: JobContext, unit: str, stimulus: str, orientations: int, curvatures: int,
                     pre_relu: bool) -> tuning.ResponseMap:
    return tuning.response_map(ctx.model, unit, stimulus, orientations, curvatures, pre_relu,
                               progress=ctx.progress, should_stop=ctx.should_stop)


def radial_job(ctx: JobContext, units: list[str], stimulus: str, orientations: int, curvatures: int,
               pre_relu: bool) -> list[tuning.RadialTuning]:
    return tuning.family_radial_tuning(ctx.model, units, stimulus, orientations, curvatures, pre_relu,
                                       progress=ctx.progress, should_stop=ctx.should_stop)


def joint_job(ctx: JobContext, units: list[str], step: float) -> tuning.JointTuning:
    return tuning.joint_tuning(ctx.model, units, step=step, progress=ctx.progress, should_stop=ctx.should_stop)


def polar_xy(angles_deg: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates (y up) for orientation angles: 0 up, counter-clockwise."""
    theta = np.deg2rad(angles_deg)
    return -radius * np.sin(theta), radius * np.cos(theta)


def hue_pen(orientation: float, width: float = 2.0):
    r, g, b = tuning.hue_colour(orientation)
    return pg.mkPen(int(r * 255), int(g * 255), int(b * 255), width=width)


class TuningPane(Pane):
    title = "Tuning"
    object_name = "tuning"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut = "Ctrl+6"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.rmap: tuning.ResponseMap | None = None
        self.radial: list[tuning.RadialTuning] | None = None
        self.joint: tuning.JointTuning | None = None
        self.curve_result = None  # the last morph or generality Result
        self._job = None
        self._build_controls()
        self._build_views()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self.controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.info)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)
        if state.unit is not None:
            self._on_unit(state.unit)

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
        self.morph_button.clicked.connect(lambda: self.compute_curve_experiment(stimulus="morph"))
        self.generality_button = QPushButton("Generality")
        self.generality_button.setToolTip("Each family unit's preferred curve in other colours, contrasts, strokes "
                                          "and textures, relative to black on white")
        self.generality_button.clicked.connect(lambda: self.compute_curve_experiment(figure="generality"))
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
        self.radial_plot = pg.PlotWidget()
        self.radial_plot.setToolTip("Radial tuning: the angle is the stimulus orientation (0 up, CCW); "
                                    "each unit normalised to its peak and coloured by its preferred orientation")
        self.radial_plot.setAspectLocked(True)
        self.radial_plot.hideAxis("bottom")
        self.radial_plot.hideAxis("left")
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
        self._clear_map()
        self.radial = self.joint = self.curve_result = None
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
        self.rmap = None
        self.map_image.clear()
        self.map_plot.getPlotItem().getAxis("left").setTicks(None)
        self.info.setText(IDLE_TEXT)

    def _on_family(self, name: str) -> None:
        model = self.state.model
        if model is not None and name in model.families:
            self.family_edit.setText(" ".join(model.families[name]))

    def _family_units(self) -> list[str]:
        model = self.state.model
        units = parse_unit_list(self.family_edit.text())
        return [str(model.catalogue.unit(u)) for u in units]

    def _settings(self) -> tuple[str, int, int, bool]:
        return (self.stimulus.currentText(), self.orientations.value(), self.curvatures.value(),
                self.pre_relu.isChecked())

    # ------------------------------------------------------------------ jobs

    def _start(self, fn, *args, name: str, on_done) -> None:
        if self.state.model is None:
            self.state.message("open a model first")
            return
        if self._job is not None:
            self._job.cancel()
        self._job = self.run_job(fn, *args, name=name, on_done=on_done)
        self.progress.follow(self._job)

    def compute_map(self) -> None:
        try:
            unit = str(self.state.model.catalogue.unit(self.unit_edit.text().strip()))
        except (UserError, AttributeError) as error:
            self.state.message(str(error))
            return
        self.tabs.setCurrentIndex(MAP_TAB)
        self._start(response_map_job, unit, *self._settings(), name=f"tuning map {unit}", on_done=self._on_map)

    def compute_radial(self) -> None:
        try:
            units = self._family_units()
        except UserError as error:
            self.state.message(str(error))
            return
        self.tabs.setCurrentIndex(RADIAL_TAB)
        self._start(radial_job, units, *self._settings(), name=f"radial tuning ({len(units)} units)",
                    on_done=self._on_radial)

    def compute_joint(self) -> None:
        try:
            units = self._family_units()
        except UserError as error:
            self.state.message(str(error))
            return
        self.tabs.setCurrentIndex(JOINT_TAB)
        self._start(joint_job, units, float(self.step.value()), name=f"joint tuning ({len(units)} units)",
                    on_done=self._on_joint)

    def compute_curve_experiment(self, **options) -> None:
        """The angle-to-curve morph or the generality figure of the family (a tuning task)."""
        try:
            request = TuningRequest(units=tuple(self._family_units()), **options)
        except (UserError, AttributeError) as error:
            self.state.message(str(error))
            return
        self.tabs.setCurrentIndex(CURVES_TAB)
        self._start(tasks.run, request, name=f"tuning {' '.join(request.to_argv()[1:3])}", on_done=self._on_curves)

    def _on_curves(self, result) -> None:
        self.curve_result = result
        self.curves_view.set_image(result.figure(1.0))
        self.info.setText("; ".join(result.lines()[:3]))

    def cancel_jobs(self) -> None:
        if self._job is not None:
            self._job.cancel()

    # ------------------------------------------------------------------ results

    def _on_map(self, rmap: tuning.ResponseMap) -> None:
        self.rmap = rmap
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

    def _on_radial(self, results: list[tuning.RadialTuning]) -> None:
        self.radial = results
        plot = self.radial_plot
        plot.clear()
        grey = pg.mkPen(200, 200, 200, width=1)
        circle = np.arange(0, 361, 2.0)
        for r in (0.25, 0.5, 0.75, 1.0):
            plot.plot(*polar_xy(circle, np.full_like(circle, r)), pen=grey)
        for spoke in range(0, 360, 45):
            x, y = polar_xy(np.array([spoke, spoke]), np.array([0.0, 1.05]))
            plot.plot(x, y, pen=grey)
            label = pg.TextItem(f"{spoke}°", color=(120, 120, 120), anchor=(0.5, 0.5))
            label.setPos(*(v[0] for v in polar_xy(np.array([spoke]), np.array([1.15]))))
            plot.addItem(label)
        lines = []
        for result in results:
            peak = result.peak if result.peak > 0 else 1.0
            profile = np.append(result.profile, result.profile[0]) / peak
            angles = np.append(result.angles, 360.0)
            plot.plot(*polar_xy(angles, profile), pen=hue_pen(result.preferred))
            lines.append(f"{result.unit.split(':')[-1]}: {result.preferred:.0f}°/{result.width:.0f}°")
        plot.autoRange()
        layer = results[0].unit.split(":")[0] if results else ""
        self.info.setText(f"{layer} preferred orientation / tuning width: " + ", ".join(lines))

    def _on_joint(self, joint: tuning.JointTuning) -> None:
        self.joint = joint
        self.joint_plot.clear()
        add_legend(self.joint_plot, (-5, 5))
        for unit, curve in zip(joint.units, joint.curves):
            peak = float(curve.max())
            values = curve / peak if peak > 0 else curve
            where = float(joint.angles[int(np.argmax(curve))]) if peak > 0 else float("nan")
            self.joint_plot.plot(joint.angles, values, pen=hue_pen(where), name=unit)
        self.info.setText(f"joint tuning of {len(joint.units)} units over {len(joint.angles)} rotations")

    # ------------------------------------------------------------------ export

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        tab = self.tabs.currentIndex()
        if tab == MAP_TAB and self.rmap is not None:
            return tuning.response_map_figure(self.rmap, scale)
        if tab == RADIAL_TAB and self.radial:
            return tuning.radial_tuning_figure(self.radial, scale)
        if tab == JOINT_TAB and self.joint is not None:
            return tuning.joint_tuning_figure(self.joint, scale)
        if tab == CURVES_TAB and self.curve_result is not None:
            return self.curve_result.figure(scale)
        return None

    def cli_command(self) -> str | None:
        model = self.state.model
        if model is None:
            return None
        if self.tabs.currentIndex() == CURVES_TAB:
            if self.curve_result is None:
                return None
            return tasks.command_line(self.curve_result.request, tasks.model_arguments(model),
                                      {"out": "tuning_curves.png", "json": "tuning_curves.json"})
        stimulus, orientations, curvatures, pre_relu = self._settings()
        options = f"--stimulus {stimulus} --orientations {orientations} --curvatures {curvatures}"
        options += "" if pre_relu else " --post-relu"
        tab = self.tabs.currentIndex()
        if tab == MAP_TAB:
            units, kind = self.unit_edit.text().strip(), "maps"
        else:
            units, kind = " ".join(self.family_edit.text().split()), ("radial" if tab == RADIAL_TAB else "joint")
        if not units:
            return None
        weights = f" --weights {model.weights_spec}" if model.is_random else ""
        return (f"circuitloupe tuning {units} --model {model.spec}{weights} {options} --figure {kind} "
                f"--out tuning_{kind}.png --json tuning_{kind}.json")
