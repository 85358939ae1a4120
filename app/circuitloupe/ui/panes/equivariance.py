"""Equivariance pane: is a family of units permuted by rotation, hue, flip, scale, or hue and
rotation jointly?

Pick a family (a model preset, a saved family, or type units; a scale family may span layers), a
transformation and stimuli; the pane runs the ``equivariance`` task and shows the response matrix
(units x steps), the inferred permutation with its holes, the equivariance score against the
identity and random baselines, the weight symmetry between this family and a second one, the
hue x rotation chart, candidate families discovered in a layer (which can be saved), and, for
the attentive p4 CNNs, the attention over an input and over it rotated. ``self.result`` is the
last task Result: its figure is what Ctrl+E exports and its Request the "Copy as CLI" command.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core import equivariance as eq
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import parse_unit_list
from circuitloupe.tasks import DiscoverResult, EquivarianceRequest, EquivarianceResult
from circuitloupe.tasks.equivariance import HUE_ROTATION, LARGEST_SCALE, MAX_SCALE, MAX_STEPS, TRANSFORMS
from circuitloupe.ui.widgets.array_view import ArrayView
from circuitloupe.ui.widgets.controls import button, spin_box
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.result_export import ResultExport
from circuitloupe.ui.widgets.progress import JobProgress

GCNN_NOTE = ("Shipped rot-MNIST checkpoints: the authors' code selected them on the test set, "
             "so their quoted test accuracies are optimistic.")
#: The tabs, in order.
PERMUTATION_TAB, WEIGHTS_TAB, JOINT_TAB, DISCOVER_TAB, ATTENTION_TAB = range(5)


@dock_pane("equivariance")
class EquivariancePane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.family = QComboBox()
        self.family.setToolTip("Preset and saved families of this model; picking one fills in the units")
        self.family.activated.connect(self._on_family_picked)
        self.units = QLineEdit()
        self.units.setPlaceholderText("units, e.g. c2:0,1,2,3 or mixed3b:379,385,342")
        self.units.setToolTip("The family to analyse: layer:channel[,channel...] in the family's order")
        self.transform = QComboBox()
        for kind in TRANSFORMS:
            self.transform.addItem(kind, kind)
        self.transform.setToolTip("rotate: by 360/steps degrees counter-clockwise; hue: YIQ hue turn; "
                                  "flip: left-right mirror; scale: zoom up to the max zoom (units may span "
                                  "layers); hue_rotation: every rotation with every hue turn")
        self.transform.currentIndexChanged.connect(self._on_transform_changed)
        self.steps = spin_box(
            2, MAX_STEPS, eq.DEFAULT_STEPS["rotate"], "Number of transformation steps (rotate 8 = 45° steps, 4 = 90°; "
            "hue_rotation: rotation steps, even)")
        self.hue_steps = spin_box(2, MAX_STEPS, eq.DEFAULT_GRID[1], "hue_rotation: number of hue steps (even)", step=2)
        self.max_scale = spin_box(1.1, LARGEST_SCALE, MAX_SCALE, "scale: the last zoom factor (up to 8x, for "
                                  "families from small to large across layers)", step=0.5)
        self.stimuli = QComboBox()
        self.stimuli.addItem("synthetic", "synthetic")
        self.stimuli.addItem("feature visualisations", "featurevis")
        self.stimuli.addItem("image folder…", "folder")
        self.stimuli.setToolTip("Stimuli to transform: curves/lines/edges/gratings, the units' own feature "
                                "visualisations, or a folder of images")
        self.stimuli.activated.connect(self._on_stimuli_picked)
        self.reduce = QComboBox()
        for mode in eq.REDUCTIONS:
            self.reduce.addItem(mode, mode)
        self.reduce.setToolTip("One number per unit: centre value, spatial mean or spatial max")
        self.second = QLineEdit()
        self.second.setPlaceholderText("optional second family for weight symmetry, e.g. c3:0,1,2,3")
        self.second.setToolTip("A later family: test whether the weights between the two families rotate/flip "
                               "with their units")
        self.analyse_button = button("Analyse", "Measure the family under the transformation and infer the "
                                     "permutation", self.run_analysis)
        self.progress = JobProgress("batches")
        self.summary = QLabel("Pick a family and press Analyse.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setMinimumHeight(3 * self.summary.fontMetrics().height())

        self.matrix_view = ArrayView()
        self.matrix_view.setToolTip("Response matrix: rows are units, columns transformation steps "
                                    "(normalised response to the probe stimulus)")
        self.permutation_view = ArrayView()
        self.permutation_view.setToolTip("Match quality (1 - normalised error) of each unit on x (row) with each "
                                         "unit on g·x (column); the inferred mapping is the brightest cell of a row")
        self.score_plot = pg.PlotWidget()
        self.score_plot.setToolTip("Relative error after the best permutation, the identity and random permutations")
        self.score_plot.getAxis("bottom").setTicks([[(0, "best π"), (1, "identity"), (2, "random")]])
        self.mapping_list = QListWidget()
        self.mapping_list.setToolTip("Each unit and the unit it maps to (hole: none fits); click selects the unit")
        self.mapping_list.itemClicked.connect(lambda item: self.state.set_unit(item.data(Qt.ItemDataRole.UserRole)))
        self.weights_view = FigureView("Give a second family and press Analyse to compare the weights.")
        self.candidates = QListWidget()
        self.candidates.setToolTip("Candidate families found in the layer; double-click to analyse, Save to keep")
        self.candidates.itemDoubleClicked.connect(self._on_candidate_used)
        self.discover_layer = QComboBox()
        self.discover_layer.setToolTip("Layer to search for flip pairs and rotation families")
        self.discover_button = button("Discover", "Search the layer for candidate families of the chosen "
                                      "transformation", self.run_discovery)
        self.save_button = button("Save family", "Save the selected candidate (or the units above) as a named family",
                                  self._on_save)
        self.joint_view = FigureView("Choose hue_rotation and press Analyse: each unit over rotation × hue, the "
                                     "family on the orientation × hue torus and whether hue+180° acts as rotation+180°.")
        self.attention_view = FigureView("Attention maps exist for a_p4cnn and fa_p4cnn: open one and an image.")
        self.attention_button = button("Show attention", "Overall spatial attention over the current image (opened "
                                       "from a file or a sample) and over it rotated 90°", self.run_attention)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.family, 1)
        row.addWidget(self.units, 2)
        form.addRow("Family", row)
        options = FlowLayout()  # wraps in a narrow dock rather than widening the pane
        for label, widget in (("Transform", self.transform), ("Steps", self.steps), ("Hue steps", self.hue_steps),
                              ("Max zoom", self.max_scale), ("Stimuli", self.stimuli), ("Response", self.reduce)):
            options.addWidget(labelled(label, widget))
        options.addWidget(self.analyse_button)
        form.addRow(options)
        form.addRow("Weights to", self.second)

        results = QWidget()
        grid = QHBoxLayout(results)
        for title, widget in (("Responses (units × steps)", self.matrix_view),
                              ("Permutation", self.permutation_view), ("Score", self.score_plot)):
            box = QVBoxLayout()
            box.addWidget(QLabel(title))
            box.addWidget(widget, 1)
            grid.addLayout(box, 1)
        side = QVBoxLayout()
        side.addWidget(QLabel("Mapping"))
        side.addWidget(self.mapping_list, 1)
        grid.addLayout(side)
        discovery = QWidget()
        discovery_layout = QVBoxLayout(discovery)
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        row.addWidget(self.discover_layer, 1)
        row.addWidget(self.discover_button)
        row.addWidget(self.save_button)
        discovery_layout.addLayout(row)
        discovery_layout.addWidget(self.candidates, 1)
        attention = QWidget()
        attention_layout = QVBoxLayout(attention)
        attention_layout.addWidget(self.attention_button, 0, Qt.AlignmentFlag.AlignLeft)
        attention_layout.addWidget(self.attention_view, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(results, "Permutation")
        self.tabs.addTab(self.weights_view, "Weight symmetry")
        self.tabs.addTab(self.joint_view, "Hue × rotation")
        self.tabs.addTab(discovery, "Discover")
        self.tabs.addTab(attention, "Attention")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

        self.result: EquivarianceResult | DiscoverResult | None = None
        self._image: Image.Image | None = None  # the result's figure at scale 1
        self._folder: str | None = None
        self._on_transform_changed()
        state.sigModelChanged.connect(self._on_model)
        if state.model is not None:
            self._on_model(state.model)

    # ------------------------------------------------------------------ model and families

    def _on_model(self, model) -> None:
        self.result, self._image = None, None
        self.family.clear()
        self.family.addItem("(type units)", None)
        for name, units in {**model.families, **eq.saved_families(model)}.items():
            self.family.addItem(name, units)
        self.discover_layer.clear()
        for info in model.catalogue:
            if info.shape[1] > 1 or info.channels > 1:
                self.discover_layer.addItem(f"{info.name} ({info.channels})", info.name)
        self.candidates.clear()
        self.mapping_list.clear()
        self.matrix_view.clear_image()  # nothing of the old model stays on screen
        self.permutation_view.clear_image()
        self.score_plot.clear()
        for view in (self.weights_view, self.joint_view, self.attention_view):
            view.set_image(None)
        self.units.clear()  # the old model's units; a preset of the new one refills it
        has_attention = "attention_maps" in model.extras
        self.attention_button.setEnabled(has_attention)
        self.tabs.setTabEnabled(ATTENTION_TAB, has_attention)
        note = f" {GCNN_NOTE}" if model.weights_id.startswith("att_gconvs:") else ""
        self.summary.setText(f"{model.name}: pick a family and press Analyse.{note}")
        if self.family.count() > 1:
            self.family.setCurrentIndex(1)
            self._on_family_picked(1)
        if model.in_channels != 3 and self.transform.currentData() in ("hue", HUE_ROTATION):
            self.transform.setCurrentIndex(0)

    def _on_family_picked(self, index: int) -> None:
        units = self.family.itemData(index)
        if units:
            self.units.setText(" ".join(units))
            self.units.setCursorPosition(0)

    def _on_transform_changed(self) -> None:
        kind = self.transform.currentData()
        self.steps.setEnabled(kind != "flip")
        self.steps.setValue(eq.DEFAULT_GRID[0] if kind == HUE_ROTATION else eq.DEFAULT_STEPS[kind])
        self.hue_steps.setEnabled(kind == HUE_ROTATION)
        self.max_scale.setEnabled(kind == "scale")

    def _on_stimuli_picked(self) -> None:
        if self.stimuli.currentData() != "folder":
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder of stimulus images")
        if folder:
            self._folder = folder
            self.stimuli.setItemText(2, f"folder: {folder}")
        elif self._folder is None:
            self.stimuli.setCurrentIndex(0)

    def _stimuli_spec(self) -> str:
        data = self.stimuli.currentData()
        return self._folder if data == "folder" and self._folder else ("synthetic" if data == "folder" else data)

    def _parse(self, text: str) -> list[str]:
        model = self.state.model
        return [str(model.catalogue.unit(u)) for u in parse_unit_list(text)]

    def request(self, **changes) -> EquivarianceRequest | None:
        """The request the controls describe (with ``changes``), or None after saying what is wrong."""
        model = self.state.model
        if model is None:
            return None
        kind = self.transform.currentData()
        try:
            units = changes.pop("units", None) or ",".join(self._parse(self.units.text()))
            second = ",".join(self._parse(self.second.text())) if self.second.text().strip() else None
            if kind in ("hue", HUE_ROTATION) and model.in_channels != 3:
                raise UserError("hue rotation needs a colour model; this one takes grey images")
            steps = ((self.steps.value(), self.hue_steps.value()) if kind == HUE_ROTATION
                     else None if kind == "flip" else (self.steps.value(),))
            fields = dict(units=units, transform=kind, steps=steps, stimuli=self._stimuli_spec(),
                          reduce=self.reduce.currentData(), weights_to=second if kind != HUE_ROTATION else None,
                          max_scale=round(self.max_scale.value(), 6) if kind == "scale" else MAX_SCALE)
            return EquivarianceRequest(**{**fields, **changes})
        except UserError as error:
            self.state.message(str(error))
            self.summary.setText(str(error))
            return None

    # ------------------------------------------------------------------ jobs

    def _start(self, request: EquivarianceRequest | None, name: str):
        if request is None:
            return None
        job = self.run_job(tasks.run, request, name=name, on_done=self._on_result)
        job.sigFailed.connect(self.summary.setText)
        self.progress.follow(job)
        return job

    def run_analysis(self):
        """Start the analysis of the typed family (and the second family, if given)."""
        request = self.request()
        return self._start(request, f"equivariance {request.transform}" if request else "")

    def run_discovery(self):
        """Search the chosen layer for candidate families of the chosen transformation."""
        layer = self.discover_layer.currentData()
        if layer is None or self.transform.currentData() == HUE_ROTATION:
            self.summary.setText("Discover searches a layer for one transformation: rotate, hue, flip or scale.")
            return None
        return self._start(self.request(units=layer, discover=True, weights_to=None), f"discover {layer}")

    def run_attention(self):
        """The analysis with the attention of an attentive p4 CNN over the current image and it rotated."""
        model = self.state.model
        if model is None or "attention_maps" not in model.extras:
            return None
        if self.state.image is None:
            self.summary.setText("Open an image (or a sample) first: the attention is shown over it and over it "
                                 "rotated 90°.")
            return None
        return self._start(self.request(attention=self.state.image.name), "attention maps")

    # ------------------------------------------------------------------ results

    def _on_result(self, result: EquivarianceResult | DiscoverResult) -> None:
        self.result = result
        self._image = result.figure(1.0)
        if isinstance(result, DiscoverResult):
            self._on_candidates(result.candidates)
            return
        joint = isinstance(result.analysis, eq.HueRotationResult)
        analysis = result.analysis.rotation if joint else result.analysis
        self.matrix_view.set_values(analysis.response_matrix(), signed=True)
        errors = np.sqrt(analysis.cost / max(float(analysis.cost.max()), 1e-12))
        self.permutation_view.set_values(1.0 - errors)
        self.score_plot.clear()
        values = [analysis.score, analysis.baseline_identity, analysis.baseline_random]
        self.score_plot.addItem(pg.BarGraphItem(x=[0, 1, 2], height=values, width=0.6,
                                                brushes=["#ca0020", "#999999", "#0571b0"]))
        self.score_plot.addItem(pg.ErrorBarItem(x=np.array([2.0]), y=np.array([analysis.baseline_random]),
                                                height=np.array([2 * analysis.baseline_random_std]), beam=0.2))
        self.mapping_list.clear()
        halves = (result.analysis.rotation_half.mapped_units(), result.analysis.hue_half.mapped_units()) if joint \
            else None
        for unit, target in analysis.mapped_units().items():
            text = f"{unit} → {target if target else 'hole'}"
            if halves:
                text = f"{unit} → {halves[0][unit] or 'hole'} (rot 180°), {halves[1][unit] or 'hole'} (hue 180°)"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, unit)
            self.mapping_list.addItem(item)
        self.weights_view.set_image(eq.weight_symmetry_figure(result.symmetry) if result.symmetry else None)
        self.joint_view.set_image(eq.hue_rotation_figure(result.analysis) if joint else None)
        if result.attention is not None:
            self.attention_view.set_image(eq.attention_figure(result.attention))
        text = " ".join(result.lines())
        if joint:
            text += f". Permutation tab: one rotation step ({analysis.step:g}°), hue turns as extra stimuli"
        model = self.state.model
        if model is not None and model.weights_id.startswith("att_gconvs:"):
            text += f". {GCNN_NOTE}"
        self.summary.setText(text)
        self.tabs.setCurrentIndex(ATTENTION_TAB if result.attention is not None else
                                  JOINT_TAB if joint else PERMUTATION_TAB)

    def _on_candidates(self, found: list[eq.Candidate]) -> None:
        self.candidates.clear()
        for candidate in found:
            item = QListWidgetItem(candidate.name)
            item.setData(Qt.ItemDataRole.UserRole, candidate.units)
            self.candidates.addItem(item)
        if not found:
            self.candidates.addItem("no candidates above the correlation threshold")
        else:
            self.candidates.setCurrentRow(0)

    def _on_candidate_used(self, item: QListWidgetItem) -> None:
        units = item.data(Qt.ItemDataRole.UserRole)
        if units:
            self.units.setText(" ".join(units))
            self.tabs.setCurrentIndex(PERMUTATION_TAB)
            self.run_analysis()

    def _on_save(self, _checked: bool = False, name: str | None = None) -> None:
        """Save the selected candidate (or the typed units) as a family of this model."""
        model = self.state.model
        if model is None:
            return
        item = self.candidates.currentItem()
        units = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        try:
            units = units or self._parse(self.units.text())
        except UserError as error:
            self.state.message(str(error))
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Save family", "Name:", text=f"{self.transform.currentData()} "
                                            f"family {units[0]}…")
            if not ok or not name.strip():
                return
        eq.save_family(model, name.strip(), units)
        self.family.addItem(name.strip(), units)
        self.state.message(f"saved family '{name.strip()}' ({len(units)} units)")

    # ------------------------------------------------------------------ export

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.result is None:
            return None
        return self._image if scale == 1.0 and self._image is not None else self.result.figure(scale)
