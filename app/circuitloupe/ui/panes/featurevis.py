"""Feature visualisation pane: optimise images for units and watch them form.

Units come from the current unit, a family preset of the model, or a typed list. Run renders
all of them (times the diversity count) in one batch on the inference service; the images
update live while the optimiser runs, and the progress bar shows steps per second. Results are
cached on disk per model, unit and settings, so asking again is instant; the gallery lists every
cached visualisation of the current unit. The pane runs the featvis task; Export PNG writes its
Result's labelled grid (or the selected image), the figure ``circuitloupe featvis`` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListView,
                               QListWidget, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from circuitloupe import tasks
from circuitloupe.core import figures
from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis import cache
from circuitloupe.core.featurevis.cache import UnitVis
from circuitloupe.core.featurevis.figures import single_image, unit_grid
from circuitloupe.core.featurevis.objectives import OBJECTIVE_KINDS
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.service import Job
from circuitloupe.tasks import FeatvisRequest, FeatvisResult
from circuitloupe.tasks.featvis import lookup
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.flow_layout import labelled
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.result_export import ResultExport
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

CURRENT, TYPED, DIRECTION = "current", "typed", "direction"
LIVE_TILE, GALLERY_TILE = 144, 72
EXPORT_GRID, EXPORT_SELECTED = "grid", "selected"


def _icon(image: np.ndarray, size: int) -> QIcon:
    pil = figures.upscale(figures.to_pil(image), size, smooth=image.shape[0] < size)
    return QIcon(array_to_pixmap(np.asarray(pil)))


@dock_pane("featurevis")
class FeatureVisPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.results: list[UnitVis] = []  # the visualisations shown: of ``result``, or a preview
        self.result: FeatvisResult | None = None  # None while a preview shows
        self.job: Job | None = None
        self.preview_count = 0
        self.last_rate = ""
        self._selected: tuple[str, np.ndarray] | None = None  # (label, image) picked in a list
        self.direction_path = ""  # the .npy vector rendered when the source is "direction"

        self.source = QComboBox()
        self.source.setToolTip("Which units to visualise: the current unit, a family preset of this model, "
                               "a list you type, or a direction: a .npy vector over a layer's channels")
        self.source.currentIndexChanged.connect(self._on_source)
        self.units_edit = QLineEdit()
        self.units_edit.setPlaceholderText("mixed3a:81,147 mixed3b:379")
        self.units_edit.setToolTip("Units to visualise, e.g. mixed3a:81,147,145 mixed3b:379 (Enter runs)")
        self.units_edit.returnPressed.connect(self.run)
        self.objective = QComboBox()
        self.objective.addItems(OBJECTIVE_KINDS)
        self.objective.setToolTip("channel: the unit's mean over positions; neuron: its centre position; "
                                  "direction: cosine with the unit's one-hot direction (fire it alone)")
        self.steps = spin_box(8, 4096, 256, step=32, tip="Optimisation steps (Adam, learning rate 0.05)")
        self.size = spin_box(32, 512, 128, step=16, tip="Image size in pixels")
        self.diversity = spin_box(1, 8, 1, step=1, tip="Images per unit; more than one adds a diversity term "
                                                       "that pushes them apart (Gram-matrix cosine penalty)")
        self.seed = spin_box(0, 99999, 0, step=1, tip="Random seed: the same seed gives the same images")
        self.transforms = QCheckBox("transforms")
        self.transforms.setChecked(True)
        self.transforms.setToolTip("Transformation robustness: random pad, jitter, scale and rotate each step "
                                   "(Lucid's standard list); off gives noisier, adversarial-looking images")
        self.param = QComboBox()
        self.param.addItems(["fourier", "pixel"])
        self.param.setToolTip("Image parameterisation: fourier (1/f spectrum, decorrelated colour) or pixel")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Render the units' feature visualisations (cached results appear at once)")
        self.run_button.clicked.connect(self.run)
        self.progress = JobProgress("steps")
        self.export_mode = QComboBox()
        self.export_mode.addItem("grid with unit labels", EXPORT_GRID)
        self.export_mode.addItem("selected image", EXPORT_SELECTED)
        self.export_mode.setToolTip("What Export PNG (Ctrl+E) writes: every image in a labelled grid, or only "
                                    "the image selected in the results or the gallery")

        self.live = self._icon_list(LIVE_TILE, "Images of the current run; they update while optimising. "
                                               "Click one to select it for export.")
        self.gallery = self._icon_list(GALLERY_TILE, "Every cached visualisation of the current unit (any "
                                                     "settings); click one to select it for export")
        self.info = QLabel("Pick units and press Run.")
        self.info.setWordWrap(True)
        self.gallery_label = QLabel("Gallery")

        options = QHBoxLayout()
        for label, widget in (("Objective", self.objective), ("Steps", self.steps), ("Size", self.size),
                              ("Images/unit", self.diversity), ("Seed", self.seed)):
            options.addWidget(labelled(label, widget))
        options.addWidget(self.param)
        options.addWidget(self.transforms)
        options.addStretch(1)
        form = QFormLayout()
        units_row = QHBoxLayout()
        units_row.addWidget(self.source, 1)
        units_row.addWidget(self.units_edit, 2)
        form.addRow("Units", units_row)
        form.addRow(options)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(QLabel("Export"))
        run_row.addWidget(self.export_mode)
        form.addRow(run_row)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.gallery_label)
        bottom_layout.addWidget(self.gallery)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.live)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.info)

        self.live.itemClicked.connect(self._on_item_clicked)
        self.gallery.itemClicked.connect(self._on_item_clicked)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)

    # ----- widgets -------------------------------------------------------------------------

    @staticmethod
    def _icon_list(tile: int, tip: str) -> QListWidget:
        listing = QListWidget()
        listing.setViewMode(QListView.ViewMode.IconMode)
        listing.setIconSize(QSize(tile, tile))
        listing.setGridSize(QSize(tile + 16, tile + 24))
        listing.setResizeMode(QListView.ResizeMode.Adjust)
        listing.setMovement(QListView.Movement.Static)
        listing.setWrapping(True)
        listing.setToolTip(tip)
        return listing

    # ----- state ---------------------------------------------------------------------------

    def request(self, units: list[UnitRef] | None = None) -> FeatvisRequest:
        """The featvis request the controls describe (of ``units``, default :meth:`units`); raises UserError."""
        settings = dict(steps=self.steps.value(), size=self.size.value(), seed=self.seed.value(),
                        objective=self.objective.currentText(), diversity=self.diversity.value(),
                        no_transforms=not self.transforms.isChecked(), param=self.param.currentText())
        if units is None and self.source.currentData() == DIRECTION:
            if not self.direction_path:
                raise UserError("choose a direction file (.npy) first")
            if self.state.model is None:
                raise UserError("open a model first")
            layer = self.state.model.catalogue.layer(self.units_edit.text().strip()).name
            return FeatvisRequest((layer,), direction=self.direction_path, **settings)
        return FeatvisRequest(tuple(str(u) for u in (self.units() if units is None else units)), **settings)

    def set_direction(self, path: str, layer: str | None = None) -> None:
        """Render the direction in ``path`` (a .npy vector over ``layer``'s channels; default: the
        current unit's layer) when the source is "direction"."""
        self.direction_path = path
        if layer is None and self.state.unit is not None:
            layer = self.state.unit.layer
        if layer:
            self.units_edit.setText(layer)
        self.info.setText(f"direction {Path(path).name}: Run renders it" if path else "no direction file chosen")

    def units(self) -> list[UnitRef]:
        """The units to visualise (validated against the model); raises UserError."""
        model = self.state.model
        if model is None:
            raise UserError("open a model first")
        source = self.source.currentData()
        if source == CURRENT:
            if self.state.unit is None:
                raise UserError("select a unit first (or pick a family or type units)")
            refs = [self.state.unit]
        elif source == TYPED:
            refs = parse_unit_list(self.units_edit.text())
        else:
            refs = [UnitRef.parse(u) for u in model.families.get(source, [])]
        return [model.catalogue.unit(u) for u in refs]

    def _on_model(self, model) -> None:
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItem("current unit", CURRENT)
        for name in model.families:
            self.source.addItem(f"family: {name}", name)
        self.source.addItem("typed list", TYPED)
        self.source.addItem("direction (.npy)…", DIRECTION)
        self.source.blockSignals(False)
        self._on_source()
        self.results = []
        self.result = None
        self._selected = None
        self.live.clear()
        self.gallery.clear()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def _on_source(self, _index: int = 0) -> None:
        source = self.source.currentData()
        self.units_edit.setEnabled(source in (TYPED, DIRECTION))
        self.units_edit.setPlaceholderText("the direction's layer, e.g. mixed4a" if source == DIRECTION
                                           else "mixed3a:81,147 mixed3b:379")
        if source == DIRECTION:
            if not self.direction_path:
                path, _ = QFileDialog.getOpenFileName(self, "Direction vector", "", "NumPy vector (*.npy)")
                self.set_direction(path)
            return
        if source == CURRENT and self.state.unit is not None:
            self.units_edit.setText(str(self.state.unit))
        elif source not in (CURRENT, TYPED, None) and self.state.model is not None:
            self.units_edit.setText(" ".join(self.state.model.families.get(source, [])))

    def _on_unit(self, unit: UnitRef) -> None:
        if self.source.currentData() == CURRENT:
            self.units_edit.setText(str(unit))
        if self.job is not None or self.state.model is None:
            return
        try:
            request = self.request([unit]) if self.source.currentData() == CURRENT else None
        except UserError:
            return
        self.run_job(lookup, request, unit, name=f"featvis cache {unit}",
                     on_done=lambda found, u=unit: self._on_lookup(u, found))

    def _on_lookup(self, unit: UnitRef, found: tuple[FeatvisResult | None, list]) -> None:
        result, gallery = found
        if unit != self.state.unit or self.job is not None:
            return
        if result is not None:
            self._show_result(result)
            self.info.setText(f"{unit}: from the cache")
        self._fill_gallery(unit, gallery)

    # ----- running -------------------------------------------------------------------------

    def run(self) -> None:
        """Render the chosen units with the chosen settings (cached ones come back at once)."""
        if self.job is not None:
            self.job.cancel()
        try:
            request = self.request()
        except UserError as error:
            self.state.message(str(error))
            self.info.setText(str(error))
            return
        units = request.units
        self.results, self.result = [], None
        self._selected = None
        self.preview_count = 0
        self.live.clear()
        self.run_button.setEnabled(False)
        n = len(units) * request.diversity
        self.info.setText(f"rendering {n} image{'s' if n > 1 else ''} of {len(units)} unit"
                          f"{'s' if len(units) > 1 else ''} at {request.size} px, {request.steps} steps…")

        def connect(job: Job) -> None:
            self.job = job
            self.progress.follow(job)
            job.sigProgress.connect(lambda step, total, preview: self._on_progress(request, step, total, preview))
            job.sigFinished.connect(lambda result, j=job: self._on_finished(j, result))
            job.sigFailed.connect(lambda message, j=job: self._on_stopped(j, message))
            job.sigCancelled.connect(lambda j=job: self._on_stopped(j, "cancelled"))

        self.run_job(tasks.run, request, connect=connect,
                     name=f"featvis {len(units)} unit{'s' if len(units) > 1 else ''}")

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_progress(self, request: FeatvisRequest, step: int, total: int, preview: Any) -> None:
        self.last_rate = self.progress.rate.text()
        if not isinstance(preview, dict):
            return
        if "cached" in preview:
            self.results = list(preview["cached"])
            self._show_results(self.results)
            return
        units, images = preview["units"], preview["images"]
        k = len(images) // max(1, len(units))
        settings = request.settings()
        live = [UnitVis(u, settings, images[i * k:(i + 1) * k], np.full(k, np.nan), np.full(k, np.nan))
                for i, u in enumerate(units)]
        done = {vis.unit for vis in live}
        self._show_results([vis for vis in self.results if vis.unit not in done] + live)
        self.preview_count += 1
        self.info.setText(f"step {step} of {total}  {self.last_rate}")

    def _on_finished(self, job: Job, result: FeatvisResult) -> None:
        if job is not self.job:
            return
        self.job = None
        self.run_button.setEnabled(True)
        self._show_result(result)
        results = result.visualisations
        parts = []
        for vis in results[:6]:
            start, end = np.nanmean(vis.start_values), np.nanmean(vis.end_values)
            parts.append(f"{vis.unit} {start:.3g} → {end:.3g}" if np.isfinite(end) else str(vis.unit))
        more = f" (+{len(results) - 6} more)" if len(results) > 6 else ""
        rate = f"; {self.last_rate}" if self.last_rate and not all(v.cached for v in results) else ""
        self.info.setText("objective " + ", ".join(parts) + more + rate)
        self._refresh_gallery()

    def _on_stopped(self, job: Job, message: str) -> None:
        if job is not self.job:
            return
        self.job = None
        self.run_button.setEnabled(True)
        self.info.setText(message if message != "cancelled" else "cancelled; the images show the last preview")

    def _refresh_gallery(self) -> None:
        unit = self.state.unit
        if unit is None:
            return
        self.run_job(lookup, None, unit, name=f"featvis gallery {unit}",
                     on_done=lambda found, u=unit: self._fill_gallery(u, found[1]))

    # ----- display -------------------------------------------------------------------------

    def _show_result(self, result: FeatvisResult) -> None:
        self.result = result
        self.results = result.visualisations
        self._show_results(self.results)

    def _show_results(self, results: list[UnitVis]) -> None:
        """Show every image of ``results`` in the live list (reusing items to avoid flicker)."""
        tiles = [(str(vis.unit) if len(vis.images) == 1 else f"{vis.unit} #{k + 1}", image)
                 for vis in results for k, image in enumerate(vis.images)]
        while self.live.count() > len(tiles):
            self.live.takeItem(self.live.count() - 1)
        for i, (label, image) in enumerate(tiles):
            item = self.live.item(i) if i < self.live.count() else None
            if item is None:
                item = QListWidgetItem()
                self.live.addItem(item)
            item.setText(label)
            item.setIcon(_icon(image, LIVE_TILE))
            item.setData(Qt.ItemDataRole.UserRole, (label, image))
            item.setToolTip(label)

    def _fill_gallery(self, unit: UnitRef, gallery: list[tuple[cache.CacheEntry, np.ndarray]]) -> None:
        self.gallery.clear()
        self.gallery_label.setText(f"Gallery of {unit}: {len(gallery)} cached" if gallery else
                                   f"Gallery of {unit}: nothing cached yet")
        for entry, image in gallery:
            s = entry.settings
            label = f"{s.size}px {s.steps}st"
            item = QListWidgetItem(_icon(image, GALLERY_TILE), label)
            detail = (f"{unit}: {s.objective}, {s.size} px, {s.steps} steps, seed {s.seed}, transforms {s.transforms}, "
                      f"{s.param}" + (f", image {entry.index + 1} of {s.diversity}" if s.diversity > 1 else ""))
            if np.isfinite(entry.end_value):
                detail += f"\nobjective {entry.start_value:.4g} → {entry.end_value:.4g}"
            item.setToolTip(detail)
            item.setData(Qt.ItemDataRole.UserRole, (f"{unit} ({label})", image))
            self.gallery.addItem(item)

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        self._selected = item.data(Qt.ItemDataRole.UserRole)
        if self._selected is not None:
            self.info.setText(f"selected {self._selected[0]} for export")

    # ----- export --------------------------------------------------------------------------

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.export_mode.currentData() == EXPORT_SELECTED:
            chosen = self._selected or (
                (str(self.results[0].unit), self.results[0].images[0]) if self.results else None)
            return None if chosen is None else single_image(chosen[1], scale)
        if self.result is not None and sum(len(vis.images) for vis in self.result.visualisations) > 1:
            return super().figure(scale)
        # a single image keeps its label here (the CLI writes it bare); a cancelled run, its last preview
        return unit_grid(self.results, scale) if self.results else None

    def project_state(self) -> dict[str, Any]:
        return {"size": self.size.value(), "steps": self.steps.value(), "seed": self.seed.value(),
                "objective": self.objective.currentText(), "diversity": self.diversity.value(),
                "transforms": self.transforms.isChecked(), "param": self.param.currentText(),
                "source": self.source.currentData(), "units": self.units_edit.text(),
                "direction": self.direction_path}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        for key, spin in (("size", self.size), ("steps", self.steps), ("seed", self.seed),
                          ("diversity", self.diversity)):
            if isinstance(data.get(key), int):
                spin.setValue(data[key])
        for key, combo in (("objective", self.objective), ("param", self.param)):
            if data.get(key) in [combo.itemText(i) for i in range(combo.count())]:
                combo.setCurrentText(data[key])
        if isinstance(data.get("transforms"), bool):
            self.transforms.setChecked(data["transforms"])
        if isinstance(data.get("direction"), str):
            self.direction_path = data["direction"]  # before the source, which asks for a missing one
        index = self.source.findData(data.get("source"))
        if index >= 0 and (data.get("source") != DIRECTION or self.direction_path):
            self.source.setCurrentIndex(index)
        if data.get("source") in (TYPED, DIRECTION) and isinstance(data.get("units"), str):
            self.units_edit.setText(data["units"])
