"""Browser pane: the network's layers as a tree, each layer's units as a thumbnail grid, and a
card for the current unit.

The tree lists layers (InceptionV1 blocks with their branches) with channel counts, then
favourites, the model's preset families, the user's saved families and tags. The grid is
virtualised; feature-visualisation thumbnails come from the cache or are rendered for the tiles
on screen, in the background, at low resolution. Notes, tags, favourites and families are kept
per model in the user's data folder (:mod:`circuitloupe.core.annotations`); the pane watches that
folder and redraws when another writer (the curve finder or equivariance pane, ``circuitloupe
find-curves --save-family``, another window) changes the model's file.

Over 600 lines: the layer tree, unit grid, thumbnail scheduling and unit card live together;
the card is the piece to split out next (issue 15).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from circuitloupe.core import figures
from circuitloupe.core import weights as W
from circuitloupe.core.atlas import figures as AF
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import check_stop
from circuitloupe.core.units import UnitRef
from circuitloupe.service import Job, JobContext
from circuitloupe.ui.widgets.flow_layout import FlowLayout
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.unit_grid import UnitGrid, array_to_pixmap

THUMB_SIZE, THUMB_STEPS, THUMB_BATCH = 64, 64, 8
CARD_K = 6
ENTRY_ROLE = Qt.ItemDataRole.UserRole


def thumbnail_job(ctx: JobContext, units: list[UnitRef], render: bool, memo: dict | None = None,
                  size: list[int] | None = None) -> dict[UnitRef, np.ndarray]:
    """Cached thumbnails of ``units`` at once (as a progress preview), then, when ``render``,
    the missing ones rendered in batches, each batch previewed as it lands.

    A paused background job starts again after the user's job. ``memo`` (one per job) keeps the
    thumbnails it rendered and how often it started; ``size`` holds the batch size the pane shares
    between its jobs, halved at each restart (down to one unit) and doubled after each batch that
    lands, so renders still land between clicks that come faster than a whole batch."""
    memo = memo if memo is not None else {}
    size = size if size is not None else [THUMB_BATCH]
    found = {**W.cached_thumbnails(ctx.model, units), **memo.setdefault("rendered", {})}
    ctx.progress(0, 1, {"thumbnails": dict(found)})
    missing = [u for u in units if u not in found]
    if not render or not missing or not W.featurevis_available():
        return found
    if memo.get("starts"):
        size[0] = max(1, size[0] // 2)
    memo["starts"] = memo.get("starts", 0) + 1
    batches = [missing[i:i + size[0]] for i in range(0, len(missing), size[0])]
    total = len(batches) * THUMB_STEPS
    for b, batch in enumerate(batches):
        check_stop(ctx.should_stop)
        done = b * THUMB_STEPS
        new = W.render_missing_thumbnails(
            ctx.model, batch, size=THUMB_SIZE, steps=THUMB_STEPS, should_stop=ctx.should_stop,
            progress=lambda step, _total, _preview=None, done=done: ctx.progress(done + step, total, None))
        found.update(new)
        memo["rendered"].update(new)
        size[0] = min(THUMB_BATCH, size[0] * 2)
        ctx.progress(done + THUMB_STEPS, total, {"thumbnails": new})
    return found


def unit_card_job(ctx: JobContext, unit: UnitRef, src: str | None, dst: str | None, k: int,
                  atlas=None) -> dict[str, Any]:
    """Everything the unit card shows: top inputs and outputs by expanded-weight norm (or a
    reason each could not be computed), cached thumbnails, and top dataset examples from the
    open atlas when it covers the unit, else from the scan cache."""
    model = ctx.model
    card: dict[str, Any] = {"unit": unit, "src": src, "dst": dst}
    for key, layer, fn in (("inputs", src, W.top_inputs), ("outputs", dst, W.top_outputs)):
        if layer is None:
            card[key] = "no layer"
            continue
        try:
            card[key] = fn(model, unit, layer, k)
        except UserError as error:
            card[key] = str(error)
    linked = [u for key in ("inputs", "outputs") if isinstance(card[key], list) for u, _ in card[key]]
    card["thumbnails"] = W.cached_thumbnails(model, [unit, *linked])
    card["examples"], card["atlas"] = _top_examples(model, unit), None
    if AF.covers(atlas, model, unit):
        try:
            card["examples"] = AF.top_crops(atlas, model, unit, 6)
            card["atlas"] = AF.summary_line(atlas.unit(unit))
        except UserError as error:
            card["atlas"] = str(error)
    return card


def _top_examples(model, unit: UnitRef) -> list[tuple[np.ndarray, float]] | None:
    try:
        from circuitloupe.core.dataset import top_examples
    except ImportError:
        return None
    try:
        return top_examples(model, unit, 6)
    except (UserError, OSError, ValueError):
        return None


class BrowserPane(Pane):
    title = "Browser"
    object_name = "browser"
    area = Qt.DockWidgetArea.LeftDockWidgetArea
    shortcut = "Ctrl+2"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.store: AnnotationStore | None = None
        self.listing: tuple[str, Any] | None = None  # ("layer", name) | ("units", (title, [UnitRef]))
        self.card: dict[str, Any] | None = None
        self._pending: list[UnitRef] = []
        self._thumb_batch = [THUMB_BATCH]  # render batch size, shared by the thumbnail jobs (see thumbnail_job)
        self._thumb_job: Job | None = None
        self._card_job: Job | None = None
        self._render_job: Job | None = None  # the card's Render button
        self._render_failed = False

        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setToolTip("Layers with their channel counts (blocks hold their branches), favourites, "
                             "family presets and your saved families")
        self.tree.currentItemChanged.connect(self._on_tree_item)
        self.show_pre_relu = QCheckBox("pre-ReLU layers")
        self.show_pre_relu.setToolTip("Also list each layer's value before its ReLU")
        self.show_pre_relu.toggled.connect(lambda _: self._fill_tree())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.tree, 1)
        left_layout.addWidget(self.show_pre_relu)

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: 379, 300-320, or text in notes/tags")
        self.filter.setToolTip("Show units by id (379; 300-320; 5,9,12) or by words in their notes and tags")
        self.filter.textChanged.connect(self._on_filter)
        self.only_favourites = QCheckBox("★ only")
        self.only_favourites.setToolTip("Show only favourite units")
        self.only_favourites.toggled.connect(self._on_filter)
        self.favourite_button = QPushButton("★ Favourite")
        self.favourite_button.setToolTip("Toggle the current unit's favourite star (F in the grid)")
        self.favourite_button.clicked.connect(lambda: self.toggle_favourite(self.state.unit))
        self.save_family_button = QPushButton("Save family…")
        self.save_family_button.setToolTip("Save the units shown (after filtering) as a named family for this model")
        self.save_family_button.clicked.connect(self._save_family_dialog)
        self.auto_render = QCheckBox("Render thumbnails")
        self.auto_render.setChecked(True)
        self.auto_render.setToolTip(f"Render missing feature visualisations for the tiles on screen in the "
                                    f"background ({THUMB_SIZE} px, {THUMB_STEPS} steps); cached ones always show")
        self.auto_render.toggled.connect(self._on_auto_render)
        self.grid = UnitGrid()
        self.grid.setToolTip("Units of the selected layer or family. Arrows move, Enter opens the unit in "
                             "every pane, F toggles favourite")
        self.grid.sigCurrentUnit.connect(self._on_grid_unit)
        self.grid.sigActivated.connect(self.state.activate_unit)
        self.grid.sigToggleFavourite.connect(self.toggle_favourite)
        self.grid.units.sigThumbnailsWanted.connect(self._want_thumbnails)
        self._follow_current = False
        self.grid.verticalScrollBar().rangeChanged.connect(self._on_grid_range)
        self.grid.verticalScrollBar().actionTriggered.connect(lambda _action: setattr(self, "_follow_current", False))
        self.count_label = QLabel("")
        self.progress = JobProgress("steps")
        row = QHBoxLayout()
        row.addWidget(self.filter, 1)
        row.addWidget(self.only_favourites)
        row2 = FlowLayout()  # wraps in a narrow dock rather than widening the pane
        for widget in (self.favourite_button, self.save_family_button, self.auto_render, self.count_label):
            row2.addWidget(widget)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addLayout(row)
        middle_layout.addWidget(self.grid, 1)
        middle_layout.addLayout(row2)
        middle_layout.addWidget(self.progress)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(middle)
        splitter.addWidget(self._build_card())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([230, 560, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(500)
        self._note_timer.timeout.connect(self._save_note)
        self._card_timer = QTimer(self)
        self._card_timer.setSingleShot(True)
        self._card_timer.setInterval(150)
        self._card_timer.timeout.connect(self._compute_card)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _path: self.refresh_annotations())
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        state.sigAtlasChanged.connect(lambda _atlas: self._card_timer.start())
        state.sigDatasetScanned.connect(self._on_dataset_scanned)
        if state.model is not None:
            self._on_model(state.model)

    # ----------------------------------------------------------------- unit card
    def _build_card(self) -> QWidget:
        self.card_title = QLabel("No unit selected")
        self.card_title.setStyleSheet("font-weight: bold")
        self.card_title.setWordWrap(True)
        self.card_image = QLabel()
        self.card_image.setFixedSize(128, 128)
        self.card_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.card_image.setToolTip("Feature visualisation (from the cache; rendered in the background)")
        self.render_button = QPushButton("Render feature vis")
        self.render_button.setToolTip(f"Render this unit's feature visualisation now ({THUMB_SIZE} px, "
                                      f"{THUMB_STEPS} steps; cached for every pane)")
        self.render_button.clicked.connect(self.render_current)
        self.render_button.hide()
        self.card_favourite = QCheckBox("Favourite")
        self.card_favourite.setToolTip("Star this unit (F in the grid)")
        self.card_favourite.clicked.connect(lambda checked: self._set_favourite(self.state.unit, checked))
        self.inputs_layer = QComboBox()
        self.inputs_layer.setToolTip("Earlier layer to rank input units from (by expanded-weight L2 norm)")
        self.inputs_layer.activated.connect(lambda _: self._card_timer.start())
        self.outputs_layer = QComboBox()
        self.outputs_layer.setToolTip("Later layer to rank the units this one feeds (by expanded-weight L2 norm)")
        self.outputs_layer.activated.connect(lambda _: self._card_timer.start())
        self.inputs = self._unit_list("Top input units; double-click to go there")
        self.outputs = self._unit_list("Top output units; double-click to go there")
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("Notes about this unit (saved as you type)")
        self.note.setToolTip("Your notes on this unit, stored per model in your data folder")
        self.note.setMaximumHeight(90)
        self.note.textChanged.connect(lambda: self._note_timer.start())
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("tags, comma separated")
        self.tags.setToolTip("Tags for this unit (comma separated); tags appear in the tree")
        self.tags.editingFinished.connect(self._save_tags)
        self.examples = QLabel("Scan a dataset (Dataset pane) to see this unit's top examples here.")
        self.examples.setWordWrap(True)
        self.examples.setToolTip("Top dataset examples from the most recent dataset cache of this layer")

        card = QWidget()
        layout = QVBoxLayout(card)
        for widget in (self.card_image, self.render_button, self.card_title, self.card_favourite):  # fits a narrow dock
            layout.addWidget(widget)
        for label, combo, listing in (("Top inputs from", self.inputs_layer, self.inputs),
                                      ("Top outputs to", self.outputs_layer, self.outputs)):
            head = QHBoxLayout()
            head.addWidget(QLabel(label))
            head.addWidget(combo, 1)
            layout.addLayout(head)
            layout.addWidget(listing)
        layout.addWidget(QLabel("Notes"))
        layout.addWidget(self.note)
        layout.addWidget(self.tags)
        layout.addWidget(QLabel("Top dataset examples"))
        layout.addWidget(self.examples)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(card)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(220)
        return scroll

    def _unit_list(self, tip: str) -> QListWidget:
        listing = QListWidget()
        listing.setToolTip(tip)
        listing.setIconSize(listing.iconSize().expandedTo(listing.iconSize() * 2))
        listing.setMaximumHeight(150)
        listing.itemDoubleClicked.connect(lambda item: self.state.set_unit(item.data(ENTRY_ROLE)))
        return listing

    # ----------------------------------------------------------------- model and tree
    def _on_model(self, model) -> None:
        self.store = AnnotationStore.for_model(model)
        if self.store.warning:
            self.state.message(self.store.warning)
        if self._watcher.directories():
            self._watcher.removePaths(self._watcher.directories())
        self._watcher.addPath(str(self.store.path.parent))
        self._cancel_thumbnails()
        self.grid.units.clear_thumbnails()
        self.grid.units.search_text = self._search_text
        self._render_failed = False
        self.listing = None
        self._fill_tree()
        self._refresh_marks()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def refresh_annotations(self) -> None:
        """Redraw favourites, families, tags and the card if another writer changed the store's
        file; notes and tags being typed are saved first (onto the other writer's changes)."""
        if self.store is None:
            return
        changed = self.store.reload()
        if self._note_timer.isActive():
            self._note_timer.stop()
            self._save_note()
        if self.tags.isModified():
            self._save_tags()
        if changed:
            self._refresh_marks()
            if self.state.unit is not None:
                self._show_card_basics(self.state.unit)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_annotations()

    def _fill_tree(self) -> None:
        model = self.state.model
        if model is None:
            return
        self.tree.blockSignals(True)
        self.tree.clear()
        layers = QTreeWidgetItem(self.tree, ["Layers"])
        nodes: dict[str, QTreeWidgetItem] = {}
        show_pre = self.show_pre_relu.isChecked()
        for info in model.catalogue:
            if (info.is_pre_relu and not show_pre) or info.name in nodes:
                continue
            parent = layers
            if info.group is not None:
                parent = nodes.get(info.group) or self._group_node(model, layers, nodes, info.group)
            item = QTreeWidgetItem(parent, [f"{info.name}  ({info.channels})"])
            item.setData(0, ENTRY_ROLE, ("layer", info.name))
            item.setToolTip(0, f"{info.name}: {info.channels} units, maps {info.shape[1]}x{info.shape[2]}")
            nodes[info.name] = item
        layers.setExpanded(True)
        self._family_nodes(model)
        self.tree.blockSignals(False)
        self._select_listing()

    def _group_node(self, model, layers: QTreeWidgetItem, nodes: dict, group: str) -> QTreeWidgetItem:
        """The tree node for a block: the block's own layer item if it is a layer, else a folder."""
        if group in model.catalogue:
            info = model.catalogue.layer(group)
            item = QTreeWidgetItem(layers, [f"{info.name}  ({info.channels})"])
            item.setData(0, ENTRY_ROLE, ("layer", info.name))
            item.setToolTip(0, f"{info.name}: {info.channels} units; expand for its branches")
        else:
            item = QTreeWidgetItem(layers, [group])
        nodes[group] = item
        return item

    def _family_nodes(self, model) -> None:
        favourites = QTreeWidgetItem(self.tree, [f"★ Favourites ({len(self.store.favourites())})"])
        favourites.setData(0, ENTRY_ROLE, ("favourites", None))
        sections = (("Family presets", model.families), ("My families", self.store.families()))
        for title, families in sections:
            node = QTreeWidgetItem(self.tree, [f"{title} ({len(families)})"])
            for name, units in families.items():
                refs = [UnitRef.parse(u) if isinstance(u, str) else u for u in units]
                item = QTreeWidgetItem(node, [f"{name} ({len(refs)})"])
                item.setData(0, ENTRY_ROLE, ("units", (name, refs)))
                item.setToolTip(0, ", ".join(str(u) for u in refs))
            node.setExpanded(title == "My families")
        tags = self.store.all_tags()
        if tags:
            node = QTreeWidgetItem(self.tree, [f"Tags ({len(tags)})"])
            for tag in tags:
                item = QTreeWidgetItem(node, [tag])
                item.setData(0, ENTRY_ROLE, ("tag", tag))

    def _select_listing(self) -> None:
        """Re-select the tree entry of the current listing (after the tree was rebuilt)."""
        if self.listing is None:
            return
        iterator = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while iterator:
            item = iterator.pop(0)
            entry = item.data(0, ENTRY_ROLE)
            if entry is not None and _same_entry(entry, self.listing):
                self.tree.blockSignals(True)
                self.tree.setCurrentItem(item)
                self.tree.blockSignals(False)
                return
            iterator.extend(item.child(i) for i in range(item.childCount()))

    def _on_tree_item(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        entry = item.data(0, ENTRY_ROLE) if item is not None else None
        if entry is None:
            return
        self.show_listing(entry)
        units = self.grid.units.units
        if units and self.state.unit not in units:
            self.state.set_unit(units[0])

    def show_listing(self, entry: tuple[str, Any]) -> None:
        """List a layer's units (``("layer", name)``), a family (``("units", (name, units))``),
        the favourites (``("favourites", None)``) or a tag's units (``("tag", tag)``)."""
        model = self.state.model
        kind, value = entry
        if kind == "layer":
            info = model.catalogue.layer(value)
            units, mixed = [UnitRef(info.name, c) for c in range(info.channels)], False
        elif kind == "favourites":
            units, mixed = self.store.favourites(), True
        elif kind == "tag":
            units, mixed = self.store.units_tagged(value), True
        else:
            units, mixed = [u for u in value[1] if u.layer in model.catalogue], True
            units = [model.catalogue.unit(u) for u in units]
        self.listing = entry
        self._pending = []
        self.grid.units.forget_requests()
        self.grid.units.set_units(units, show_layer=mixed)
        self._update_count()
        if self.state.unit is not None:
            self.grid.select_unit(self.state.unit)

    def _scroll_to_current(self) -> None:
        index = self.grid.currentIndex()
        if index.isValid():
            self.grid.scrollTo(index)

    def _on_grid_range(self) -> None:
        """The grid laid its tiles out again (filled, resized): keep the current unit in sight
        until the user scrolls."""
        if self._follow_current:
            self._scroll_to_current()

    def _update_count(self) -> None:
        shown, total = self.grid.proxy.rowCount(), len(self.grid.units.units)
        self.count_label.setText(f"{shown} of {total} units" if shown != total else f"{total} units")

    # ----------------------------------------------------------------- selection
    def _on_grid_unit(self, unit: UnitRef) -> None:
        self.state.set_unit(unit)

    def _on_unit(self, unit: UnitRef) -> None:
        model = self.state.model
        if model is None:
            return
        if not self.grid.select_unit(unit):
            self.show_listing(("layer", unit.layer))
            self._select_listing()
            self.grid.select_unit(unit)
        self._follow_current = True
        self._scroll_to_current()
        self._show_card_basics(unit)
        self._card_timer.start()

    def _on_dataset_scanned(self, _unit: UnitRef) -> None:
        """A scan wrote new dataset caches: the card's top examples may exist now."""
        if self.state.unit is not None:
            self._card_timer.start()

    # ----------------------------------------------------------------- favourites, notes, families
    def toggle_favourite(self, unit: UnitRef | None) -> None:
        if unit is None or self.store is None:
            return
        self._set_favourite(unit, not self.store.is_favourite(unit))

    def _set_favourite(self, unit: UnitRef | None, favourite: bool) -> None:
        if unit is None or self.store is None:
            return
        self.store.set_favourite(unit, favourite)
        self._refresh_marks()
        if unit == self.state.unit:
            self.card_favourite.setChecked(favourite)
        self.state.message(f"{unit} {'starred' if favourite else 'unstarred'}")

    def _save_note(self) -> None:
        unit = self.state.unit
        if unit is None or self.store is None or self.note.property("unit") != str(unit):
            return
        if self.note.toPlainText().strip() != self.store.note(unit):
            self.store.set_note(unit, self.note.toPlainText())
            self._refresh_marks(rebuild_tree=False)

    def _save_tags(self) -> None:
        unit = self.state.unit
        if unit is None or self.store is None or self.tags.property("unit") != str(unit):
            return
        tags = [t for t in self.tags.text().split(",") if t.strip()]
        if sorted(t.strip() for t in tags) != self.store.tags(unit):
            self.store.set_tags(unit, tags)
            self._refresh_marks()

    def save_family(self, name: str) -> list[UnitRef]:
        """Save the units shown in the grid (after filtering) as the user family ``name``."""
        units = [self.grid.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 1)
                 for r in range(self.grid.proxy.rowCount())]
        saved = self.store.save_family(name, units)
        self._fill_tree()
        self.state.message(f"saved family '{name}' ({len(saved)} units)")
        return saved

    def _save_family_dialog(self) -> None:
        if self.store is None:
            return
        name, ok = QInputDialog.getText(self, "Save family", "Name for the units shown:")
        if ok and name.strip():
            try:
                self.save_family(name)
            except UserError as error:
                self.state.message(str(error))

    def _refresh_marks(self, rebuild_tree: bool = True) -> None:
        if self.store is None:
            return
        self.grid.units.set_marks(self.store.favourites(), self.store.annotated())
        if rebuild_tree:
            self._fill_tree()
        self._on_filter()

    def _search_text(self, unit: UnitRef) -> str:
        if self.store is None:
            return ""
        notes = self.store.notes(unit)
        return " ".join([notes.note, *notes.tags])

    def _on_filter(self, *_args) -> None:
        self.grid.proxy.set_only_favourites(self.only_favourites.isChecked())
        self.grid.proxy.set_query(self.filter.text())
        self._update_count()

    # ----------------------------------------------------------------- thumbnails
    def _want_thumbnails(self, units: list[UnitRef]) -> None:
        known = set(self._pending)
        self._pending.extend(u for u in units if u not in known)
        self._next_thumbnails()

    def _next_thumbnails(self) -> None:
        if self.state.model is None or not self._pending:
            return
        if self._thumb_job is not None and not self._thumb_job.done:
            return
        visible = set(self.grid.visible_units())
        shown = set(self.grid.units.units)
        self._pending = [u for u in self._pending if u in shown]
        batch = [u for u in self._pending if u in visible][:32] or self._pending[:32]
        if not batch:
            return
        self._pending = [u for u in self._pending if u not in batch]
        render = self.auto_render.isChecked() and not self._render_failed
        listed = self.grid.units.units
        done = sum(unit in self.grid.units.thumbnails for unit in listed)
        part = (done, sum(unit not in self.grid.units.thumbnails for unit in batch), len(listed))

        def connect(job: Job) -> None:
            job.sigProgress.connect(self._on_thumbnail_progress)
            job.sigFinished.connect(self._thumbnails_done)
            job.sigFailed.connect(lambda _message: self._thumbnails_failed(batch))
            job.sigCancelled.connect(lambda: self._thumbnails_cancelled(batch))
            if render:  # the bar counts the listing's thumbnails: a new job continues, not from 0 %
                self.progress.follow(job, part=part)

        # background: a user job from any pane pauses the batch, which resumes after it
        self._thumb_job = self.run_job(thumbnail_job, batch, render, {}, self._thumb_batch, connect=connect,
                                       priority="background", name=f"thumbnails ({len(batch)})")

    def _on_thumbnail_progress(self, _step: int, _total: int, preview) -> None:
        if isinstance(preview, dict) and preview.get("thumbnails"):
            self.grid.units.set_thumbnails(preview["thumbnails"])
            self._update_card_image()

    def _thumbnails_done(self, found: dict[UnitRef, np.ndarray]) -> None:
        self.grid.units.set_thumbnails(found)
        self._update_card_image()
        self._thumb_job = None
        self._next_thumbnails()

    def _thumbnails_failed(self, batch: list[UnitRef]) -> None:
        self._render_failed = True  # shown once in the status bar; cached thumbnails still load
        self.grid.units.forget_requests(batch)
        self._thumb_job = None
        self._next_thumbnails()

    def _thumbnails_cancelled(self, batch: list[UnitRef]) -> None:
        """A batch was cancelled (the listing changed, or rendering was switched off): queue its
        units again; those no longer listed are dropped by :meth:`_next_thumbnails`."""
        self._pending = [u for u in batch if u not in self.grid.units.thumbnails] + self._pending
        self._thumb_job = None
        self._next_thumbnails()

    def _cancel_thumbnails(self) -> None:
        self._pending = []
        if self._thumb_job is not None and not self._thumb_job.done:
            self._thumb_job.cancel()
        self._thumb_job = None

    def _on_auto_render(self, on: bool) -> None:
        self._render_failed = False
        if on:
            self.grid.units.forget_requests()
            self.grid.viewport().update()
        else:
            self._cancel_thumbnails()

    # ----------------------------------------------------------------- card contents
    def _show_card_basics(self, unit: UnitRef) -> None:
        model = self.state.model
        branch = model.catalogue.branch_of(unit)
        info = model.catalogue.layer(unit.layer)
        extra = f" = {branch}" if branch != unit else ""
        self.card_title.setText(f"{unit}{extra}\n{info.name}: {info.channels} units, "
                                f"maps {info.shape[1]}x{info.shape[2]}")
        for combo, names, default in (
                (self.inputs_layer, W.source_layers(model, unit.layer), W.default_source_layer(model, unit.layer)),
                (self.outputs_layer, W.target_layers(model, unit.layer), W.default_target_layer(model, unit.layer))):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            keep = current if current in names and self.card and self.card["unit"].layer == unit.layer else default
            if keep is not None:
                combo.setCurrentText(keep)
            combo.blockSignals(False)
        notes = self.store.notes(unit)
        for widget in (self.note, self.tags):
            widget.setProperty("unit", "")
        self.note.blockSignals(True)
        self.note.setPlainText(notes.note)
        self.note.blockSignals(False)
        self.tags.setText(", ".join(notes.tags))
        for widget in (self.note, self.tags):
            widget.setProperty("unit", str(unit))
        self.card_favourite.setChecked(notes.favourite)
        self._update_card_image()

    def _update_card_image(self) -> None:
        unit = self.state.unit
        pixmap = self.grid.units.thumbnails.get(unit) if unit is not None else None
        if pixmap is None and self.card is not None and self.card["unit"] == unit:
            image = self.card["thumbnails"].get(unit)
            pixmap = array_to_pixmap(image) if image is not None else None
        rendering = self._render_job is not None and not self._render_job.done
        self.render_button.setVisible(pixmap is None and unit is not None and W.featurevis_available())
        self.render_button.setEnabled(not rendering)
        if pixmap is None:
            self.card_image.setPixmap(array_to_pixmap(W.pending_tile(128, "rendering…" if rendering
                                                                     else "no feature vis yet")))
        else:
            self.card_image.setPixmap(pixmap.scaled(128, 128, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))

    def render_current(self) -> Job | None:
        """Render the current unit's feature visualisation (the card's button), ahead of background work."""
        unit = self.state.unit
        if unit is None or self.state.model is None:
            return None

        def on_done(found: dict[UnitRef, np.ndarray]) -> None:
            self.grid.units.set_thumbnails(found)
            self._update_card_image()

        self._render_job = self.run_job(thumbnail_job, [unit], True, name=f"feature vis {unit}",
                                        on_done=on_done)
        self._render_job.sigFailed.connect(lambda _message: self._update_card_image())
        self._render_job.sigCancelled.connect(self._update_card_image)
        self.progress.follow(self._render_job)
        self._update_card_image()
        return self._render_job

    def _compute_card(self) -> None:
        unit = self.state.unit
        if unit is None or self.state.model is None:
            return
        if self._card_job is not None and not self._card_job.done:
            self._card_job.cancel()
        src = self.inputs_layer.currentText() or None
        dst = self.outputs_layer.currentText() or None
        self._card_job = self.run_job(unit_card_job, unit, src, dst, CARD_K, self.state.atlas,
                                      name=f"unit card {unit}", on_done=self._on_card)

    def _on_card(self, card: dict[str, Any]) -> None:
        if card["unit"] != self.state.unit:
            return
        self.card = card
        thumbs = card["thumbnails"]
        for listing, key, layer in ((self.inputs, "inputs", card["src"]), (self.outputs, "outputs", card["dst"])):
            listing.clear()
            ranked = card[key]
            if isinstance(ranked, str):
                listing.addItem(QListWidgetItem(ranked))
                continue
            for unit, norm in ranked:
                item = QListWidgetItem(f"{unit}   |w| {norm:.3g}")
                item.setData(ENTRY_ROLE, unit)
                image = thumbs.get(unit)
                if image is not None:
                    item.setIcon(QIcon(array_to_pixmap(image)))
                direction = "from" if key == "inputs" else "to"
                item.setToolTip(f"{unit}: expanded-weight L2 norm {norm:.4g} ({direction} {layer})")
                listing.addItem(item)
        self._show_examples(card["examples"])
        if card["atlas"]:
            self.card_title.setText(self.card_title.text().split("\natlas:")[0] + "\n" + card["atlas"])
        self._update_card_image()

    def _show_examples(self, examples: list[tuple[np.ndarray, float]] | None) -> None:
        if not examples:
            self.examples.setPixmap(array_to_pixmap(np.full((1, 1, 3), 255, np.uint8)))
            self.examples.setText("Scan a dataset (Dataset pane) to see this unit's top examples here.")
            return
        strip = figures.side_by_side([figures.to_pil(crop) for crop, _ in examples],
                                     [f"{value:.3g}" for _, value in examples], height=64)
        self.examples.setPixmap(array_to_pixmap(np.asarray(strip)))

    # ----------------------------------------------------------------- export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        """The listed (filtered) units as a tile grid with thumbnails where rendered."""
        if self.listing is None:
            return None
        units = [self.grid.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 1)
                 for r in range(self.grid.proxy.rowCount())]
        if not units:
            return None
        tiles = [self._tile_array(u) for u in units]
        kind, value = self.listing
        title = value if kind in ("layer", "tag") else (value[0] if kind == "units" else "favourites")
        mixed = self.grid.units.show_layer
        return figures.tile_grid(tiles, [str(u) if mixed else str(u.channel) for u in units], tile_size=64,
                                 scale=scale, title=f"{self.state.model.name}: {title} ({len(units)} units)",
                                 columns=min(len(units), 16))

    def _tile_array(self, unit: UnitRef) -> np.ndarray:
        image = self.grid.units.arrays.get(unit)
        return W.pending_tile(64, str(unit.channel)) if image is None else image

    def cli_command(self) -> str | None:
        model, unit = self.state.model, self.state.unit
        src = self.inputs_layer.currentText()
        if model is None or unit is None or not src:
            return None
        weights = f" --weights {model.weights_spec}" if model.is_random else ""
        return f"circuitloupe expanded {src} {unit} --model {model.spec}{weights} --top {CARD_K} --json -"

    def key_help(self) -> list[tuple[str, str]]:
        return [("Arrows", "move through units (browser grid)"), ("Enter", "open the unit in every pane"),
                ("F", "toggle the unit's favourite star")]

    def project_state(self) -> dict[str, Any]:
        kind, value = self.listing or (None, None)
        listing = {"kind": kind, "value": value if kind in ("layer", "tag") else
                   (value[0] if kind == "units" else None)}
        return {"listing": listing, "filter": self.filter.text(), "only_favourites": self.only_favourites.isChecked(),
                "render_thumbnails": self.auto_render.isChecked()}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        self.filter.setText(str(data.get("filter", "")))
        self.only_favourites.setChecked(bool(data.get("only_favourites", False)))
        self.auto_render.setChecked(bool(data.get("render_thumbnails", True)))
        listing = data.get("listing") or {}
        model = self.state.model
        if model is None:
            return
        if listing.get("kind") == "layer" and listing.get("value") in model.catalogue:
            self.show_listing(("layer", listing["value"]))
        elif listing.get("kind") == "favourites":
            self.show_listing(("favourites", None))
        elif listing.get("kind") == "tag":
            self.show_listing(("tag", str(listing.get("value"))))
        elif listing.get("kind") == "units":
            families = {**model.families, **self.store.families()}
            units = families.get(listing.get("value"))
            if units:
                refs = [UnitRef.parse(u) if isinstance(u, str) else u for u in units]
                self.show_listing(("units", (listing["value"], refs)))
        self._select_listing()


def _same_entry(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "units":
        return a[1][0] == b[1][0]
    return a[1] == b[1]
