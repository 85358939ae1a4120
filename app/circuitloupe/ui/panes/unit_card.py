"""The browser's unit card: the current unit's feature visualisation, its top inputs and outputs
(the expanded and outputs tasks), notes and tags, top dataset examples (the open atlas's, else the
scan cache's) and, on request, its polysemanticity (the polysemanticity task: score and clusters).

The card belongs to a :class:`~circuitloupe.ui.panes.browser.BrowserPane` (its ``owner``), which
holds the annotation store, the grid's thumbnails and the progress bar the card's jobs report to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core import figures
from circuitloupe.core import weights as W
from circuitloupe.core.units import UnitRef
from circuitloupe.service import Job
from circuitloupe.tasks.polysemanticity import PolysemanticityRequest, PolysemanticityResult
from circuitloupe.tasks.thumbnails import THUMB_SIZE, THUMB_STEPS, thumbnail_batches
from circuitloupe.tasks.unit_card import UnitCard, unit_card
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.flow_layout import FlowLayout
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

if TYPE_CHECKING:
    from circuitloupe.ui.panes.browser import BrowserPane

CARD_K = 6
ENTRY_ROLE = Qt.ItemDataRole.UserRole
IMAGE_SIZE, POLY_WIDTH = 128, 300
NO_EXAMPLES = "Scan a dataset (Dataset pane) to see this unit's top examples here."


class UnitCardView(QScrollArea):
    """The card of ``owner.state.unit``; ``card`` is the last :class:`UnitCard` computed for it."""

    def __init__(self, owner: BrowserPane) -> None:
        super().__init__()
        self.owner = owner
        self.state = owner.state
        self.card: UnitCard | None = None
        self.polysemanticity: dict[UnitRef, PolysemanticityResult] = {}  # scored this session, by unit
        self._poly_figures: dict[UnitRef, QPixmap] = {}
        self._job: Job | None = None
        self._render_job: Job | None = None
        self._poly_job: Job | None = None
        self._poly_unit: UnitRef | None = None  # the unit the polysemanticity job scores

        self.title = QLabel("No unit selected")
        self.title.setStyleSheet("font-weight: bold")
        self.title.setWordWrap(True)
        self.image = QLabel()
        self.image.setFixedSize(IMAGE_SIZE, IMAGE_SIZE)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setToolTip("Feature visualisation (from the cache; rendered in the background)")
        self.render_button = QPushButton("Render feature vis")
        self.render_button.setToolTip(f"Render this unit's feature visualisation now ({THUMB_SIZE} px, "
                                      f"{THUMB_STEPS} steps; cached for every pane)")
        self.render_button.clicked.connect(self.render_current)
        self.render_button.hide()
        self.favourite = QCheckBox("Favourite")
        self.favourite.setToolTip("Star this unit (F in the grid)")
        self.favourite.clicked.connect(lambda checked: owner.set_favourite(self.state.unit, checked))
        self.inputs_layer = QComboBox()
        self.inputs_layer.setToolTip("Earlier layer to rank input units from (by expanded-weight L2 norm)")
        self.outputs_layer = QComboBox()
        self.outputs_layer.setToolTip("Later layer to rank the units this one feeds (by expanded-weight L2 norm)")
        self.inputs = self._unit_list("Top input units; double-click to go there")
        self.outputs = self._unit_list("Top output units; double-click to go there")
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Notes about this unit (saved as you type)")
        self.note.setToolTip("Your notes on this unit, stored per model in your data folder")
        self.note.setMaximumHeight(90)
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("tags, comma separated")
        self.tags.setToolTip("Tags for this unit (comma separated); tags appear in the tree")
        self.tags.editingFinished.connect(self.save_tags)
        self.examples = QLabel(NO_EXAMPLES)
        self.examples.setWordWrap(True)
        self.examples.setToolTip("Top dataset examples from the open atlas, else the most recent dataset "
                                 "cache of this layer")
        self.poly_button = QPushButton("Polysemanticity")
        self.poly_button.setToolTip("Score how many different things this unit responds to: the dissimilarity of "
                                    "its diverse feature visualisations and, with a folder, the clusters of its "
                                    "top examples (circuitloupe polysemanticity)")
        self.poly_button.clicked.connect(self.score_polysemanticity)
        self.poly_steps = spin_box(0, 10_000, PolysemanticityRequest.steps, "Optimisation steps of each diverse "
                                   "feature visualisation", step=32)
        self.poly_steps.setSuffix(" steps")
        self.poly_examples = QCheckBox("+ folder examples")
        self.poly_examples.setToolTip("Also cluster the unit's top examples over the folder last scanned in the "
                                      "Dataset pane (slower: every image is read)")
        self.poly_score = QLabel("")
        self.poly_score.setWordWrap(True)
        self.poly_score.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.poly_figure = QLabel()
        self.poly_figure.setToolTip("The diverse feature visualisations, then one row of top examples per cluster")

        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(500)
        self._note_timer.timeout.connect(self.save_note)
        self.note.textChanged.connect(lambda: self._note_timer.start())
        self.timer = QTimer(self)  # coalesces quick changes (arrow keys) into one card job
        self.timer.setSingleShot(True)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self.compute)
        for combo in (self.inputs_layer, self.outputs_layer):
            combo.activated.connect(lambda _: self.timer.start())
        self._lay_out()

    def _lay_out(self) -> None:
        card = QWidget()
        layout = QVBoxLayout(card)
        for widget in (self.image, self.render_button, self.title, self.favourite):  # fits a narrow dock
            layout.addWidget(widget)
        # Polysemanticity near the top, its button in sight; the flow wraps rather than widening the card.
        row = FlowLayout()
        for widget in (self.poly_button, self.poly_steps, self.poly_examples):
            row.addWidget(widget)
        layout.addLayout(row)
        for widget in (self.poly_score, self.poly_figure):
            layout.addWidget(widget)
        for label, combo, listing in (("Top inputs from", self.inputs_layer, self.inputs),
                                      ("Top outputs to", self.outputs_layer, self.outputs)):
            head = QHBoxLayout()
            head.addWidget(QLabel(label))
            head.addWidget(combo, 1)
            layout.addLayout(head)
            layout.addWidget(listing)
        for widget in (QLabel("Notes"), self.note, self.tags, QLabel("Top dataset examples"), self.examples):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setWidget(card)
        self.setWidgetResizable(True)
        self.setMinimumWidth(220)

    def _unit_list(self, tip: str) -> QListWidget:
        listing = QListWidget()
        listing.setToolTip(tip)
        listing.setIconSize(listing.iconSize().expandedTo(listing.iconSize() * 2))
        listing.setMaximumHeight(150)
        listing.itemDoubleClicked.connect(lambda item: self.state.set_unit(item.data(ENTRY_ROLE)))
        return listing

    def forget_model(self) -> None:
        """Drop the scores computed on the previous model (a new one, or the same with edits); the
        card itself is computed again for the current unit."""
        self.polysemanticity.clear()
        self._poly_figures.clear()

    # ----------------------------------------------------------------- the unit's basics
    def show_basics(self, unit: UnitRef) -> None:
        """Title, layer choices, notes, tags and star of ``unit`` (no job: at once)."""
        model, store = self.state.model, self.owner.store
        branch = model.catalogue.branch_of(unit)
        info = model.catalogue.layer(unit.layer)
        extra = f" = {branch}" if branch != unit else ""
        self.title.setText(f"{unit}{extra}\n{info.name}: {info.channels} units, maps {info.shape[1]}x{info.shape[2]}")
        for combo, names, default in (
                (self.inputs_layer, W.source_layers(model, unit.layer), W.default_source_layer(model, unit.layer)),
                (self.outputs_layer, W.target_layers(model, unit.layer), W.default_target_layer(model, unit.layer))):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            keep = current if current in names and self.card and self.card.unit.layer == unit.layer else default
            if keep is not None:
                combo.setCurrentText(keep)
            combo.blockSignals(False)
        notes = store.notes(unit)
        for widget in (self.note, self.tags):
            widget.setProperty("unit", "")
        self.note.blockSignals(True)
        self.note.setPlainText(notes.note)
        self.note.blockSignals(False)
        self.tags.setText(", ".join(notes.tags))
        for widget in (self.note, self.tags):
            widget.setProperty("unit", str(unit))
        self.favourite.setChecked(notes.favourite)
        self._show_polysemanticity()
        self.update_image()

    def save_note(self) -> None:
        unit, store = self.state.unit, self.owner.store
        if unit is None or store is None or self.note.property("unit") != str(unit):
            return
        if self.note.toPlainText().strip() != store.note(unit):
            store.set_note(unit, self.note.toPlainText())
            self.owner.refresh_marks(rebuild_tree=False)

    def save_tags(self) -> None:
        unit, store = self.state.unit, self.owner.store
        if unit is None or store is None or self.tags.property("unit") != str(unit):
            return
        tags = [t for t in self.tags.text().split(",") if t.strip()]
        if sorted(t.strip() for t in tags) != store.tags(unit):
            store.set_tags(unit, tags)
            self.owner.refresh_marks()

    def save_pending_edits(self) -> None:
        """Save notes and tags being typed now (before the store reloads another writer's changes)."""
        if self._note_timer.isActive():
            self._note_timer.stop()
            self.save_note()
        if self.tags.isModified():
            self.save_tags()

    # ----------------------------------------------------------------- feature visualisation
    def update_image(self) -> None:
        unit = self.state.unit
        pixmap = self.owner.grid.units.thumbnails.get(unit) if unit is not None else None
        if pixmap is None and self.card is not None and self.card.unit == unit and self.card.thumbnail is not None:
            pixmap = array_to_pixmap(self.card.thumbnail)
        rendering = self._render_job is not None and not self._render_job.done
        self.render_button.setVisible(pixmap is None and unit is not None and W.featurevis_available())
        self.render_button.setEnabled(not rendering)
        if pixmap is None:
            text = "rendering…" if rendering else "no feature vis yet"
            self.image.setPixmap(array_to_pixmap(W.pending_tile(IMAGE_SIZE, text)))
        else:
            self.image.setPixmap(pixmap.scaled(IMAGE_SIZE, IMAGE_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))

    def render_current(self) -> Job | None:
        """Render the current unit's feature visualisation (the Render button), ahead of background work."""
        unit = self.state.unit
        if unit is None or self.state.model is None:
            return None

        def on_done(found: dict[UnitRef, np.ndarray]) -> None:
            self.owner.grid.units.set_thumbnails(found)
            self.update_image()

        self._render_job = self.owner.run_job(thumbnail_batches, [unit], True, name=f"feature vis {unit}",
                                              on_done=on_done)
        self._render_job.sigFailed.connect(lambda _message: self.update_image())
        self._render_job.sigCancelled.connect(self.update_image)
        self.owner.progress.follow(self._render_job)
        self.update_image()
        return self._render_job

    # ----------------------------------------------------------------- inputs, outputs, examples
    def compute(self) -> None:
        """Start the card job of the current unit (a running one is cancelled)."""
        unit = self.state.unit
        if unit is None or self.state.model is None:
            return
        if self._job is not None and not self._job.done:
            self._job.cancel()
        src = self.inputs_layer.currentText() or None
        dst = self.outputs_layer.currentText() or None
        self._job = self.owner.run_job(unit_card, unit, src, dst, CARD_K, self.state.atlas,
                                       name=f"unit card {unit}", on_done=self._on_card)

    def _on_card(self, card: UnitCard) -> None:
        if card.unit != self.state.unit:
            return
        self.card = card
        thumbs = card.thumbnails()
        for listing, key in ((self.inputs, "inputs"), (self.outputs, "outputs")):
            listing.clear()
            ranked = card.ranked(key)
            if isinstance(ranked, str):
                listing.addItem(QListWidgetItem(ranked))
                continue
            layer = getattr(card, key).request  # the Request names the layer ranked
            layer = layer.src_layer if key == "inputs" else layer.layer
            for unit, norm in ranked:
                item = QListWidgetItem(f"{unit}   |w| {norm:.3g}")
                item.setData(ENTRY_ROLE, unit)
                image = thumbs.get(unit)
                if image is not None:
                    item.setIcon(QIcon(array_to_pixmap(image)))
                direction = "from" if key == "inputs" else "to"
                item.setToolTip(f"{unit}: expanded-weight L2 norm {norm:.4g} ({direction} {layer})")
                listing.addItem(item)
        self._show_examples(card.examples)
        if card.atlas:
            self.title.setText(self.title.text().split("\natlas:")[0] + "\n" + card.atlas)
        self.update_image()

    def _show_examples(self, examples: list[tuple[np.ndarray, float]] | None) -> None:
        if not examples:
            self.examples.setPixmap(array_to_pixmap(np.full((1, 1, 3), 255, np.uint8)))
            self.examples.setText(NO_EXAMPLES)
            return
        strip = figures.side_by_side([figures.to_pil(crop) for crop, _ in examples],
                                     [f"{value:.3g}" for _, value in examples], height=64)
        self.examples.setPixmap(array_to_pixmap(np.asarray(strip)))

    # ----------------------------------------------------------------- polysemanticity
    def polysemanticity_request(self) -> PolysemanticityRequest | None:
        """The polysemanticity request of the current unit (with the scanned folder when ticked)."""
        if self.state.unit is None or self.state.model is None:
            return None
        folder = self.state.folder if self.poly_examples.isChecked() and self.state.folder else ""
        return PolysemanticityRequest(str(self.state.unit), images=folder, steps=self.poly_steps.value())

    def score_polysemanticity(self) -> Job | None:
        """Run the polysemanticity task for the current unit (user priority; the bar follows it)."""
        request = self.polysemanticity_request()
        if request is None:
            return None
        if self._poly_job is not None and not self._poly_job.done:
            self._poly_job.cancel()
        self._poly_unit = unit = self.state.unit
        self._poly_job = job = self.owner.run_job(tasks.run, request, name=f"polysemanticity {unit}",
                                                  on_done=lambda result: self._on_polysemanticity(unit, result))
        job.sigCancelled.connect(self._show_polysemanticity)
        job.sigFailed.connect(lambda message: self.poly_score.setText(message) if unit == self.state.unit else None)
        self.owner.progress.follow(job)
        self._show_polysemanticity()
        return job

    def _on_polysemanticity(self, unit: UnitRef, result: PolysemanticityResult) -> None:
        self.polysemanticity[unit] = result
        self._poly_figures[unit] = array_to_pixmap(np.asarray(result.figure(1.0).convert("RGB")))
        self._show_polysemanticity()

    def _show_polysemanticity(self) -> None:
        result = self.polysemanticity.get(self.state.unit)
        self.poly_examples.setEnabled(bool(self.state.folder))
        if self.state.folder:
            self.poly_examples.setToolTip(f"Also cluster the unit's top examples over {self.state.folder}")
        if result is None:
            job = self._poly_job
            running = job is not None and not job.done and self._poly_unit == self.state.unit
            self.poly_score.setText(f"scoring {self.state.unit}…" if running else "")
            self.poly_figure.clear()
            return
        self.poly_score.setText(result.lines()[0])
        margins = self.widget().layout().contentsMargins()
        width = self.viewport().width() - margins.left() - margins.right()  # fits the card, never widens it
        self.poly_figure.setPixmap(self._poly_figures[self.state.unit].scaledToWidth(
            max(64, min(POLY_WIDTH, width)), Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self.state.unit in self.polysemanticity:
            self._show_polysemanticity()
