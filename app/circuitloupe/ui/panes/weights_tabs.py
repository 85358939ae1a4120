"""The Weights pane's tabs. Each builds the Request its controls describe, shows the Result the
task returns (the figure ``circuitloupe weights / expanded / circuit`` writes) and describes the
figure under the mouse; the pane runs the requests and exports the results."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget
from torch import nn

from circuitloupe.core import weights as W
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks import CircuitRequest, ExpandedRequest, Request, Result, WeightsRequest
from circuitloupe.tasks.circuit import compact_units
from circuitloupe.tasks.expanded import METHODS
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.figure_view import FigureView

if TYPE_CHECKING:
    from circuitloupe.ui.panes.weights import WeightsPane

AUTO_LAYER = "first conv with 3 input channels"
SUM_INPUTS = "sum over input channels"


class WeightsTab(QWidget):
    """One tab: ``request()`` (None: nothing asked yet), ``result`` (the last one run) and
    ``shown()`` (that result as the tab's view-only options draw it, e.g. magnitude)."""

    key = ""
    label = ""
    hint = ""
    request: Callable[[], Request | None]  # each tab defines it

    def __init__(self, pane: WeightsPane) -> None:
        super().__init__()
        self.pane, self.state = pane, pane.state
        self.result: Result | None = None
        self.view = FigureView(self.hint)
        self.view.describe = lambda x, y: None if self.result is None else self.describe(x, y)
        self.view.sigClicked.connect(lambda x, y: self.result is not None and self.clicked(x, y))
        self.target: QLabel | None = None
        self.layout_ = QVBoxLayout(self)
        self.build()
        self.layout_.addWidget(self.view, 1)

    def build(self) -> None:
        """Make the tab's controls and lay them out with :meth:`add_row`."""

    def add_row(self, *items: QWidget | str, stretch: QWidget | None = None) -> None:
        """A row of controls above the figure (text items become labels); ``stretch`` takes the space."""
        row = QHBoxLayout()
        for item in items:
            row.addWidget(QLabel(item) if isinstance(item, str) else item, 1 if item is stretch else 0)
        self.layout_.addLayout(row)

    def changed(self) -> None:
        """An input changed: compute again (debounced)."""
        self.pane.mark(self.key)

    def view_options(self) -> dict:
        """Request fields the tab redraws without computing again (e.g. ``magnitude``)."""
        return {}

    def shown(self) -> Result | None:
        options = self.view_options()
        if self.result is None or not options:
            return self.result
        return dataclasses.replace(self.result, request=dataclasses.replace(self.result.request, **options))

    def unit_label(self, tip: str) -> QLabel:
        """The current unit's label at the start of the tab's row (updated by :meth:`on_unit`)."""
        self.target = QLabel("unit: —")
        self.target.setToolTip(tip)
        return self.target

    def on_unit(self, unit: UnitRef) -> None:
        if self.target is not None:
            self.target.setText(f"unit: {unit}")

    def show_result(self, result: Result | None) -> None:
        self.result = result
        self.redraw()

    def redraw(self) -> None:
        shown = self.shown()
        self.view.set_image(shown.figure(1.0) if shown is not None else None)
        if shown is not None:
            self.pane.info.setText(self.summary(shown))

    def summary(self, result: Result) -> str:
        return ""

    def units(self) -> list[UnitRef]:
        """The units whose feature visualisations the figure shows."""
        return []

    def describe(self, x: int, y: int) -> str | None:
        return None

    def clicked(self, x: int, y: int) -> None:
        pass

    def on_model(self, model) -> None:
        pass


class FiltersTab(WeightsTab):
    key, label = "first", "First layer"
    hint = "Load a model to see its first-layer filters."

    def build(self) -> None:
        self.layer = QComboBox()
        self.layer.setToolTip("Conv layer whose filters (3 input channels) are drawn as RGB images")
        self.layer.currentIndexChanged.connect(lambda _: self.changed())
        self.shared_scale = QCheckBox("Shared scale")
        self.shared_scale.setToolTip("One colour scale for all filters (compare strengths); off: each filter "
                                     "scaled to its own largest weight. Grey is zero.")
        self.shared_scale.toggled.connect(lambda _: self.redraw())
        self.add_row("Layer", self.layer, self.shared_scale, stretch=self.layer)

    def on_model(self, model) -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItem(AUTO_LAYER, None)
        for info in model.catalogue:
            module = model.hook_points.get(info.name)
            if isinstance(module, nn.Conv2d) and module.in_channels == 3 and module.groups == 1:
                self.layer.addItem(info.name, info.name)
        self.layer.blockSignals(False)

    def request(self) -> WeightsRequest:
        return WeightsRequest(self.layer.currentData(), shared_scale=self.shared_scale.isChecked())

    def view_options(self) -> dict:
        return {"shared_scale": self.shared_scale.isChecked()}

    def summary(self, result) -> str:
        f = result.filters
        return f"{len(f)} filters of {f.shape[1]}x{f.shape[2]}; weights {f.min():.3g} … {f.max():.3g}"

    def describe(self, x: int, y: int) -> str | None:
        filters = self.result.filters
        columns = max(1, int(np.ceil(np.sqrt(len(filters)) * 1.25)))  # filter_grid_figure's default
        title_h, gap, size, label_h = 20, 4, 48, 14
        column, dx = divmod(x - gap, size + gap)
        row, dy = divmod(y - title_h - gap, size + label_h + gap)
        index = row * columns + column
        if 0 <= column < columns and row >= 0 and index < len(filters) and dx < size and dy < size:
            f = filters[index]
            return f"filter {index}: weights {f.min():.3g} … {f.max():.3g}, |w| mean {np.abs(f).mean():.3g}"
        return None


class RotatedTab(WeightsTab):
    key, label = "rotated", "Rotated copies"
    hint = "Load a p4 group CNN to see its filters' rotated copies."

    def build(self) -> None:
        self.layer = QComboBox()
        self.layer.setToolTip("Group layer whose lifting / group convolution filters are drawn: rows = "
                              "filters (output channels), columns = output rotations 0/90/180/270°")
        self.layer.currentIndexChanged.connect(lambda _: self.changed())
        self.input = QComboBox()
        self.input.setToolTip("Group convolutions: each copy is an [input rotation, k, k] kernel per input "
                              "channel; show the sum over input channels or one input channel's slice")
        self.input.currentIndexChanged.connect(lambda _: self.redraw())
        self.add_row("Layer", self.layer, "Inputs", self.input)

    def on_model(self, model) -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        for name in W.group_layers(model):
            self.layer.addItem(name, name)
        self.layer.blockSignals(False)
        self.input.blockSignals(True)
        self.input.clear()
        self.input.blockSignals(False)

    def request(self) -> WeightsRequest | None:
        layer = self.layer.currentData()
        return None if layer is None else WeightsRequest(layer)

    def show_result(self, result) -> None:
        if result is not None:
            self._fill_inputs(result.kernels.shape[2])
        super().show_result(result)

    def _fill_inputs(self, inputs: int) -> None:
        """The input-channel choices of a layer with ``inputs`` channels (kept when it has as many)."""
        keep = self.input.currentData() if self.input.count() == inputs + 1 else None
        self.input.blockSignals(True)
        self.input.clear()
        self.input.addItem(SUM_INPUTS if inputs > 1 else "the one input channel", None)
        for channel in range(inputs if inputs > 1 else 0):
            self.input.addItem(f"input channel {channel}", channel)
        self.input.setCurrentIndex(self.input.findData(keep) if keep is not None else 0)
        self.input.setEnabled(inputs > 1)
        self.input.blockSignals(False)

    def view_options(self) -> dict:
        return {"input_channel": self.input.currentData()}

    def summary(self, result) -> str:
        copies = result.copies
        return (f"{len(copies)} filters x 4 rotations; copy r is rotated by r x 90° counter-clockwise"
                + (" with its input rotations rolled by r" if copies.shape[2] > 1 else "")
                + f"; shared scale ±{np.abs(copies).max():.3g}")

    def describe(self, x: int, y: int) -> str | None:
        shown = self.shown()
        copies = shown.copies
        n, _, maps, kh, kw = copies.shape
        hit = W.copies_layout(n, maps).map_at(x, y, kh, kw)
        if hit is None:
            return None
        o, r, j, row, col = hit
        where = f", input rotation j={j}" if maps > 1 else ""
        return (f"filter {o} at {W.ROTATION_DEGREES[r]}° (unit {shown.layer}:{o * 4 + r}){where}, "
                f"offset ({row - kh // 2:+d}, {col - kw // 2:+d}): w = {copies[o, r, j, row, col]:.4g}")


class ExpandedTab(WeightsTab):
    key, label = "expanded", "Expanded weights"
    hint = "Pick a unit to see the earlier units that drive it."

    def build(self) -> None:
        self.unit_label("Expanded weights go into the current unit (pick one anywhere in the app)")
        self.source_layer = QComboBox()
        self.source_layer.setToolTip("Earlier layer the expanded weights come from")
        self.source_layer.currentIndexChanged.connect(lambda _: self.changed())
        self.top_k = spin_box(
            1, 64, 8, "How many input units to show, ranked by the L2 norm of their expanded weights")
        self.top_k.valueChanged.connect(lambda _: self.changed())
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setToolTip("product: exact InceptionV1 bottleneck matrix product (ReLU between ignored); "
                               "gradient: centre gradient in a linearised copy (ReLU -> identity, max -> "
                               "average pool); auto: the product where it applies")
        self.method.currentIndexChanged.connect(lambda _: self.changed())
        self.add_row(self.target, "from", self.source_layer, "top", self.top_k, self.method, stretch=self.source_layer)

    def on_unit(self, unit: UnitRef) -> None:
        super().on_unit(unit)
        model = self.state.model
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
        self.changed()

    def request(self) -> ExpandedRequest | None:
        unit, src = self.state.unit, self.source_layer.currentData()
        if unit is None or src is None:
            self.view.set_image(None, "This unit has no earlier layer to expand from.")
            return None
        return ExpandedRequest(src, str(unit), top=self.top_k.value(), method=self.method.currentText())

    def summary(self, result) -> str:
        ranked = result.ranked
        if not ranked:
            return ""
        kh, kw = result.kernel_shape
        return (f"{result.unit} from {result.src_layer} by {result.method}: kernels {kh}x{kw}; "
                f"strongest input {ranked[0][0]} (|w| {ranked[0][1]:.3g})")

    def units(self) -> list[UnitRef]:
        return [] if self.result is None else [u for u, _, _ in self.result.ranked]

    def describe(self, x: int, y: int) -> str | None:
        ranked = self.result.ranked
        grid = W.expanded_grid(len(ranked))
        kh, kw = ranked[0][2].shape
        hit = grid.cell_at(x, y, kh, kw)
        if hit is not None:
            item, r, c = hit
            unit, norm, kernel = ranked[item]
            return (f"{unit} → {self.result.unit}  offset ({r - kh // 2:+d}, {c - kw // 2:+d}): "
                    f"w = {kernel[r, c]:.4g}  (|w| = {norm:.4g})")
        item = grid.thumbnail_at(x, y)
        return None if item is None else f"{ranked[item][0]}: click to make it the current unit"

    def clicked(self, x: int, y: int) -> None:
        item = W.expanded_grid(len(self.result.ranked)).thumbnail_at(x, y)
        if item is not None:
            self.state.set_unit(self.result.ranked[item][0])


class CircuitTab(WeightsTab):
    key, label = "circuit", "Circuit"
    hint = "Pick two families of units to draw their circuit."

    def build(self) -> None:
        self.src_family = QComboBox()
        self.dst_family = QComboBox()
        for combo, which in ((self.src_family, "earlier units (columns)"), (self.dst_family, "later units (rows)")):
            combo.setEditable(True)
            combo.setMinimumWidth(200)
            combo.setToolTip(f"The {which}: a preset family or units typed as layer:ch,ch,… (Enter to draw)")
            combo.lineEdit().returnPressed.connect(self.changed)
            combo.activated.connect(lambda _: self.changed())
        swap = QPushButton("Swap")
        swap.setToolTip("Swap the two families")
        swap.clicked.connect(self.swap)
        self.magnitude = QCheckBox("Magnitude")
        self.magnitude.setToolTip("Show |w| in grey instead of red (excitatory) / blue (inhibitory)")
        self.magnitude.toggled.connect(lambda _: self.redraw())
        self.add_row("Earlier", self.src_family, swap, stretch=self.src_family)
        self.add_row("Later", self.dst_family, self.magnitude, stretch=self.dst_family)

    def on_model(self, model) -> None:
        presets = dict(model.families)
        presets.update({name: [str(u) for u in units]
                        for name, units in AnnotationStore.for_model(model).families().items()})
        for combo in (self.src_family, self.dst_family):
            combo.blockSignals(True)
            combo.clear()
            for name, units in presets.items():
                combo.addItem(f"{name}: {compact_units(' '.join(units))}", compact_units(" ".join(units)))
            combo.blockSignals(False)
        src, dst = model.default_circuit or ("", "")
        self.src_family.setEditText(src)
        self.dst_family.setEditText(dst)

    def request(self) -> CircuitRequest | None:
        src, dst = (combo.currentText().split(": ")[-1].strip() for combo in (self.src_family, self.dst_family))
        if not (src and dst):
            self.view.set_image(None)  # nothing asked yet: the view's hint, not an error
            return None
        return CircuitRequest(src, dst, magnitude=self.magnitude.isChecked())

    def view_options(self) -> dict:
        return {"magnitude": self.magnitude.isChecked()}

    def summary(self, result) -> str:
        grid = result.weights
        return (f"{len(result.targets)} x {len(result.sources)} cells of {grid.shape[2]}x{grid.shape[3]}, "
                f"shared scale ±{np.abs(grid).max():.3g}")

    def units(self) -> list[UnitRef]:
        return [] if self.result is None else [*self.result.sources, *self.result.targets]

    def describe(self, x: int, y: int) -> str | None:
        weights = self.result.weights
        n_dst, n_src, kh, kw = weights.shape
        hit = W.circuit_grid(n_dst, n_src).cell_at(x, y, kh, kw)
        if hit is None:
            return None
        item, r, c = hit
        i, j = divmod(item, n_src)
        kernel = weights[i, j]
        return (f"{self.result.sources[j]} → {self.result.targets[i]}  offset ({r - kh // 2:+d}, "
                f"{c - kw // 2:+d}): w = {kernel[r, c]:.4g}; cell sum {kernel.sum():.4g}, "
                f"|w| {np.linalg.norm(kernel):.4g}")

    def clicked(self, x: int, y: int) -> None:
        sources, targets = self.result.sources, self.result.targets
        grid = W.circuit_grid(len(targets), len(sources))
        if y < grid.origin_y and x >= grid.origin_x:
            j = int((x - grid.origin_x) // grid.step_x)
            if j < len(sources):
                self.state.set_unit(sources[j])
        elif x < grid.origin_x and y >= grid.origin_y:
            i = int((y - grid.origin_y) // grid.step_y)
            if i < len(targets):
                self.state.set_unit(targets[i])

    def swap(self) -> None:
        src, dst = self.src_family.currentText(), self.dst_family.currentText()
        self.src_family.setEditText(dst)
        self.dst_family.setEditText(src)
        self.changed()
