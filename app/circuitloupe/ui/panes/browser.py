"""Browser pane: the network's layers as a tree, each layer's units as a thumbnail grid, and a
card for the current unit.

The tree lists layers (InceptionV1 blocks with their branches) with channel counts, then
favourites, the model's preset families, the user's saved families and tags. The grid is
virtualised; feature-visualisation thumbnails come from the cache or are rendered for the tiles
on screen, in the background, at low resolution. Notes, tags, favourites and families are kept
per model in the user's data folder (:mod:`circuitloupe.core.annotations`); the pane watches that
folder and redraws when another writer (the curve finder or equivariance pane, ``circuitloupe
find-curves --save-family``, another window) changes the model's file.

The unit card is :mod:`circuitloupe.ui.panes.unit_card`. Export PNG writes the unit grid, or one of
the card's results (top inputs, top outputs, polysemanticity): "Copy as CLI command" then gives the
command that writes that very figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QFileSystemWatcher, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QPushButton,
                               QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from circuitloupe.core import figures
from circuitloupe.core import weights as W
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from circuitloupe.service import Job
from circuitloupe.tasks import Result
from circuitloupe.tasks.thumbnails import THUMB_BATCH, THUMB_SIZE, THUMB_STEPS, thumbnail_batches
from circuitloupe.tasks.unit_card import UnitCard
from circuitloupe.ui.panes.unit_card import ENTRY_ROLE, UnitCardView
from circuitloupe.ui.widgets.flow_layout import FlowLayout
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.result_export import ResultExport
from circuitloupe.ui.widgets.unit_grid import UnitGrid

GRID = "grid"
#: What Export PNG writes: the grid of listed units, or a Result of the unit card.
EXPORTS = (("unit grid", GRID), ("card: top inputs", "inputs"), ("card: top outputs", "outputs"),
           ("card: polysemanticity", "polysemanticity"))


@dock_pane("browser")
class BrowserPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.store: AnnotationStore | None = None
        self.listing: tuple[str, Any] | None = None  # ("layer", name) | ("units", (title, [UnitRef]))
        self._pending: list[UnitRef] = []
        self._thumb_batch = [THUMB_BATCH]  # render batch size, shared by the thumbnail jobs (see thumbnail_batches)
        self._thumb_job: Job | None = None
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
        self.export_choice = QComboBox()
        for label, key in EXPORTS:
            self.export_choice.addItem(label, key)
        self.export_choice.setToolTip("What Export PNG writes: the units listed, or a result of the unit card "
                                      "(Copy as CLI command gives the command that writes it)")
        self.progress = JobProgress("steps")
        self.unit_card = UnitCardView(self)
        row = QHBoxLayout()
        row.addWidget(self.filter, 1)
        row.addWidget(self.only_favourites)
        row2 = FlowLayout()  # wraps in a narrow dock rather than widening the pane
        for widget in (self.favourite_button, self.save_family_button, self.auto_render, self.count_label,
                       QLabel("Export"), self.export_choice):
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
        splitter.addWidget(self.unit_card)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([230, 560, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(lambda _path: self.refresh_annotations())
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        state.sigAtlasChanged.connect(lambda _atlas: self.unit_card.timer.start())
        state.sigDatasetScanned.connect(self._on_dataset_scanned)
        if state.model is not None:
            self._on_model(state.model)

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
        self.unit_card.forget_model()
        self._fill_tree()
        self.refresh_marks()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def refresh_annotations(self) -> None:
        """Redraw favourites, families, tags and the card if another writer changed the store's
        file; notes and tags being typed are saved first (onto the other writer's changes)."""
        if self.store is None:
            return
        changed = self.store.reload()
        self.unit_card.save_pending_edits()
        if changed:
            self.refresh_marks()
            if self.state.unit is not None:
                self.unit_card.show_basics(self.state.unit)

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
        self.unit_card.show_basics(unit)
        self.unit_card.timer.start()

    def _on_dataset_scanned(self, _unit: UnitRef) -> None:
        """A scan wrote new dataset caches: the card's top examples may exist now."""
        if self.state.unit is not None:
            self.unit_card.timer.start()

    # ----------------------------------------------------------------- favourites, notes, families
    def toggle_favourite(self, unit: UnitRef | None) -> None:
        if unit is None or self.store is None:
            return
        self.set_favourite(unit, not self.store.is_favourite(unit))

    def set_favourite(self, unit: UnitRef | None, favourite: bool) -> None:
        if unit is None or self.store is None:
            return
        self.store.set_favourite(unit, favourite)
        self.refresh_marks()
        if unit == self.state.unit:
            self.unit_card.favourite.setChecked(favourite)
        self.state.message(f"{unit} {'starred' if favourite else 'unstarred'}")

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

    def refresh_marks(self, rebuild_tree: bool = True) -> None:
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
        self._thumb_job = self.run_job(thumbnail_batches, batch, render, {}, self._thumb_batch, connect=connect,
                                       priority="background", name=f"thumbnails ({len(batch)})")

    def _on_thumbnail_progress(self, _step: int, _total: int, preview) -> None:
        if isinstance(preview, dict) and preview.get("thumbnails"):
            self.grid.units.set_thumbnails(preview["thumbnails"])
            self.unit_card.update_image()

    def _thumbnails_done(self, found: dict[UnitRef, np.ndarray]) -> None:
        self.grid.units.set_thumbnails(found)
        self.unit_card.update_image()
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

    # ----------------------------------------------------------------- export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        """The listed (filtered) units as a tile grid with thumbnails where rendered, or the figure of
        the card's Result chosen for export."""
        if self.export_choice.currentData() != GRID:  # no command draws the grid: cli_command() is None
            return super().figure(scale)
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

    @property
    def card(self) -> UnitCard | None:
        """The unit card's inputs, outputs and examples, once computed."""
        return self.unit_card.card

    @property
    def result(self) -> Result | None:
        """The card's Result chosen for export (None for the unit grid, or while there is none)."""
        choice, card, unit = self.export_choice.currentData(), self.card, self.state.unit
        if choice == "polysemanticity":
            return self.unit_card.polysemanticity.get(unit)
        if choice == GRID or card is None or card.unit != unit or isinstance(getattr(card, choice), str):
            return None
        return getattr(card, choice)

    def key_help(self) -> list[tuple[str, str]]:
        return [("Arrows", "move through units (browser grid)"), ("Enter", "open the unit in every pane"),
                ("F", "toggle the unit's favourite star")]

    def project_state(self) -> dict[str, Any]:
        kind, value = self.listing or (None, None)
        listing = {"kind": kind, "value": value if kind in ("layer", "tag") else
                   (value[0] if kind == "units" else None)}
        return {"listing": listing, "filter": self.filter.text(), "only_favourites": self.only_favourites.isChecked(),
                "render_thumbnails": self.auto_render.isChecked(), "export": self.export_choice.currentData()}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        self.filter.setText(str(data.get("filter", "")))
        self.only_favourites.setChecked(bool(data.get("only_favourites", False)))
        self.auto_render.setChecked(bool(data.get("render_thumbnails", True)))
        self.export_choice.setCurrentIndex(max(0, self.export_choice.findData(data.get("export", GRID))))
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
