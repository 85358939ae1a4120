"""Attribution pane: which pixels drive the current unit on the current image (input attribution
overlay), which earlier units do (w * x, ranked), and a curve family's curve map beside Canny edges.

All work runs on the inference service with progress and Cancel; the figures exported are the
ones ``circuitloupe attribute`` writes.

Over 600 lines: three tabs (pixels, earlier units, curve extraction) share the pane's target
and image handling; a split per tab waits for the panes' move onto the tasks layer (issue 15).
"""

from __future__ import annotations

import shlex
from functools import partial

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QSplitter, QTabWidget,
                               QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core.attribution import (BASELINES, METHOD_NAMES, METHODS, AttributionResult, ClassTarget,
                                           Contributions, CurveExtraction, FamilyTarget, Target, UnitTarget,
                                           attribute_details, attributed_layer, earlier_contributions,
                                           extract_curves, family_target)
from circuitloupe.core.attribution.figures import (curve_figure, overlay_figure, ranking_figure, shared_limit,
                                                   spatial_tile)
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import to_pil
from circuitloupe.core.imagenet import class_name
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.core.weights import cached_thumbnails, default_source_layer, source_layers
from circuitloupe.service import Job, JobContext
from circuitloupe.tasks import FeatvisRequest
from circuitloupe.ui.widgets.controls import ClassSpinBox, spin_box
from circuitloupe.ui.widgets.array_view import ArrayView, diverging_colormap
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled
from circuitloupe.ui.widgets.overlay_view import OverlayView
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

TARGET_KINDS = (("centre", "Unit at centre"), ("max", "Unit where strongest"), ("map", "Unit's whole map"),
                ("family", "Family (sum of maps)"), ("class", "Class logit"))
UNIT_ROLE = Qt.ItemDataRole.UserRole + 1
TILE = 72


def attribution_job(ctx: JobContext, pixels: np.ndarray, target: Target, method: str,
                    options: dict) -> AttributionResult:
    """Input attribution on the worker thread."""
    return attribute_details(ctx.model, pixels, target, method, progress=ctx.progress,
                             should_stop=ctx.should_stop, **options)


def contributions_job(ctx: JobContext, pixels: np.ndarray, unit: UnitRef, layer: str, position: str | None,
                      pre_relu: bool, top: int) -> tuple[Contributions, dict[UnitRef, np.ndarray]]:
    """w * x from ``layer`` into ``unit``, and cached thumbnails of the top units."""
    ctx.progress(0, 2)
    result = earlier_contributions(ctx.model, pixels, unit, layer, position, pre_relu=pre_relu,
                                   should_stop=ctx.should_stop)
    ctx.progress(1, 2)
    ranked = result.ranked(1, top) + result.ranked(-1, top)
    thumbnails = cached_thumbnails(ctx.model, [c.unit for c in ranked])
    ctx.progress(2, 2)
    return result, thumbnails


def curves_job(ctx: JobContext, pixels: np.ndarray, units: tuple[UnitRef, ...], method: str,
               options: dict) -> CurveExtraction:
    """Curve extraction on the worker thread."""
    return extract_curves(ctx.model, pixels, units, method, progress=ctx.progress, should_stop=ctx.should_stop,
                          **options)


class AttributionPane(Pane):
    title = "Attribution"
    object_name = "attribution"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut = "Ctrl+5"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.result: AttributionResult | None = None
        self.contributions: Contributions | None = None
        self.thumbnails: dict[UnitRef, np.ndarray] = {}
        self.curves: CurveExtraction | None = None
        self.job: Job | None = None
        self._last: dict[str, dict] = {}  # what produced each tab's result, for cli_command
        self.attribution_result = None  # the last "Visualise attribution" Result
        self._earlier_view = "ranking"  # what the Earlier units tab exports: "ranking" or "visualisation"

        self.unit_label = QLabel("unit: —")
        self.unit_label.setToolTip("Attribution explains the app's current unit (pick one anywhere)")
        self.image_label = QLabel("image: — (File > Open image…, or drop one on the window)")
        self.image_label.setToolTip("Attribution runs on the app's current image")
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_pixels(), "Pixels")
        self.tabs.addTab(self._build_earlier(), "Earlier units")
        self.tabs.addTab(self._build_curves(), "Curve extraction")
        self.progress = JobProgress("images")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        heading = QHBoxLayout()
        heading.addWidget(self.unit_label)
        heading.addWidget(self.pre_relu)
        heading.addWidget(self.image_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(heading)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.info)

        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        state.sigImageChanged.connect(self._on_image)
        if state.model is not None:
            self._on_model(state.model)
        if state.image is not None:
            self._on_image(state.image)

    # ----------------------------------------------------------------- construction
    def _build_pixels(self) -> QWidget:
        self.target_kind = QComboBox()
        for key, label in TARGET_KINDS:
            self.target_kind.addItem(label, key)
        self.target_kind.setToolTip("What to explain: the current unit at the centre of its map or where it is "
                                    "strongest on this image, its whole map summed, a family's maps summed, or a "
                                    "class logit")
        self.target_kind.currentIndexChanged.connect(self._update_enabled)
        self.pre_relu = QCheckBox("pre-ReLU")
        self.pre_relu.setChecked(True)
        self.pre_relu.setToolTip("Explain the unit's value before its ReLU (nonzero gradients even when it is off)")
        self.family = QComboBox()
        self.family.setEditable(True)
        self.family.setToolTip("A preset family of the model, or type units: mixed3b:379,406,385")
        self.class_index = ClassSpinBox("Class of the logit to explain (type its index)")
        self.method = QComboBox()
        for key in METHODS:
            self.method.addItem(METHOD_NAMES[key], key)
        self.method.setToolTip("Integrated gradients (complete: sums to value - baseline value), saliency |grad|, "
                               "input x gradient, guided backprop, or Grad-CAM at a layer")
        self.method.currentIndexChanged.connect(self._update_enabled)
        self.baseline = QComboBox()
        self.baseline.addItems(BASELINES)
        self.baseline.setToolTip("Integrated-gradients baseline: black image, blurred copy, or uniform noise")
        self.steps = spin_box(2, 1024, 32, "Integrated-gradients steps along the path from the baseline")
        self.batch = spin_box(1, 256, 8, "Images per forward pass (internal batch size): lower it if memory runs out")
        self.cam_layer = QComboBox()
        self.cam_layer.setToolTip("Grad-CAM layer (auto: the deepest block before the target)")
        self.run_pixels = QPushButton("Attribute")
        self.run_pixels.setToolTip("Run the attribution on the current image (on the inference thread)")
        self.run_pixels.clicked.connect(self.run_attribution)

        self.family.setMinimumContentsLength(26)
        self.family.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        controls = FlowLayout()
        for label, widget in (("Target", self.target_kind), ("", self.pre_relu), ("Class", self.class_index),
                              ("Family", self.family), ("Method", self.method), ("Baseline", self.baseline),
                              ("Steps", self.steps), ("Batch", self.batch), ("Grad-CAM layer", self.cam_layer)):
            controls.addWidget(labelled(label, widget) if label else widget)
        controls.addWidget(self.run_pixels)
        self.overlay = OverlayView()
        self.overlay.sigHover.connect(lambda r, c, v: self.info.setText(f"attribution at ({r}, {c}): {v:.4g}"))
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.overlay, 1)
        return page

    def _build_earlier(self) -> QWidget:
        self.source_layer = QComboBox()
        self.source_layer.setToolTip("Earlier layer whose units' w * x (weight x activation) into the current "
                                     "unit is ranked")
        self.position = QComboBox()
        self.position.addItem("centre", None)
        self.position.addItem("strongest", "max")
        self.position.setToolTip("Position of the unit explained: the centre of its map or where it is strongest")
        self.top = spin_box(1, 64, 8, "How many earlier units to list for each sign")
        self.run_earlier = QPushButton("Rank earlier units")
        self.run_earlier.setToolTip("Compute w * x from the earlier layer on the current image")
        self.run_earlier.clicked.connect(self.run_contributions)
        row = QHBoxLayout()
        for label, widget in (("From", self.source_layer), ("At", self.position), ("Top", self.top)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.run_earlier)
        self.visualise_earlier = QPushButton("Visualise attribution")
        self.visualise_earlier.setToolTip("Feature visualisation of the unit's w * x from the earlier layer on this "
                                          "image: an image whose earlier-layer activity matches the attribution "
                                          "(Curve Detectors, 'visualising attribution')")
        self.visualise_earlier.clicked.connect(self.run_attribution_visualisation)
        row.addWidget(self.visualise_earlier)
        self.positive = self._ranked_list("Excitatory earlier units (w * x > 0), strongest first; click to select, "
                                          "double-click to open everywhere")
        self.negative = self._ranked_list("Inhibitory earlier units (w * x < 0), strongest first; click to select, "
                                          "double-click to open everywhere")
        self.wx_view = ArrayView()
        self.wx_label = QLabel("Pick an earlier unit to see its w * x map over the region the unit sees.")
        self.wx_label.setWordWrap(True)
        lists = QWidget()
        lists_layout = QVBoxLayout(lists)
        lists_layout.setContentsMargins(0, 0, 0, 0)
        lists_layout.addWidget(QLabel("Excitatory (+)"))
        lists_layout.addWidget(self.positive, 1)
        lists_layout.addWidget(QLabel("Inhibitory (−)"))
        lists_layout.addWidget(self.negative, 1)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.wx_view, 1)
        detail_layout.addWidget(self.wx_label)
        self.attribution_vis = FigureView("Visualise attribution renders what the w * x looks like")
        detail_layout.addWidget(self.attribution_vis, 1)
        splitter = QSplitter()
        splitter.addWidget(lists)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(splitter, 1)
        return page

    def _ranked_list(self, tip: str) -> QListWidget:
        widget = QListWidget()
        widget.setViewMode(QListWidget.ViewMode.IconMode)
        widget.setFlow(QListWidget.Flow.LeftToRight)
        widget.setWrapping(True)
        widget.setResizeMode(QListWidget.ResizeMode.Adjust)
        widget.setMovement(QListWidget.Movement.Static)
        widget.setWordWrap(True)
        widget.setToolTip(tip)
        widget.itemClicked.connect(self._on_ranked_clicked)
        widget.itemDoubleClicked.connect(lambda item: self.state.activate_unit(item.data(UNIT_ROLE)))
        widget.currentItemChanged.connect(lambda item, _prev: self._show_wx(item))
        return widget

    def _build_curves(self) -> QWidget:
        def spin(value: float, low: float, high: float, step: float, tip: str) -> QDoubleSpinBox:
            box = QDoubleSpinBox()
            box.setRange(low, high)
            box.setDecimals(2)
            box.setSingleStep(step)
            box.setValue(value)
            box.setToolTip(tip)
            return box

        self.canny_sigma = spin(2.0, 0.0, 10.0, 0.5, "Canny: Gaussian sigma in pixels before the gradient")
        self.canny_low = spin(0.05, 0.0, 1.0, 0.01, "Canny: low hysteresis threshold on the gray gradient")
        self.canny_high = spin(0.15, 0.0, 1.0, 0.01, "Canny: high hysteresis threshold on the gray gradient")
        self.curve_threshold = spin(0.25, 0.0, 1.0, 0.05, "Curve-map level counted as a curve pixel when "
                                                          "comparing with the Canny edges")
        self.curve_method = QComboBox()
        for key in ("input_x_gradient", "ig", "saliency", "guided"):
            self.curve_method.addItem(METHOD_NAMES[key], key)
        self.curve_method.setToolTip("Attribution method for the curve map (the family is chosen on the Pixels "
                                     "tab: Family)")
        self.run_curves = QPushButton("Extract curves")
        self.run_curves.setToolTip("Attribute the family's summed maps to the pixels and compare with Canny edges")
        self.run_curves.clicked.connect(self.run_curve_extraction)
        form = QHBoxLayout()
        for label, widget in (("Method", self.curve_method), ("Canny sigma", self.canny_sigma),
                              ("low", self.canny_low), ("high", self.canny_high),
                              ("curve level", self.curve_threshold)):
            form.addWidget(QLabel(label))
            form.addWidget(widget)
        form.addStretch(1)
        form.addWidget(self.run_curves)
        self.curve_image = ArrayView(colorbar=False)
        self.curve_map = ArrayView()
        self.edge_map = ArrayView(colorbar=False)
        views = QHBoxLayout()
        for title, view in (("image", self.curve_image), ("curve map", self.curve_map),
                            ("Canny edges", self.edge_map)):
            column = QFormLayout()
            column.addRow(QLabel(title))
            column.addRow(view)
            views.addLayout(column, 1)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addLayout(views, 1)
        return page

    # ----------------------------------------------------------------- state
    def _on_model(self, model) -> None:
        self.family.clear()
        for name, units in model.families.items():
            self.family.addItem(name, ",".join(units))
        preset = next((i for i in range(self.family.count()) if "curve" in self.family.itemText(i)
                       and "mixed3b" in self.family.itemText(i)), 0)
        self.family.setCurrentIndex(preset)
        output = model.catalogue.layers[-1].channels if len(model.catalogue) else 1
        self.class_index.set_labels(model.class_labels, output)
        self.cam_layer.clear()
        self.cam_layer.addItem("auto", None)
        for info in model.catalogue:
            if info.shape[1] > 1 and not info.is_pre_relu:
                self.cam_layer.addItem(info.name, info.name)
        self._clear_results()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)
        self._update_enabled()

    def _on_unit(self, unit: UnitRef) -> None:
        self.unit_label.setText(f"unit: {unit}")
        # the map explained the previous unit (the earlier-units list stays: it is how one walks back)
        if self.result is not None and isinstance(self._last["pixels"]["target"], UnitTarget):
            self._clear_pixels()
        model = self.state.model
        if model is None or unit.layer not in model.catalogue:
            return
        current = self.source_layer.currentData()
        self.source_layer.blockSignals(True)
        self.source_layer.clear()
        attributed = attributed_layer(model, unit).layer
        for name in source_layers(model, attributed):
            self.source_layer.addItem(name, name)
        wanted = current if current in source_layers(model, attributed) else default_source_layer(model, unit.layer)
        index = self.source_layer.findData(wanted)
        self.source_layer.setCurrentIndex(index if index >= 0 else self.source_layer.count() - 1)
        self.source_layer.blockSignals(False)

    def _on_image(self, image) -> None:
        self.image_label.setText(f"image: {image.name}")
        self._clear_results()

    def _clear_results(self) -> None:
        """Forget results that belong to another model or image."""
        self._clear_pixels()
        self._clear_earlier()
        self.curves = None
        self._last.pop("curves", None)
        self.curve_map.clear_image()
        self.edge_map.clear_image()
        if self.state.image is not None:
            self.curve_image.set_image(self.state.image.pixels)

    def _clear_pixels(self) -> None:
        self.result = None
        self._last.pop("pixels", None)
        if self.state.image is not None:
            self.overlay.set_image(self.state.image.pixels)  # the photo without the old map
        else:
            self.overlay.clear()

    def _clear_earlier(self) -> None:
        self.contributions = self.attribution_result = None
        self._earlier_view = "ranking"
        self.attribution_vis.set_image(None)
        self._last.pop("earlier", None)
        self.positive.clear()
        self.negative.clear()
        self.wx_view.clear_image()
        self.wx_label.clear()

    def _update_enabled(self) -> None:
        kind = self.target_kind.currentData()
        method = self.method.currentData()
        self.class_index.setEnabled(kind == "class")
        for widget in (self.baseline, self.steps, self.batch):
            widget.setEnabled(method == "ig")
        self.cam_layer.setEnabled(method == "gradcam")

    # ----------------------------------------------------------------- running
    def _ready(self) -> bool:
        if self.state.model is None:
            self.state.message("load a model first")
            return False
        if self.state.image is None:
            self.state.message("open an image first (File > Open image…, or drop one on the window)")
            return False
        return True

    def family_units(self) -> tuple[UnitRef, ...]:
        """The units of the chosen family (a preset, or units typed into the box)."""
        text = self.family.currentText()
        index = self.family.findText(text)
        spec = self.family.itemData(index) if index >= 0 else text
        return family_target(self.state.model, parse_unit_list(spec)).units

    def current_target(self) -> Target:
        """The target the Pixels tab's controls describe."""
        model, unit = self.state.model, self.state.unit
        kind = self.target_kind.currentData()
        if kind == "class":
            return ClassTarget(self.class_index.value())
        if kind == "family":
            return FamilyTarget(self.family_units())
        if unit is None:
            raise UserError("pick a unit first")
        if self.pre_relu.isChecked():
            unit = attributed_layer(model, unit, pre_relu=True)
        position = "max" if kind == "max" else None
        return UnitTarget(unit, position, whole_map=kind == "map")

    def describe(self, target: Target) -> str:
        """``target`` in words; a class with its name (``class 285 Egyptian cat``)."""
        if isinstance(target, ClassTarget):
            return f"class {class_name(target.index, self.state.model.class_labels)}"
        return target.describe()

    def _result_title(self) -> str:
        r = self.result
        return (f"{self.describe(self._last['pixels']['target'])}: {METHOD_NAMES[r.method]}"
                + (f" at {r.layer}" if r.layer else ""))

    def _in_photo_aspect(self, result: AttributionResult) -> tuple[np.ndarray, np.ndarray]:
        """The analysed image and its map (both at the model's square input size) stretched back
        to the photo's aspect ratio, so that a photo is not shown squashed."""
        photo_h, photo_w = self.state.image.pixels.shape[:2] if self.state.image is not None else (1, 1)
        h, w = result.map.shape[:2]
        size = (h, round(h * photo_w / photo_h)) if photo_w >= photo_h else (round(w * photo_h / photo_w), w)
        if size == (h, w):
            return result.image, result.map
        image = np.asarray(to_pil(result.image).resize((size[1], size[0]), Image.BILINEAR), np.float32) / 255
        image = image.reshape(*size, -1)  # a one-channel image keeps its channel axis
        heat = result.map.sum(axis=2) if result.map.ndim == 3 else result.map
        return image, np.asarray(Image.fromarray(heat.astype(np.float32), "F").resize((size[1], size[0]),
                                                                                      Image.BILINEAR))

    def _options(self) -> dict:
        method = self.method.currentData()
        if method == "ig":
            return {"baseline": self.baseline.currentText(), "steps": self.steps.value(),
                    "internal_batch_size": self.batch.value()}
        if method == "gradcam" and self.cam_layer.currentData():
            return {"layer": self.cam_layer.currentData()}
        return {}

    def _submit(self, fn, *args, name: str, on_done) -> Job | None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
        self.job = self.run_job(fn, *args, name=name, on_done=on_done)
        self.progress.follow(self.job)
        return self.job

    def run_attribution(self) -> Job | None:
        """Attribute the chosen target on the current image with the chosen method."""
        if not self._ready():
            return None
        try:
            target = self.current_target()
        except UserError as error:
            self.state.message(str(error))
            return None
        method, options = self.method.currentData(), self._options()
        params = {"target": target, "method": method, "options": options}
        self.info.setText(f"running {METHOD_NAMES[method]} for {self.describe(target)}…")
        return self._submit(attribution_job, self.state.image.pixels, target, method, options,
                            name=f"attribute {method}", on_done=partial(self._on_attribution, params))

    def run_contributions(self) -> Job | None:
        """Rank the earlier layer's units by their w * x into the current unit."""
        if not self._ready() or self.state.unit is None or not self.source_layer.currentData():
            return None
        unit, layer = self.state.unit, self.source_layer.currentData()
        position, pre_relu = self.position.currentData(), self.pre_relu.isChecked()
        params = {"unit": unit, "layer": layer, "position": position, "pre_relu": pre_relu, "top": self.top.value()}
        self.info.setText(f"computing w * x from {layer} into {unit}…")
        return self._submit(contributions_job, self.state.image.pixels, unit, layer, position, pre_relu,
                            self.top.value(), name=f"w*x {layer} -> {unit}",
                            on_done=partial(self._on_contributions, params))

    def run_attribution_visualisation(self) -> Job | None:
        """Render the feature visualisation of the current unit's attribution from the earlier
        layer on the current image (the featvis task with ``attribution_from`` and ``image``)."""
        if not self._ready() or self.state.unit is None or not self.source_layer.currentData():
            return None
        request = FeatvisRequest(units=(str(self.state.unit),), attribution_from=self.source_layer.currentData(),
                                 image=self.state.image.name, steps=128, size=128)
        self.info.setText(f"visualising the attribution from {request.attribution_from} into {self.state.unit}…")
        return self._submit(tasks.run, request, name=f"visualise attribution -> {self.state.unit}",
                            on_done=self._on_attribution_visualisation)

    def _on_attribution_visualisation(self, result) -> None:
        self.attribution_result = result
        self._earlier_view = "visualisation"
        self.attribution_vis.set_image(result.figure(1.0))
        self.info.setText(f"feature visualisation of {result.names()[0]}")

    def run_curve_extraction(self) -> Job | None:
        """Attribute the family's maps to the pixels and compare with the Canny edge map."""
        if not self._ready():
            return None
        try:
            units = self.family_units()
        except UserError as error:
            self.state.message(str(error))
            return None
        method = self.curve_method.currentData()
        options = {"canny_sigma": self.canny_sigma.value(), "canny_low": self.canny_low.value(),
                   "canny_high": self.canny_high.value(), "curve_threshold": self.curve_threshold.value()}
        params = {"units": units, "method": method, "options": options}
        self.info.setText(f"extracting curves of {len(units)} units…")
        return self._submit(curves_job, self.state.image.pixels, units, method, options,
                            name="curve extraction", on_done=partial(self._on_curves, params))

    # ----------------------------------------------------------------- results
    def _on_attribution(self, params: dict, result: AttributionResult) -> None:
        self.result, self._last["pixels"] = result, params
        self.overlay.set_data(*self._in_photo_aspect(result))
        text = self._result_title()
        text += f"; value {result.value:.4g}, attribution sum {float(result.map.sum()):.4g}"
        if result.completeness_gap is not None:
            text += (f"; baseline value {result.baseline_value:.4g}, completeness gap "
                     f"{result.completeness_gap:.3g} (more steps shrink it)")
        self.info.setText(text + (f". {result.note}" if result.note else ""))

    def _on_contributions(self, params: dict, payload: tuple[Contributions, dict]) -> None:
        (self.contributions, self.thumbnails), self._last["earlier"] = payload, params
        self._earlier_view = "ranking"
        c, top = self.contributions, self._last["earlier"]["top"]
        limit = shared_limit(c.ranked(1, top) + c.ranked(-1, top))
        width = 2 * TILE if self.thumbnails else TILE
        for widget, sign in ((self.positive, 1), (self.negative, -1)):
            widget.clear()
            widget.setIconSize(QSize(width, TILE))
            widget.setGridSize(QSize(width + 16, TILE + 34))
            for row in c.ranked(sign, top):
                item = QListWidgetItem(self._tile_icon(c, row, limit), f"{row.unit.channel}\n{row.total:+.3g}")
                item.setData(UNIT_ROLE, row.unit)
                item.setToolTip(f"{row.unit}: w * x = {row.total:+.4g}"
                                + ("" if row.unit in self.thumbnails else "\n(no feature visualisation cached)"))
                widget.addItem(item)
        residual = f", residual {c.residual:.2g}" if c.residual is not None else ""
        bias = f", bias {c.bias:.4g}" if c.bias is not None else ""
        self.info.setText(f"{c.unit} as {c.target_layer}:{c.channel} at {c.position}: value {c.value:.4g}{bias}, "
                          f"sum of w * x from {c.source_layer} {c.totals.sum():.4g}{residual}")
        if self.positive.count():
            self.positive.setCurrentRow(0)

    def _tile_icon(self, c: Contributions, row, limit: float) -> QIcon:
        """The unit's w * x over the region the attributed unit sees, after its feature
        visualisation when one is cached (a grey stand-in when others have one)."""
        tile = _resized(spatial_tile(c.image, row.map, c.support, limit), Image.NEAREST)
        if not self.thumbnails:
            return QIcon(array_to_pixmap(tile))
        thumb = self.thumbnails.get(row.unit)
        left = _resized(np.asarray(thumb)[..., :3], Image.BILINEAR) if thumb is not None else \
            np.full((TILE, TILE, 3), 0.85, np.float32)
        return QIcon(array_to_pixmap(np.concatenate([left, tile], axis=1)))

    def _show_wx(self, item: QListWidgetItem | None) -> None:
        """The picked earlier unit's w * x over the image region the attributed unit sees."""
        c = self.contributions
        if item is None or c is None:
            return
        unit: UnitRef = item.data(UNIT_ROLE)
        values = c.wx[unit.channel]
        limit = float(np.abs(values).max()) or 1.0
        self.wx_view.set_image(spatial_tile(c.image, values, c.support, limit, pad=2))
        bar = self.wx_view.colorbar
        bar.setColorMap(diverging_colormap())
        bar.setLevels((-limit, limit))
        bar.setVisible(True)
        top, bottom, left, right = c.support
        self.wx_label.setText(f"{unit} -> {c.unit}: w * x over the {bottom - top}x{right - left} positions of "
                              f"{c.source_layer} the unit sees (and 2 around); total {values.sum():+.4g}")

    def _on_ranked_clicked(self, item: QListWidgetItem) -> None:
        self._show_wx(item)
        self.state.set_unit(item.data(UNIT_ROLE))

    def _on_curves(self, params: dict, result: CurveExtraction) -> None:
        self.curves, self._last["curves"] = result, params
        self.curve_image.set_image(result.image[..., :3])
        self.curve_map.set_values(result.curve_map)
        self.edge_map.set_image(np.repeat(1.0 - result.edges[..., None].astype(np.float32), 3, axis=2))
        self.info.setText(f"curve map of {len(result.units)} units: {result.agreement:.0%} of curve pixels lie within "
                          f"{result.params['tolerance']} px of a Canny edge ({int(result.edges.sum())} edge pixels)")

    # ----------------------------------------------------------------- export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        tab = self.tabs.currentIndex()
        if tab == 0 and self.result is not None:
            return overlay_figure(*self._in_photo_aspect(self.result), self._result_title(), scale=scale,
                                  **self.overlay.settings())
        if tab == 1 and self._earlier_view == "visualisation" and self.attribution_result is not None:
            return self.attribution_result.figure(scale)
        if tab == 1 and self.contributions is not None:
            return ranking_figure(self.contributions, self._last["earlier"]["top"], self.thumbnails, scale=scale)
        if tab == 2 and self.curves is not None:
            return curve_figure(self.curves, scale=scale)
        return None

    def cli_command(self) -> str | None:
        model, image = self.state.model, self.state.image
        if model is None or image is None:
            return None
        base = f"--model {model.spec}" + (f" --weights {model.weights_spec}" if model.is_random
                                          else "")
        picture = shlex.quote(image.name)
        tab = self.tabs.currentIndex()
        if tab == 0 and "pixels" in self._last:
            last = self._last["pixels"]
            options = _options_text(last["options"]) + _overlay_text(self.overlay.settings())
            return (f"circuitloupe attribute {_target_text(last['target'])} {picture} {base} "
                    f"--method {last['method']}{options} --out attribution.png")
        if tab == 1 and self._earlier_view == "visualisation" and self.attribution_result is not None:
            return tasks.command_line(self.attribution_result.request, tasks.model_arguments(model),
                                      {"out": "attribution_visualisation.png"})
        if tab == 1 and "earlier" in self._last:
            last = self._last["earlier"]
            extra = (" --position max" if last["position"] == "max" else "") + \
                ("" if last["pre_relu"] else " --post-relu")
            return (f"circuitloupe attribute {last['unit']} {picture} {base} --to-layer {last['layer']} "
                    f"--top {last['top']}{extra} --out earlier_units.png --json earlier_units.json")
        if tab == 2 and "curves" in self._last:
            last, o = self._last["curves"], self._last["curves"]["options"]
            units = ",".join(str(u) for u in last["units"])
            return (f"circuitloupe attribute {units} {picture} {base} --curves --method {last['method']} "
                    f"--canny-sigma {o['canny_sigma']:g} --canny-low {o['canny_low']:g} "
                    f"--canny-high {o['canny_high']:g} --curve-threshold {o['curve_threshold']:g} --out curves.png")
        return None


def _resized(image: np.ndarray, resample) -> np.ndarray:
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((TILE, TILE), resample), dtype=np.float32) / 255


def _target_text(target: Target) -> str:
    if isinstance(target, ClassTarget):
        return f"class:{target.index}"
    if isinstance(target, FamilyTarget):
        return ",".join(str(u) for u in target.units)
    text = str(target.unit)
    if target.whole_map:
        text += " --whole-map"
    if target.position == "max":
        text += " --position max"
    return text


def _options_text(options: dict) -> str:
    parts = []
    if "baseline" in options:
        parts.append(f"--baseline {options['baseline']} --steps {options['steps']} "
                     f"--batch {options['internal_batch_size']}")
    if options.get("layer"):
        parts.append(f"--layer {options['layer']}")
    return "".join(" " + p for p in parts)


def _overlay_text(settings: dict) -> str:
    text = f" --mode {settings['mode']} --opacity {settings['opacity']:g} --clip {settings['clip_percentile']:g}"
    return text + ("" if settings["signed"] else " --absolute")
