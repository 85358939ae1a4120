"""Activations pane: the layer list with channel counts and the current unit's activation map
on the current image (the activations task: one run per image and layer; stepping through the
layer's channels shows the maps it returned)."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSpinBox,
                               QSplitter, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks import ActivationsRequest, ActivationsResult
from circuitloupe.ui.widgets.array_view import ArrayView
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.result_export import ResultExport


@dock_pane("activations")
class ActivationsPane(ResultExport, Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.layers = QListWidget()
        self.layers.setToolTip("Layers of the model with their channel counts; pick one to browse its units")
        self.layers.currentItemChanged.connect(self._on_layer_picked)
        self.channel = QSpinBox()
        self.channel.setToolTip("Channel of the selected layer (the unit); arrows step through units")
        self.channel.valueChanged.connect(self._on_channel_picked)
        self.pre_relu = QCheckBox("pre-ReLU")
        self.pre_relu.setToolTip("Show the value before the ReLU, where the layer has one")
        self.pre_relu.toggled.connect(lambda _: self._refresh())
        self.info = QLabel("Open an image (File > Open image…, or drop one here) to see activations.")
        self.info.setWordWrap(True)
        self.image_view = ArrayView(colorbar=False)
        self.map_view = ArrayView()
        self.map_view.sigHover.connect(lambda r, c, v: self.info.setText(f"{self._title()}  at ({r}, {c}): {v:.4g}"))

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Channel"))
        controls.addWidget(self.channel)
        controls.addWidget(self.pre_relu)
        controls.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addLayout(controls)
        self.views = QSplitter()
        self.views.addWidget(self.image_view)
        self.views.addWidget(self.map_view)
        right_layout.addWidget(self.views, 1)
        right_layout.addWidget(self.info)
        splitter = QSplitter()
        splitter.addWidget(self.layers)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

        self.activation: np.ndarray | None = None  # [H, W] of the current unit
        self.result: ActivationsResult | None = None  # its request names the channel shown
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        state.sigImageChanged.connect(lambda _: self._refresh())
        if state.model is not None:
            self._on_model(state.model)

    def resizeEvent(self, event) -> None:
        """Image and map side by side in a wide pane, one above the other in a tall one."""
        super().resizeEvent(event)
        tall = self.width() - self.layers.width() < self.height()
        self.views.setOrientation(Qt.Orientation.Vertical if tall else Qt.Orientation.Horizontal)

    def _on_model(self, model) -> None:
        self.result = None
        self.layers.blockSignals(True)
        self.layers.clear()
        for info in model.catalogue:
            item = QListWidgetItem(f"{info.name}  ({info.channels})")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(f"{info.name}: {info.channels} channels, {info.shape[1]}x{info.shape[2]} at "
                            f"{model.input_size[0]} px" + (", has a pre-ReLU value" if info.has_pre_relu else ""))
            self.layers.addItem(item)
        self.layers.blockSignals(False)
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def _on_unit(self, unit: UnitRef) -> None:
        model = self.state.model
        if model is None:
            return
        for row in range(self.layers.count()):
            item = self.layers.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == unit.layer:
                self.layers.blockSignals(True)
                self.layers.setCurrentRow(row)
                self.layers.blockSignals(False)
        info = model.catalogue.layer(unit.layer)
        self.channel.blockSignals(True)
        self.channel.setRange(0, info.channels - 1)
        self.channel.setValue(unit.channel)
        self.channel.blockSignals(False)
        self.pre_relu.setEnabled(info.has_pre_relu)
        self._refresh()

    def _on_layer_picked(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is not None:
            self.state.set_unit(UnitRef(item.data(Qt.ItemDataRole.UserRole), 0))

    def _on_channel_picked(self, channel: int) -> None:
        if self.state.unit is not None:
            self.state.set_unit(UnitRef(self.state.unit.layer, channel))

    def request(self) -> ActivationsRequest | None:
        """The current image through the current unit's layer (its pre-ReLU value when ticked and it
        has one), the figure showing the unit's channel."""
        unit, model, image = self.state.unit, self.state.model, self.state.image
        if unit is None or model is None or image is None:
            return None
        pre_relu = self.pre_relu.isChecked() and model.catalogue.pre_relu_of(unit.layer) is not None
        return ActivationsRequest((image.name,), (unit.layer,), pre_relu, unit.channel)

    def _title(self) -> str:
        layer = next(iter(self.result.arrays)) if self.result is not None else ""
        return f"{layer}:{self.state.unit.channel}" if self.state.unit else ""

    def _refresh(self) -> None:
        request = self.request()
        if request is None:
            return
        self.image_view.set_image(self.state.image.pixels)
        shown = self.result.request if self.result is not None else None
        if shown is not None and dataclasses.replace(shown, channel=request.channel) == request:
            # the same image and layer: only the channel changed, and the maps are at hand
            self.result = dataclasses.replace(self.result, request=request)
            self._show()
            return
        self.run_job(tasks.run, request, name=f"activations {request.layers[0]}", on_done=self._on_result)

    def _on_result(self, result: ActivationsResult) -> None:
        self.result = result
        self._show()

    def _show(self) -> None:
        if self.result is None or self.state.unit is None or self.result.request != self.request():
            return
        maps = next(iter(self.result.arrays.values()))[0]
        self.activation = maps[self.state.unit.channel]
        self.map_view.set_values(self.activation, signed=self.result.request.pre_relu)
        self.info.setText(f"{self._title()} on {self.state.image.name}: max {self.activation.max():.4g}, "
                          f"mean {self.activation.mean():.4g}")

