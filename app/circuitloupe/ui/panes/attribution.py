"""Attribution pane: which pixels drive the current unit on the current image (input attribution
overlay), which earlier units do (w * x, ranked), and a curve family's curve map beside Canny edges.

Each tab builds an ``AttributeRequest`` (the "Earlier units" tab's visualisation a
``FeatvisRequest``), runs it on the inference service with progress and Cancel and shows the
Result: the figure ``circuitloupe attribute`` writes, and "Copy as CLI command" is the request's
own command line. An image that no file holds (not opened from disk, not a sample) travels as
pixels and has no command line.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core.attribution import BASELINES, METHOD_NAMES, METHODS, attributed_layer, family_target
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.core.weights import default_source_layer, source_layers
from circuitloupe.service import Job
from circuitloupe.tasks import AttributeRequest, FeatvisRequest, Request, Result
from circuitloupe.tasks.base import uses_memory
from circuitloupe.tasks.circuit import compact_units
from circuitloupe.ui.panes.attribution_earlier import UNIT_ROLE, EarlierUnitsTab
from circuitloupe.ui.widgets.array_view import ArrayView
from circuitloupe.ui.widgets.controls import ClassSpinBox, spin_box
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled
from circuitloupe.ui.widgets.overlay_view import OverlayView
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.result_export import ResultExport
from circuitloupe.ui.widgets.progress import JobProgress

__all__ = ["UNIT_ROLE", "AttributionPane"]

TARGET_KINDS = (("centre", "Unit at centre"), ("max", "Unit where strongest"), ("map", "Unit's whole map"),
                ("family", "Family (sum of maps)"), ("class", "Class logit"))
TABS = ("pixels", "earlier", "curves")
NO_FILE = "the image is not a file (save it, or open it from disk) so no command line reproduces it"


@dock_pane("attribution")
class AttributionPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.results: dict[str, Result] = {}  # each tab's last Result
        self.job: Job | None = None
        self.attribution_result = None  # the last "Visualise attribution" Result
        self._earlier_view = "ranking"  # what the Earlier units tab exports: "ranking" or "visualisation"

        self.unit_label = QLabel("unit: —")
        self.unit_label.setToolTip("Attribution explains the app's current unit (pick one anywhere)")
        self.image_label = QLabel("image: — (File > Open image…, or drop one on the window)")
        self.image_label.setToolTip("Attribution runs on the app's current image")
        self.earlier = EarlierUnitsTab(state)
        self.earlier.run_button.clicked.connect(self.run_contributions)
        self.earlier.visualise.clicked.connect(self.run_attribution_visualisation)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_pixels(), "Pixels")
        self.tabs.addTab(self.earlier, "Earlier units")
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
        pixels = self.results.get("pixels")
        if pixels is not None and not pixels.request.unit.startswith("class:") and "," not in pixels.request.unit:
            self._clear_pixels()
        model = self.state.model
        if model is None or unit.layer not in model.catalogue:
            return
        combo = self.earlier.source_layer
        current = combo.currentData()
        combo.blockSignals(True)
        combo.clear()
        choices = source_layers(model, attributed_layer(model, unit).layer)
        for name in choices:
            combo.addItem(name, name)
        wanted = current if current in choices else default_source_layer(model, unit.layer)
        index = combo.findData(wanted)
        combo.setCurrentIndex(index if index >= 0 else combo.count() - 1)
        combo.blockSignals(False)

    def _on_image(self, image) -> None:
        self.image_label.setText(f"image: {image.name}")
        self._clear_results()

    def _clear_results(self) -> None:
        """Forget results that belong to another model or image."""
        self._clear_pixels()
        self.results.pop("earlier", None)
        self.attribution_result = None
        self._earlier_view = "ranking"
        self.earlier.clear()
        self.results.pop("curves", None)
        self.curve_map.clear_image()
        self.edge_map.clear_image()
        if self.state.image is not None:
            self.curve_image.set_image(self.state.image.pixels)

    def _clear_pixels(self) -> None:
        self.results.pop("pixels", None)
        if self.state.image is not None:
            self.overlay.set_image(self.state.image.pixels)  # the photo without the old map
        else:
            self.overlay.clear()

    def _update_enabled(self) -> None:
        kind = self.target_kind.currentData()
        method = self.method.currentData()
        self.class_index.setEnabled(kind == "class")
        for widget in (self.baseline, self.steps, self.batch):
            widget.setEnabled(method == "ig")
        self.cam_layer.setEnabled(method == "gradcam")

    # ----------------------------------------------------------------- requests
    def _ready(self) -> bool:
        if self.state.model is None:
            self.state.message("load a model first")
            return False
        if self.state.image is None:
            self.state.message("open an image first (File > Open image…, or drop one on the window)")
            return False
        return True

    def _image_fields(self) -> dict:
        """The request's image: a file or sample by name, else the pixels themselves."""
        image = self.state.image
        on_disk = image.name.startswith("sample:") or Path(image.name).is_file()
        return {"image": image.name, "pixels": None if on_disk else image.pixels}

    def family_units(self) -> tuple[UnitRef, ...]:
        """The units of the chosen family (a preset, or units typed into the box)."""
        text = self.family.currentText()
        index = self.family.findText(text)
        spec = self.family.itemData(index) if index >= 0 else text
        return family_target(self.state.model, parse_unit_list(spec)).units

    def pixels_request(self) -> AttributeRequest:
        """The request the Pixels tab's controls describe (raises UserError, e.g. with no unit)."""
        kind, method = self.target_kind.currentData(), self.method.currentData()
        options: dict = {"method": method}
        if kind == "class":
            options["unit"] = f"class:{self.class_index.value()}"
        elif kind == "family":
            units = self.family_units()
            options.update(unit=compact_units(" ".join(map(str, units))), whole_map=len(units) == 1)
        else:
            unit = self.state.unit
            if unit is None:
                raise UserError("pick a unit first")
            if self.pre_relu.isChecked():
                unit = attributed_layer(self.state.model, unit, pre_relu=True)
            options.update(unit=str(unit), position="max" if kind == "max" else None, whole_map=kind == "map")
        if method == "ig":
            options.update(baseline=self.baseline.currentText(), steps=self.steps.value(), batch=self.batch.value())
        if method == "gradcam":
            options["layer"] = self.cam_layer.currentData()
        return AttributeRequest(**options, **self._image_fields(), **self._overlay_fields())

    def _overlay_fields(self) -> dict:
        s = self.overlay.settings()
        return {"absolute": not s["signed"], "opacity": s["opacity"], "clip": s["clip_percentile"], "mode": s["mode"]}

    # ----------------------------------------------------------------- running
    def _submit(self, key: str, request: Request, what: str, on_done=None) -> Job | None:
        if self.job is not None and not self.job.done:
            self.job.cancel()
        self.info.setText(what + "…")
        self.job = self.run_job(tasks.run, request, name=what, on_done=on_done or partial(self._on_result, key))
        self.progress.follow(self.job)
        return self.job

    def _guarded(self, build) -> Request | None:
        """``build()``, or None after a readable message when the controls ask for nothing valid."""
        if not self._ready():
            return None
        try:
            return build()
        except UserError as error:
            self.state.message(str(error))
            return None

    def run_attribution(self) -> Job | None:
        """Attribute the chosen target on the current image with the chosen method."""
        request = self._guarded(self.pixels_request)
        return request and self._submit("pixels", request, f"attribute {request.method} for {request.unit}")

    def run_contributions(self) -> Job | None:
        """Rank the earlier layer's units by their w * x into the current unit."""
        layer = self.earlier.source_layer.currentData()
        if self.state.unit is None or not layer:
            return None
        request = self._guarded(lambda: AttributeRequest(
            str(self.state.unit), to_layer=layer, position=self.earlier.position.currentData(),
            post_relu=not self.pre_relu.isChecked(), top=self.earlier.top.value(), **self._image_fields()))
        return request and self._submit("earlier", request, f"w * x from {layer} into {self.state.unit}")

    def run_attribution_visualisation(self) -> Job | None:
        """Render the feature visualisation of the current unit's attribution from the earlier
        layer on the current image (the featvis task with ``attribution_from`` and ``image``)."""
        layer = self.earlier.source_layer.currentData()
        if not self._ready() or self.state.unit is None or not layer:
            return None
        if self._image_fields()["pixels"] is not None:
            self.state.message(f"visualising an attribution reads the image from disk: {NO_FILE}")
            return None
        request = FeatvisRequest(units=(str(self.state.unit),), attribution_from=layer,
                                 image=self.state.image.name, steps=128, size=128)
        return self._submit("visualisation", request, f"visualising the attribution from {layer} into "
                            f"{self.state.unit}", on_done=self._on_attribution_visualisation)

    def run_curve_extraction(self) -> Job | None:
        """Attribute the family's maps to the pixels and compare with the Canny edge map."""
        request = self._guarded(lambda: AttributeRequest(
            compact_units(" ".join(map(str, self.family_units()))), curves=True, method=self.curve_method.currentData(),
            canny_sigma=self.canny_sigma.value(), canny_low=self.canny_low.value(),
            canny_high=self.canny_high.value(), curve_threshold=self.curve_threshold.value(), **self._image_fields()))
        return request and self._submit("curves", request, f"extracting curves of {request.unit}")

    # ----------------------------------------------------------------- results
    def _on_result(self, key: str, result: Result) -> None:
        self.results[key] = result
        text = getattr(self, f"_show_{key}")(result)
        self.info.setText(text + (f" ({NO_FILE})" if uses_memory(result.request) else ""))

    def _show_pixels(self, result) -> str:
        d = result.details
        self.overlay.set_data(*result.in_photo_aspect())
        text = f"{result.title()}; value {d.value:.4g}, attribution sum {float(d.map.sum()):.4g}"
        if d.completeness_gap is not None:
            text += (f"; baseline value {d.baseline_value:.4g}, completeness gap "
                     f"{d.completeness_gap:.3g} (more steps shrink it)")
        return text + (f". {d.note}" if d.note else "")

    def _show_earlier(self, result) -> str:
        self._earlier_view = "ranking"
        return self.earlier.show_result(result)

    def _show_curves(self, result) -> str:
        e = result.extraction
        self.curve_image.set_image(e.image[..., :3])
        self.curve_map.set_values(e.curve_map)
        self.edge_map.set_image(np.repeat(1.0 - e.edges[..., None].astype(np.float32), 3, axis=2))
        return (f"curve map of {len(e.units)} units: {e.agreement:.0%} of curve pixels lie within "
                f"{e.params['tolerance']} px of a Canny edge ({int(e.edges.sum())} edge pixels)")

    def _on_attribution_visualisation(self, result) -> None:
        self.attribution_result = result
        self._earlier_view = "visualisation"
        self.earlier.attribution_vis.set_image(result.figure(1.0))
        self.info.setText(f"feature visualisation of {result.names()[0]}")

    # ----------------------------------------------------------------- export
    @property
    def result(self) -> Result | None:
        """The Result the visible tab shows (the Pixels tab's with the overlay's current settings)."""
        key = TABS[self.tabs.currentIndex()]
        if key == "earlier" and self._earlier_view == "visualisation" and self.attribution_result is not None:
            return self.attribution_result
        result = self.results.get(key)
        if key == "pixels" and result is not None:
            return dataclasses.replace(result, request=dataclasses.replace(result.request, **self._overlay_fields()))
        return result

