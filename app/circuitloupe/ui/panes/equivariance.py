"""Equivariance pane: is a family of units permuted by rotation, hue, flip or scale?

Pick a family (a model preset, a saved family, or type units), a transformation and stimuli;
the pane shows the response matrix (units x steps), the inferred permutation with its holes,
the equivariance score against the identity and random baselines, the weight symmetry between
this family and a second one, candidate families discovered in a layer (which can be saved),
and, for the attentive p4 CNNs, the attention over an input and over the same input rotated.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe.core import equivariance as eq
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import side_by_side
from circuitloupe.core.units import parse_unit_list
from circuitloupe.service import JobContext
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.array_view import ArrayView
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress

GCNN_NOTE = ("Shipped rot-MNIST checkpoints: the authors' code selected them on the test set, "
             "so their quoted test accuracies are optimistic.")


def _stimuli(model, spec: str, units) -> object:
    if spec == "synthetic":
        return None
    if spec == "featurevis":
        return eq.featurevis_stimuli(model, units)
    return eq.folder_stimuli(spec, model.input_size)


def analysis_job(ctx: JobContext, units: list[str], kind: str, steps: int, stimuli: str, reduce: str,
                 second: list[str] | None = None) -> tuple:
    """Analyse a family (and optionally a second one plus the weights between them)."""
    model = ctx.model
    first = eq.equivariance(model, units, kind, steps, stimuli=_stimuli(model, stimuli, units), reduce=reduce,
                            progress=ctx.progress, should_stop=ctx.should_stop)
    if not second:
        return first, None
    other = eq.equivariance(model, second, kind, steps, stimuli=_stimuli(model, stimuli, second), reduce=reduce,
                            progress=ctx.progress, should_stop=ctx.should_stop)
    return first, eq.weight_symmetry(model, first, other, should_stop=ctx.should_stop)


def discover_job(ctx: JobContext, layer: str, kind: str, steps: int, reduce: str) -> list[eq.Candidate]:
    return eq.discover(ctx.model, layer, kind, steps, reduce=reduce, progress=ctx.progress,
                       should_stop=ctx.should_stop)


def attention_job(ctx: JobContext, pixels: np.ndarray) -> eq.AttentionView:
    return eq.attention_view(ctx.model, pixels)


class EquivariancePane(Pane):
    title = "Equivariance"
    object_name = "equivariance"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut = "Ctrl+8"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.family = QComboBox()
        self.family.setToolTip("Preset and saved families of this model; picking one fills in the units")
        self.family.activated.connect(self._on_family_picked)
        self.units = QLineEdit()
        self.units.setPlaceholderText("units, e.g. c2:0,1,2,3 or mixed3b:379,385,342")
        self.units.setToolTip("The family to analyse: layer:channel[,channel...] in the family's order")
        self.transform = QComboBox()
        for kind in eq.TRANSFORMS:
            self.transform.addItem(kind, kind)
        self.transform.setToolTip("rotate: by 360/steps degrees counter-clockwise; hue: YIQ hue turn; "
                                  "flip: left-right mirror; scale: zoom up to 2x")
        self.transform.currentIndexChanged.connect(self._on_transform_changed)
        self.steps = spin_box(
            2, 72, eq.DEFAULT_STEPS["rotate"], "Number of transformation steps (rotate 8 = 45° steps, 4 = 90°)")
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
        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setToolTip("Measure the family under the transformation and infer the permutation")
        self.analyse_button.clicked.connect(self.run_analysis)
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
        self.discover_button = QPushButton("Discover")
        self.discover_button.setToolTip("Search the layer for candidate families of the chosen transformation")
        self.discover_button.clicked.connect(self.run_discovery)
        self.save_button = QPushButton("Save family")
        self.save_button.setToolTip("Save the selected candidate (or the units above) as a named family")
        self.save_button.clicked.connect(self._on_save)
        self.attention_view = FigureView("Attention maps exist for a_p4cnn and fa_p4cnn: open one and an image.")
        self.attention_button = QPushButton("Show attention")
        self.attention_button.setToolTip("Overall spatial attention over the current image and over it rotated 90°")
        self.attention_button.clicked.connect(self.run_attention)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.family, 1)
        row.addWidget(self.units, 2)
        form.addRow("Family", row)
        row = QHBoxLayout()
        for label, widget in (("Transform", self.transform), ("Steps", self.steps), ("Stimuli", self.stimuli),
                              ("Response", self.reduce)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.analyse_button)
        form.addRow(row)
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
        self.tabs.addTab(discovery, "Discover")
        self.tabs.addTab(attention, "Attention")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

        self.result: eq.EquivarianceResult | None = None
        self.symmetry: eq.WeightSymmetry | None = None
        self.attention: eq.AttentionView | None = None
        self._folder: str | None = None
        self._run: dict | None = None
        state.sigModelChanged.connect(self._on_model)
        if state.model is not None:
            self._on_model(state.model)

    # ------------------------------------------------------------------ model and families

    def _on_model(self, model) -> None:
        self.result, self.symmetry, self.attention = None, None, None
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
        self.weights_view.set_image(None)
        self.attention_view.set_image(None)
        self.units.clear()  # the old model's units; a preset of the new one refills it
        has_attention = "attention_maps" in model.extras
        self.attention_button.setEnabled(has_attention)
        self.tabs.setTabEnabled(3, has_attention)
        note = f" {GCNN_NOTE}" if model.weights_id.startswith("att_gconvs:") else ""
        self.summary.setText(f"{model.name}: pick a family and press Analyse.{note}")
        if self.family.count() > 1:
            self.family.setCurrentIndex(1)
            self._on_family_picked(1)
        if model.in_channels != 3 and self.transform.currentData() == "hue":
            self.transform.setCurrentIndex(0)

    def _on_family_picked(self, index: int) -> None:
        units = self.family.itemData(index)
        if units:
            self.units.setText(" ".join(units))
            self.units.setCursorPosition(0)

    def _on_transform_changed(self) -> None:
        kind = self.transform.currentData()
        self.steps.setEnabled(kind != "flip")
        self.steps.setValue(eq.DEFAULT_STEPS[kind])

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

    # ------------------------------------------------------------------ jobs

    def run_analysis(self):
        """Start the analysis of the typed family (and the second family, if given)."""
        model = self.state.model
        if model is None:
            return None
        try:
            units = self._parse(self.units.text())
            second = self._parse(self.second.text()) if self.second.text().strip() else None
            if self.transform.currentData() == "hue" and model.in_channels != 3:
                raise UserError("hue rotation needs a colour model; this one takes grey images")
        except UserError as error:
            self.state.message(str(error))
            self.summary.setText(str(error))
            return None
        self._run = {"units": units, "kind": self.transform.currentData(), "steps": self.steps.value(),
                     "stimuli": self._stimuli_spec(), "reduce": self.reduce.currentData(), "second": second}
        job = self.run_job(analysis_job, units, self._run["kind"], self._run["steps"], self._run["stimuli"],
                           self._run["reduce"], second, name=f"equivariance {self._run['kind']}",
                           on_done=self._on_result)
        job.sigFailed.connect(self.summary.setText)
        self.progress.follow(job)
        return job

    def run_discovery(self):
        """Search the chosen layer for candidate families of the chosen transformation."""
        layer = self.discover_layer.currentData()
        if self.state.model is None or layer is None:
            return None
        job = self.run_job(discover_job, layer, self.transform.currentData(), self.steps.value(),
                           self.reduce.currentData(), name=f"discover {layer}", on_done=self._on_candidates)
        self.progress.follow(job)
        return job

    def run_attention(self):
        """Attention of an attentive p4 CNN over the current image (or a rendered curve) and it rotated."""
        if self.state.model is None or "attention_maps" not in self.state.model.extras:
            return None
        if self.state.image is not None:
            pixels = self.state.image.pixels
        else:
            from circuitloupe.core.stimuli import curve

            pixels = curve(30.0, 7.0, 28, width=2.5)
        job = self.run_job(attention_job, pixels, name="attention maps",
                           on_done=self._on_attention)
        self.progress.follow(job)
        return job

    # ------------------------------------------------------------------ results

    def _on_result(self, outcome: tuple) -> None:
        self.result, self.symmetry = outcome
        result = self.result
        self.matrix_view.set_values(result.response_matrix(), signed=True)
        errors = np.sqrt(result.cost / max(float(result.cost.max()), 1e-12))
        self.permutation_view.set_values(1.0 - errors)
        self.score_plot.clear()
        values = [result.score, result.baseline_identity, result.baseline_random]
        self.score_plot.addItem(pg.BarGraphItem(x=[0, 1, 2], height=values, width=0.6,
                                                brushes=["#ca0020", "#999999", "#0571b0"]))
        self.score_plot.addItem(pg.ErrorBarItem(x=np.array([2.0]), y=np.array([result.baseline_random]),
                                                height=np.array([2 * result.baseline_random_std]), beam=0.2))
        self.mapping_list.clear()
        for unit, target in result.mapped_units().items():
            item = QListWidgetItem(f"{unit} → {target if target else 'hole'}")
            item.setData(Qt.ItemDataRole.UserRole, unit)
            self.mapping_list.addItem(item)
        text = (f"{result.kind} by {result.step:g}: score {result.score:.3g} "
                f"(identity {result.baseline_identity:.3g}, random {result.baseline_random:.3g} ± "
                f"{result.baseline_random_std:.2g}); holes {len(result.holes)}")
        if result.shift:
            text += f"; shift {result.shift:+d} ({result.direction})"
        if result.wraps_at:
            text += f"; wraps at {result.wraps_at}°"
        if result.flip_pairs:
            text += "; flip pairs " + ", ".join(f"{result.units[i]}↔{result.units[j]}" for i, j in result.flip_pairs)
        if self.symmetry is not None:
            text += f"; weight symmetry error {self.symmetry.overall:.3g} (untransformed {self.symmetry.baseline:.3g})"
            self.weights_view.set_image(eq.weight_symmetry_figure(self.symmetry))
        model = self.state.model
        if model is not None and model.weights_id.startswith("att_gconvs:"):
            text += f". {GCNN_NOTE}"
        self.summary.setText(text)

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
            self.tabs.setCurrentIndex(0)
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

    def _on_attention(self, view: eq.AttentionView) -> None:
        self.attention = view
        self.attention_view.set_image(eq.attention_figure(view))
        self.tabs.setCurrentIndex(3)

    # ------------------------------------------------------------------ export

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.tabs.currentIndex() == 3 and self.attention is not None:
            return eq.attention_figure(self.attention, scale)
        if self.result is None:
            return None
        image = eq.summary_figure(self.result, scale)
        if self.symmetry is not None:
            grids = eq.weight_symmetry_figure(self.symmetry, scale)
            image = side_by_side([image, grids], height=int(image.height / scale), scale=scale)
        return image

    def cli_command(self) -> str | None:
        if self.result is None or self._run is None or self.state.model is None:
            return None
        run = self._run
        units = ",".join(run["units"])
        command = (f"circuitloupe equivariance {units} --model {self.state.model.spec} --transform {run['kind']} "
                   f"--steps {run['steps']} --reduce {run['reduce']} --json equivariance.json --out equivariance.png")
        if run["stimuli"] != "synthetic":
            command += f" --stimuli '{run['stimuli']}'"
        if run["second"]:
            command += f" --weights-to {','.join(run['second'])}"
        if self.attention is not None and self.state.image is not None:
            command += f" --attention '{self.state.image.name}'"
        return command
