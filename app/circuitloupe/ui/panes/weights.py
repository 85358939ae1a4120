"""Weights pane: first-layer RGB filters, expanded weights into the current unit, circuit grids,
and for p4 group CNNs each filter's four rotated copies side by side.

Each tab shows the very figure ``circuitloupe weights / expanded / circuit`` writes; hovering a
heatmap cell shows its number, clicking a unit's thumbnail makes it the current unit. Work runs
on the inference service; feature-visualisation thumbnails are rendered afterwards, in the
background, and fill in the stand-ins.

Over 600 lines: four tabs (first layer, expanded, circuit, rotated) in one pane; a split per
tab waits for the panes' move onto the tasks layer (issue 15).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout,
                               QWidget)
from torch import nn

from circuitloupe.core import weights as W
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef, parse_unit_list
from circuitloupe.tasks.circuit import compact_units
from circuitloupe.tasks.expanded import resolve_method
from circuitloupe.service import Job, JobContext
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress

AUTO_LAYER = "first conv with 3 input channels"
METHODS = ("auto", "gradient", "product")
TABS = ("first", "expanded", "circuit", "rotated")
SUM_INPUTS = "sum over input channels"


def first_layer_job(ctx: JobContext, layer: str | None) -> np.ndarray:
    """The RGB filters [N, kh, kw, 3] of ``layer`` (None: the first 3-channel conv)."""
    return W.first_layer_filters(ctx.model, layer)


def rotated_job(ctx: JobContext, layer: str) -> dict[str, Any]:
    """The kernels group layer ``layer`` applies per output rotation: [C_out, 4, C_in, J, kh, kw]."""
    return {"layer": layer, "kernels": W.rotated_kernels(ctx.model, layer)}


def expanded_job(ctx: JobContext, unit: UnitRef, src: str, k: int, method: str) -> dict[str, Any]:
    """Top-``k`` input units of ``unit`` from ``src`` with kernels, and cached thumbnails."""
    model = ctx.model
    method = resolve_method(model, unit, src, method)
    weights = W.expanded_weights(model, unit, src, method=method)
    ranked = W.ranked_kernels(weights, model.catalogue.layer(src).name, k)
    units = [u for u, _, _ in ranked]
    return {"unit": unit, "src": src, "method": method, "ranked": ranked,
            "thumbnails": W.cached_thumbnails(model, units)}


def circuit_job(ctx: JobContext, src_units: list[UnitRef], dst_units: list[UnitRef]) -> dict[str, Any]:
    """The circuit weights [dst, src, kh, kw] between two families, and cached thumbnails."""
    grid = W.circuit_weights(ctx.model, src_units, dst_units, progress=ctx.progress, should_stop=ctx.should_stop)
    return {"src": src_units, "dst": dst_units, "weights": grid,
            "thumbnails": W.cached_thumbnails(ctx.model, [*src_units, *dst_units])}


def thumbnails_job(ctx: JobContext, units: list[UnitRef]) -> dict[UnitRef, np.ndarray]:
    """Feature-visualisation thumbnails for ``units``, rendering (and caching) missing ones."""
    return W.render_missing_thumbnails(ctx.model, units, progress=ctx.progress, should_stop=ctx.should_stop)


class WeightsPane(Pane):
    title = "Weights"
    object_name = "weights"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut = "Ctrl+3"

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.filters: np.ndarray | None = None
        self.expanded: dict[str, Any] | None = None
        self.circuit: dict[str, Any] | None = None
        self.rotated: dict[str, Any] | None = None
        self._jobs: dict[str, Job] = {}
        self._thumbs: dict[UnitRef, np.ndarray] = {}
        self._dirty = dict.fromkeys(TABS, True)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_first(), "First layer")
        self.tabs.addTab(self._build_expanded(), "Expanded weights")
        self.tabs.addTab(self._build_circuit(), "Circuit")
        self.tabs.addTab(self._build_rotated(), "Rotated copies")
        self.tabs.setTabVisible(TABS.index("rotated"), False)
        self.tabs.currentChanged.connect(lambda _: self._refresh_current())
        self.progress = JobProgress("steps")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.render_thumbs = QCheckBox("Feature vis")
        self.render_thumbs.setChecked(True)
        self.render_thumbs.setToolTip("Render missing feature-visualisation thumbnails of the units shown, in the "
                                      "background (cached ones always show)")
        self.render_thumbs.toggled.connect(self._on_render_toggled)
        bottom = QHBoxLayout()
        bottom.addWidget(self.info, 1)
        bottom.addWidget(self.render_thumbs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.progress)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(self._refresh_current)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)

    # ----------------------------------------------------------------- construction
    def _build_first(self) -> QWidget:
        self.first_layer = QComboBox()
        self.first_layer.setToolTip("Conv layer whose filters (3 input channels) are drawn as RGB images")
        self.first_layer.currentIndexChanged.connect(lambda _: self._mark("first"))
        self.shared_scale = QCheckBox("Shared scale")
        self.shared_scale.setToolTip("One colour scale for all filters (compare strengths); off: each filter "
                                     "scaled to its own largest weight. Grey is zero.")
        self.shared_scale.toggled.connect(lambda _: self._show_first())
        self.first_view = FigureView("Load a model to see its first-layer filters.")
        self.first_view.describe = self._describe_filter
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        row.addWidget(self.first_layer, 1)
        row.addWidget(self.shared_scale)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.first_view, 1)
        return page

    def _build_expanded(self) -> QWidget:
        self.target_label = QLabel("unit: —")
        self.target_label.setToolTip("Expanded weights go into the current unit (pick one anywhere in the app)")
        self.source_layer = QComboBox()
        self.source_layer.setToolTip("Earlier layer the expanded weights come from")
        self.source_layer.currentIndexChanged.connect(lambda _: self._mark("expanded"))
        self.top_k = spin_box(
            1, 64, 8, "How many input units to show, ranked by the L2 norm of their expanded weights")
        self.top_k.valueChanged.connect(lambda _: self._mark("expanded"))
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setToolTip("product: exact InceptionV1 bottleneck matrix product (ReLU between ignored); "
                               "gradient: centre gradient in a linearised copy (ReLU -> identity, max -> "
                               "average pool); auto: the product where it applies")
        self.method.currentIndexChanged.connect(lambda _: self._mark("expanded"))
        self.expanded_view = FigureView("Pick a unit to see the earlier units that drive it.")
        self.expanded_view.describe = self._describe_expanded
        self.expanded_view.sigClicked.connect(self._on_expanded_click)
        row = QHBoxLayout()
        row.addWidget(self.target_label)
        row.addWidget(QLabel("from"))
        row.addWidget(self.source_layer, 1)
        row.addWidget(QLabel("top"))
        row.addWidget(self.top_k)
        row.addWidget(self.method)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.expanded_view, 1)
        return page

    def _build_circuit(self) -> QWidget:
        self.src_family = QComboBox()
        self.dst_family = QComboBox()
        for combo, which in ((self.src_family, "earlier units (columns)"), (self.dst_family, "later units (rows)")):
            combo.setEditable(True)
            combo.setMinimumWidth(200)
            combo.setToolTip(f"The {which}: a preset family or units typed as layer:ch,ch,… (Enter to draw)")
            combo.lineEdit().returnPressed.connect(lambda: self._mark("circuit"))
            combo.activated.connect(lambda _: self._mark("circuit"))
        swap = QPushButton("Swap")
        swap.setToolTip("Swap the two families")
        swap.clicked.connect(self._swap_families)
        self.magnitude = QCheckBox("Magnitude")
        self.magnitude.setToolTip("Show |w| in grey instead of red (excitatory) / blue (inhibitory)")
        self.magnitude.toggled.connect(lambda _: self._show_circuit())
        self.circuit_view = FigureView("Pick two families of units to draw their circuit.")
        self.circuit_view.describe = self._describe_circuit
        self.circuit_view.sigClicked.connect(self._on_circuit_click)
        top = QHBoxLayout()
        top.addWidget(QLabel("Earlier"))
        top.addWidget(self.src_family, 1)
        top.addWidget(swap)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Later"))
        bottom.addWidget(self.dst_family, 1)
        bottom.addWidget(self.magnitude)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.circuit_view, 1)
        return page

    def _build_rotated(self) -> QWidget:
        self.rotated_layer = QComboBox()
        self.rotated_layer.setToolTip("Group layer whose lifting / group convolution filters are drawn: rows = "
                                      "filters (output channels), columns = output rotations 0/90/180/270°")
        self.rotated_layer.currentIndexChanged.connect(lambda _: self._mark("rotated"))
        self.rotated_input = QComboBox()
        self.rotated_input.setToolTip("Group convolutions: each copy is an [input rotation, k, k] kernel per input "
                                      "channel; show the sum over input channels or one input channel's slice")
        self.rotated_input.currentIndexChanged.connect(lambda _: self._show_rotated())
        self.rotated_view = FigureView("Load a p4 group CNN to see its filters' rotated copies.")
        self.rotated_view.describe = self._describe_rotated
        row = QHBoxLayout()
        row.addWidget(QLabel("Layer"))
        row.addWidget(self.rotated_layer, 1)
        row.addWidget(QLabel("Inputs"))
        row.addWidget(self.rotated_input, 1)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.rotated_view, 1)
        return page

    # ----------------------------------------------------------------- state
    def _on_model(self, model) -> None:
        self.filters = self.expanded = self.circuit = self.rotated = None
        self._thumbs = {}
        for view in (self.first_view, self.expanded_view, self.circuit_view, self.rotated_view):
            view.set_image(None, "")  # nothing of the previous model stays on screen; each tab recomputes
        self.first_layer.blockSignals(True)
        self.first_layer.clear()
        self.first_layer.addItem(AUTO_LAYER, None)
        for info in model.catalogue:
            module = model.hook_points.get(info.name)
            if isinstance(module, nn.Conv2d) and module.in_channels == 3 and module.groups == 1:
                self.first_layer.addItem(info.name, info.name)
        self.first_layer.blockSignals(False)
        self._fill_group_layers(model)
        self._fill_families(model)
        self._mark_all()
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def _fill_group_layers(self, model) -> None:
        """Group models show the rotated-copies tab instead of the RGB first-layer tab."""
        layers = W.group_layers(model)
        self.rotated_layer.blockSignals(True)
        self.rotated_layer.clear()
        for name in layers:
            self.rotated_layer.addItem(name, name)
        self.rotated_layer.blockSignals(False)
        self.rotated_input.blockSignals(True)
        self.rotated_input.clear()
        self.rotated_input.blockSignals(False)
        first, rotated = TABS.index("first"), TABS.index("rotated")
        filters_tab = self.tabs.currentIndex() in (first, rotated)
        self.tabs.setTabVisible(rotated, bool(layers))
        self.tabs.setTabVisible(first, not layers)
        if filters_tab:
            self.tabs.setCurrentIndex(rotated if layers else first)

    def _fill_families(self, model) -> None:
        presets = dict(model.families)
        presets.update({name: [str(u) for u in units]
                        for name, units in AnnotationStore.for_model(model).families().items()})
        for combo in (self.src_family, self.dst_family):
            combo.blockSignals(True)
            combo.clear()
            for name, units in presets.items():
                combo.addItem(f"{name}: {compact_units(' '.join(units))}", compact_units(" ".join(units)))
            combo.blockSignals(False)
        from circuitloupe.core.models import inceptionv1 as iv1

        if isinstance(model.net, iv1.InceptionV1):
            self.src_family.setEditText(iv1.CURVE_CIRCUIT[0])
            self.dst_family.setEditText(iv1.CURVE_CIRCUIT[1])
        else:
            self.src_family.setEditText("")
            self.dst_family.setEditText("")

    def _on_unit(self, unit: UnitRef) -> None:
        model = self.state.model
        if model is None:
            return
        self.target_label.setText(f"unit: {unit}")
        current = self.source_layer.currentData()
        choices = W.source_layers(model, unit.layer)
        self.source_layer.blockSignals(True)
        self.source_layer.clear()
        for name in choices:
            self.source_layer.addItem(name, name)
        keep = current if current in choices else W.default_source_layer(model, unit.layer)
        if keep is not None:
            self.source_layer.setCurrentIndex(choices.index(keep))
        self.source_layer.blockSignals(False)
        self._mark("expanded")

    def _mark(self, tab: str) -> None:
        self._dirty[tab] = True
        self._debounce.start()

    def _mark_all(self) -> None:
        for tab in self._dirty:
            self._dirty[tab] = True
        self._debounce.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._debounce.start()

    def _refresh_current(self) -> None:
        """Recompute the visible tab if its inputs changed (hidden tabs wait until shown)."""
        if self.state.model is None or not self.isVisible():
            return
        tab = TABS[self.tabs.currentIndex()]
        if not self._dirty[tab]:
            return
        self._dirty[tab] = False
        getattr(self, f"_compute_{tab}")()

    def _submit(self, key: str, fn, *args, on_done, on_failed=None, priority: str = "user",
                name: str = "") -> Job:
        """Run ``fn`` as the pane's ``key`` job, cancelling the previous one of that key."""
        old = self._jobs.get(key)
        if old is not None and not old.done:
            old.cancel()

        def connect(job: Job) -> None:
            job.sigFinished.connect(on_done)
            if on_failed is not None:
                job.sigFailed.connect(on_failed)
            self.progress.follow(job)

        job = self.run_job(fn, *args, connect=connect, name=name or key, priority=priority)
        self._jobs[key] = job
        return job

    # ----------------------------------------------------------------- first layer
    def _compute_first(self) -> None:
        layer = self.first_layer.currentData()
        self._submit("first", first_layer_job, layer, on_done=self._on_filters, name="first-layer filters")

    def _on_filters(self, filters: np.ndarray) -> None:
        self.filters = filters
        self._show_first()

    def _first_figure(self, scale: float) -> Image.Image | None:
        if self.filters is None:
            return None
        layer = self.first_layer.currentData() or "first layer"
        scaling = "shared" if self.shared_scale.isChecked() else "per-filter"
        title = f"{layer}: {len(self.filters)} filters ({scaling} scaling)"
        return W.filter_grid_figure(self.filters, per_filter_scaling=not self.shared_scale.isChecked(), scale=scale,
                                    columns=self._first_columns(), title=title)

    def _first_columns(self) -> int:
        return max(1, int(np.ceil(np.sqrt(len(self.filters)) * 1.25)))

    def _show_first(self) -> None:
        self.first_view.set_image(self._first_figure(1.0))
        if self.filters is not None:
            self.info.setText(f"{len(self.filters)} filters of {self.filters.shape[1]}x{self.filters.shape[2]}; "
                              f"weights {self.filters.min():.3g} … {self.filters.max():.3g}")

    def _describe_filter(self, x: int, y: int) -> str | None:
        if self.filters is None:
            return None
        columns = self._first_columns()
        title_h, gap, size, label_h = 20, 4, 48, 14
        column, dx = divmod(x - gap, size + gap)
        row, dy = divmod(y - title_h - gap, size + label_h + gap)
        index = row * columns + column
        if 0 <= column < columns and row >= 0 and index < len(self.filters) and dx < size and dy < size:
            f = self.filters[index]
            return f"filter {index}: weights {f.min():.3g} … {f.max():.3g}, |w| mean {np.abs(f).mean():.3g}"
        return None

    # ----------------------------------------------------------------- rotated copies
    def _compute_rotated(self) -> None:
        layer = self.rotated_layer.currentData()
        if layer is None:
            return
        self._submit("rotated", rotated_job, layer, on_done=self._on_rotated,
                     on_failed=lambda message: self.rotated_view.set_image(None, message),
                     name=f"rotated copies of {layer}")

    def _on_rotated(self, result: dict[str, Any]) -> None:
        if result["layer"] != self.rotated_layer.currentData():
            return
        self.rotated = result
        inputs = result["kernels"].shape[2]
        keep = self.rotated_input.currentData() if self.rotated_input.count() == inputs + 1 else None
        self.rotated_input.blockSignals(True)
        self.rotated_input.clear()
        self.rotated_input.addItem(SUM_INPUTS if inputs > 1 else "the one input channel", None)
        for channel in range(inputs if inputs > 1 else 0):
            self.rotated_input.addItem(f"input channel {channel}", channel)
        self.rotated_input.setCurrentIndex(self.rotated_input.findData(keep) if keep is not None else 0)
        self.rotated_input.setEnabled(inputs > 1)
        self.rotated_input.blockSignals(False)
        self._show_rotated()

    def _rotated_copies(self) -> np.ndarray | None:
        """The shown copies [C_out, 4, J, kh, kw] (input channel chosen or summed), or None."""
        if self.rotated is None:
            return None
        return W.select_input_channel(self.rotated["kernels"], self.rotated_input.currentData())

    def _rotated_title(self) -> str:
        kernels = self.rotated["kernels"]
        return (f"{self.state.model.name} {self.rotated['layer']}: {len(kernels)} filters x 4 rotations"
                + W.input_channel_note(kernels.shape[2], self.rotated_input.currentData()))

    def _rotated_figure(self, scale: float) -> Image.Image | None:
        copies = self._rotated_copies()
        if copies is None:
            return None
        return W.rotated_copies_figure(copies, scale=scale, title=self._rotated_title())

    def _show_rotated(self) -> None:
        self.rotated_view.set_image(self._rotated_figure(1.0))
        copies = self._rotated_copies()
        if copies is not None:
            self.info.setText(f"{len(copies)} filters x 4 rotations; copy r is rotated by r x 90° counter-clockwise"
                              + (" with its input rotations rolled by r" if copies.shape[2] > 1 else "")
                              + f"; shared scale ±{np.abs(copies).max():.3g}")

    def _describe_rotated(self, x: int, y: int) -> str | None:
        copies = self._rotated_copies()
        if copies is None:
            return None
        n, _, maps, kh, kw = copies.shape
        hit = W.copies_layout(n, maps).map_at(x, y, kh, kw)
        if hit is None:
            return None
        o, r, j, row, col = hit
        where = f", input rotation j={j}" if maps > 1 else ""
        return (f"filter {o} at {W.ROTATION_DEGREES[r]}° (unit {self.rotated['layer']}:{o * 4 + r}){where}, "
                f"offset ({row - kh // 2:+d}, {col - kw // 2:+d}): w = {copies[o, r, j, row, col]:.4g}")

    # ----------------------------------------------------------------- expanded
    def _compute_expanded(self) -> None:
        unit, src = self.state.unit, self.source_layer.currentData()
        if unit is None or src is None:
            self.expanded_view.set_image(None, "This unit has no earlier layer to expand from.")
            return
        self._submit("expanded", expanded_job, unit, src, self.top_k.value(), self.method.currentText(),
                     on_done=self._on_expanded, on_failed=self._on_expanded_failed, name=f"expanded {src} -> {unit}")

    def _on_expanded_failed(self, message: str) -> None:
        self.expanded = None
        self.expanded_view.set_image(None, message)

    def _on_expanded(self, result: dict[str, Any]) -> None:
        if result["unit"] != self.state.unit:
            return
        self.expanded = result
        self._thumbs.update(result["thumbnails"])
        self._show_expanded()
        ranked = result["ranked"]
        kh, kw = ranked[0][2].shape if ranked else (0, 0)
        self.info.setText(f"{result['unit']} from {result['src']} by {result['method']}: kernels {kh}x{kw}; "
                          f"strongest input {ranked[0][0]} (|w| {ranked[0][1]:.3g})" if ranked else "")
        self._render_thumbnails([u for u, _, _ in ranked])

    def _expanded_figure(self, scale: float) -> Image.Image | None:
        if self.expanded is None:
            return None
        return W.expanded_figure(self.expanded["ranked"], self.expanded["unit"], self._thumbs, scale=scale)

    def _show_expanded(self) -> None:
        self.expanded_view.set_image(self._expanded_figure(1.0))

    def _describe_expanded(self, x: int, y: int) -> str | None:
        if self.expanded is None:
            return None
        ranked = self.expanded["ranked"]
        grid = W.expanded_grid(len(ranked))
        kh, kw = ranked[0][2].shape
        hit = grid.cell_at(x, y, kh, kw)
        if hit is not None:
            item, r, c = hit
            unit, norm, kernel = ranked[item]
            return (f"{unit} → {self.expanded['unit']}  offset ({r - kh // 2:+d}, {c - kw // 2:+d}): "
                    f"w = {kernel[r, c]:.4g}  (|w| = {norm:.4g})")
        item = grid.thumbnail_at(x, y)
        return None if item is None else f"{ranked[item][0]}: click to make it the current unit"

    def _on_expanded_click(self, x: int, y: int) -> None:
        if self.expanded is None:
            return
        item = W.expanded_grid(len(self.expanded["ranked"])).thumbnail_at(x, y)
        if item is not None:
            self.state.set_unit(self.expanded["ranked"][item][0])

    # ----------------------------------------------------------------- circuit
    def families(self) -> tuple[list[UnitRef], list[UnitRef]]:
        """The (earlier, later) families typed or picked; raises UserError for bad text."""
        catalogue = self.state.model.catalogue
        return ([catalogue.unit(u) for u in parse_unit_list(self.src_family.currentText().split(": ")[-1])],
                [catalogue.unit(u) for u in parse_unit_list(self.dst_family.currentText().split(": ")[-1])])

    def _compute_circuit(self) -> None:
        if not (self.src_family.currentText().strip() and self.dst_family.currentText().strip()):
            self.circuit_view.set_image(None)  # nothing asked yet: the view's hint, not an error
            return
        try:
            src, dst = self.families()
        except UserError as error:
            self.state.message(str(error))
            return
        self._submit("circuit", circuit_job, src, dst, on_done=self._on_circuit,
                     on_failed=lambda message: self.circuit_view.set_image(None, message), name="circuit weights")

    def _on_circuit(self, result: dict[str, Any]) -> None:
        self.circuit = result
        self._thumbs.update(result["thumbnails"])
        self._show_circuit()
        grid = result["weights"]
        self.info.setText(f"{len(result['dst'])} x {len(result['src'])} cells of {grid.shape[2]}x{grid.shape[3]}, "
                          f"shared scale ±{np.abs(grid).max():.3g}")
        self._render_thumbnails([*result["src"], *result["dst"]])

    def _circuit_figure(self, scale: float) -> Image.Image | None:
        if self.circuit is None:
            return None
        return W.circuit_figure(self.circuit["weights"], self.circuit["src"], self.circuit["dst"],
                                magnitude=self.magnitude.isChecked(), thumbnails=self._thumbs, scale=scale)

    def _show_circuit(self) -> None:
        self.circuit_view.set_image(self._circuit_figure(1.0))

    def _describe_circuit(self, x: int, y: int) -> str | None:
        if self.circuit is None:
            return None
        weights = self.circuit["weights"]
        n_dst, n_src, kh, kw = weights.shape
        hit = W.circuit_grid(n_dst, n_src).cell_at(x, y, kh, kw)
        if hit is None:
            return None
        item, r, c = hit
        i, j = divmod(item, n_src)
        kernel = weights[i, j]
        return (f"{self.circuit['src'][j]} → {self.circuit['dst'][i]}  offset ({r - kh // 2:+d}, {c - kw // 2:+d}): "
                f"w = {kernel[r, c]:.4g}; cell sum {kernel.sum():.4g}, |w| {np.linalg.norm(kernel):.4g}")

    def _on_circuit_click(self, x: int, y: int) -> None:
        if self.circuit is None:
            return
        grid = W.circuit_grid(len(self.circuit["dst"]), len(self.circuit["src"]))
        if y < grid.origin_y and x >= grid.origin_x:
            j = int((x - grid.origin_x) // grid.step_x)
            if j < len(self.circuit["src"]):
                self.state.set_unit(self.circuit["src"][j])
        elif x < grid.origin_x and y >= grid.origin_y:
            i = int((y - grid.origin_y) // grid.step_y)
            if i < len(self.circuit["dst"]):
                self.state.set_unit(self.circuit["dst"][i])

    def _swap_families(self) -> None:
        src, dst = self.src_family.currentText(), self.dst_family.currentText()
        self.src_family.setEditText(dst)
        self.dst_family.setEditText(src)
        self._mark("circuit")

    # ----------------------------------------------------------------- thumbnails
    def _render_thumbnails(self, units: list[UnitRef]) -> None:
        missing = [u for u in dict.fromkeys(units) if u not in self._thumbs]
        if missing and self.render_thumbs.isChecked() and W.featurevis_available():
            self._submit("thumbnails", thumbnails_job, missing, on_done=self._on_thumbnails,
                         priority="background", name=f"feature vis thumbnails ({len(missing)})")

    def _on_render_toggled(self, on: bool) -> None:
        if on:
            self._render_shown()
        else:
            self.cancel_jobs("thumbnails")

    def _render_shown(self) -> None:
        """Render the missing thumbnails of the units in the expanded and circuit figures."""
        shown = [u for u, _, _ in self.expanded["ranked"]] if self.expanded else []
        shown += [*self.circuit["src"], *self.circuit["dst"]] if self.circuit else []
        self._render_thumbnails(shown)

    def cancel_jobs(self, *keys: str) -> None:
        """Cancel the pane's running jobs (those of ``keys``, or all)."""
        for key, job in self._jobs.items():
            if (not keys or key in keys) and not job.done:
                job.cancel()

    def _on_thumbnails(self, found: dict[UnitRef, np.ndarray]) -> None:
        self._thumbs.update(found)
        if self.expanded is not None:
            self._show_expanded()
        if self.circuit is not None:
            self._show_circuit()

    # ----------------------------------------------------------------- export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        return (self._first_figure, self._expanded_figure, self._circuit_figure,
                self._rotated_figure)[self.tabs.currentIndex()](scale)

    def cli_command(self) -> str | None:
        model = self.state.model
        if model is None:
            return None
        spec = f"--model {model.spec}" + (f" --weights {model.weights_spec}" if model.is_random
                                          else "")
        tab = self.tabs.currentIndex()
        if tab == 0:
            layer = self.first_layer.currentData() or ""
            shared = " --shared-scale" if self.shared_scale.isChecked() else ""
            return f"circuitloupe weights {layer} {spec}{shared} --out filters.png".replace("  ", " ")
        if tab == 1 and self.expanded is not None:
            return (f"circuitloupe expanded {self.expanded['src']} {self.expanded['unit']} {spec} "
                    f"--top {len(self.expanded['ranked'])} --method {self.expanded['method']} --out expanded.png")
        if tab == 2 and self.circuit is not None:
            magnitude = " --magnitude" if self.magnitude.isChecked() else ""
            return (f"circuitloupe circuit {compact_units(' '.join(map(str, self.circuit['src'])))} "
                    f"{compact_units(' '.join(map(str, self.circuit['dst'])))} {spec}{magnitude} --out circuit.png")
        if tab == 3 and self.rotated is not None:
            channel = self.rotated_input.currentData()
            inputs = "" if channel is None else f" --input-channel {channel}"
            return f"circuitloupe weights {self.rotated['layer']} {spec}{inputs} --out rotated.png"
        return None

    def project_state(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex(), "shared_scale": self.shared_scale.isChecked(),
                "render_thumbnails": self.render_thumbs.isChecked(),
                "top_k": self.top_k.value(), "method": self.method.currentText(),
                "src_family": self.src_family.currentText(), "dst_family": self.dst_family.currentText(),
                "magnitude": self.magnitude.isChecked(), "rotated_layer": self.rotated_layer.currentData()}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("tab"), int) and 0 <= data["tab"] < self.tabs.count() \
                and self.tabs.isTabVisible(data["tab"]):
            self.tabs.setCurrentIndex(data["tab"])
        if isinstance(data.get("rotated_layer"), str) and self.rotated_layer.findData(data["rotated_layer"]) >= 0:
            self.rotated_layer.setCurrentIndex(self.rotated_layer.findData(data["rotated_layer"]))
        self.shared_scale.setChecked(bool(data.get("shared_scale", False)))
        self.magnitude.setChecked(bool(data.get("magnitude", False)))
        self.render_thumbs.setChecked(bool(data.get("render_thumbnails", True)))
        if isinstance(data.get("top_k"), int):
            self.top_k.setValue(data["top_k"])
        if data.get("method") in METHODS:
            self.method.setCurrentText(data["method"])
        for key, combo in (("src_family", self.src_family), ("dst_family", self.dst_family)):
            if isinstance(data.get(key), str) and data[key]:
                combo.setEditText(data[key])
        self._mark_all()
