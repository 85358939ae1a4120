"""The Attribution pane's "Earlier units" tab: the earlier layer's units ranked by their w * x into
the current unit (``circuitloupe attribute UNIT IMAGE --to-layer LAYER``), each unit's w * x map,
and the feature visualisation of the attribution."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from circuitloupe.core.attribution import Contributions
from circuitloupe.core.attribution.figures import shared_limit, spatial_tile
from circuitloupe.core.units import UnitRef
from circuitloupe.tasks import ContributionsResult
from circuitloupe.ui.state import AppState
from circuitloupe.ui.widgets.array_view import ArrayView, diverging_colormap
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

UNIT_ROLE = Qt.ItemDataRole.UserRole + 1
TILE = 72


class EarlierUnitsTab(QWidget):
    """Controls (``source_layer``, ``position``, ``top``, two buttons), the ranked lists and the
    picked unit's w * x; :meth:`show_result` fills them from a :class:`ContributionsResult`."""

    def __init__(self, state: AppState) -> None:
        super().__init__()
        self.state = state
        self.result: ContributionsResult | None = None
        self.source_layer = QComboBox()
        self.source_layer.setToolTip("Earlier layer whose units' w * x (weight x activation) into the current "
                                     "unit is ranked")
        self.position = QComboBox()
        self.position.addItem("centre", None)
        self.position.addItem("strongest", "max")
        self.position.setToolTip("Position of the unit explained: the centre of its map or where it is strongest")
        self.top = spin_box(1, 64, 8, "How many earlier units to list for each sign")
        self.run_button = QPushButton("Rank earlier units")
        self.run_button.setToolTip("Compute w * x from the earlier layer on the current image")
        self.visualise = QPushButton("Visualise attribution")
        self.visualise.setToolTip("Feature visualisation of the unit's w * x from the earlier layer on this image: "
                                  "an image whose earlier-layer activity matches the attribution (Curve Detectors, "
                                  "'visualising attribution')")
        row = QHBoxLayout()
        for label, widget in (("From", self.source_layer), ("At", self.position), ("Top", self.top)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.run_button)
        row.addWidget(self.visualise)
        self.positive = self._ranked_list("Excitatory earlier units (w * x > 0), strongest first; click to select, "
                                          "double-click to open everywhere")
        self.negative = self._ranked_list("Inhibitory earlier units (w * x < 0), strongest first; click to select, "
                                          "double-click to open everywhere")
        self.wx_view = ArrayView()
        self.wx_label = QLabel("Pick an earlier unit to see its w * x map over the region the unit sees.")
        self.wx_label.setWordWrap(True)
        self.attribution_vis = FigureView("Visualise attribution renders what the w * x looks like")
        lists = QWidget()
        lists_layout = QVBoxLayout(lists)
        lists_layout.setContentsMargins(0, 0, 0, 0)
        for title, widget in (("Excitatory (+)", self.positive), ("Inhibitory (−)", self.negative)):
            lists_layout.addWidget(QLabel(title))
            lists_layout.addWidget(widget, 1)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.wx_view, 1)
        detail_layout.addWidget(self.wx_label)
        detail_layout.addWidget(self.attribution_vis, 1)
        splitter = QSplitter()
        for index, (widget, stretch) in enumerate(((lists, 3), (detail, 2))):
            splitter.addWidget(widget)
            splitter.setStretchFactor(index, stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(row)
        layout.addWidget(splitter, 1)

    def _ranked_list(self, tip: str) -> QListWidget:
        widget = QListWidget()
        widget.setViewMode(QListWidget.ViewMode.IconMode)
        widget.setFlow(QListWidget.Flow.LeftToRight)
        widget.setWrapping(True)
        widget.setResizeMode(QListWidget.ResizeMode.Adjust)
        widget.setMovement(QListWidget.Movement.Static)
        widget.setWordWrap(True)
        widget.setToolTip(tip)
        widget.itemClicked.connect(self._on_ranked_clicked)
        widget.itemDoubleClicked.connect(lambda item: self.state.activate_unit(item.data(UNIT_ROLE)))
        widget.currentItemChanged.connect(lambda item, _prev: self._show_wx(item))
        return widget

    def clear(self) -> None:
        self.result = None
        self.attribution_vis.set_image(None)
        self.positive.clear()
        self.negative.clear()
        self.wx_view.clear_image()
        self.wx_label.clear()

    def show_result(self, result: ContributionsResult) -> str:
        """Fill the lists from ``result``; returns a one-line summary."""
        self.result = result
        c, top, thumbnails = result.contributions, result.request.top, result.thumbnails
        limit = shared_limit(c.ranked(1, top) + c.ranked(-1, top))
        width = 2 * TILE if thumbnails else TILE
        for widget, sign in ((self.positive, 1), (self.negative, -1)):
            widget.clear()
            widget.setIconSize(QSize(width, TILE))
            widget.setGridSize(QSize(width + 16, TILE + 34))
            for row in c.ranked(sign, top):
                item = QListWidgetItem(self._tile_icon(c, thumbnails, row, limit),
                                       f"{row.unit.channel}\n{row.total:+.3g}")
                item.setData(UNIT_ROLE, row.unit)
                item.setToolTip(f"{row.unit}: w * x = {row.total:+.4g}"
                                + ("" if row.unit in thumbnails else "\n(no feature visualisation cached)"))
                widget.addItem(item)
        if self.positive.count():
            self.positive.setCurrentRow(0)
        residual = f", residual {c.residual:.2g}" if c.residual is not None else ""
        bias = f", bias {c.bias:.4g}" if c.bias is not None else ""
        return (f"{c.unit} as {c.target_layer}:{c.channel} at {c.position}: value {c.value:.4g}{bias}, "
                f"sum of w * x from {c.source_layer} {c.totals.sum():.4g}{residual}")

    def _tile_icon(self, c: Contributions, thumbnails: dict, row, limit: float) -> QIcon:
        """The unit's w * x over the region the attributed unit sees, after its feature
        visualisation when one is cached (a grey stand-in when others have one)."""
        tile = _resized(spatial_tile(c.image, row.map, c.support, limit), Image.NEAREST)
        if not thumbnails:
            return QIcon(array_to_pixmap(tile))
        thumb = thumbnails.get(row.unit)
        left = _resized(np.asarray(thumb)[..., :3], Image.BILINEAR) if thumb is not None else \
            np.full((TILE, TILE, 3), 0.85, np.float32)
        return QIcon(array_to_pixmap(np.concatenate([left, tile], axis=1)))

    def _show_wx(self, item: QListWidgetItem | None) -> None:
        """The picked earlier unit's w * x over the image region the attributed unit sees."""
        if item is None or self.result is None:
            return
        c = self.result.contributions
        unit: UnitRef = item.data(UNIT_ROLE)
        values = c.wx[unit.channel]
        limit = float(np.abs(values).max()) or 1.0
        self.wx_view.set_image(spatial_tile(c.image, values, c.support, limit, pad=2))
        self.wx_view.show_colorbar(diverging_colormap(), (-limit, limit))
        top, bottom, left, right = c.support
        self.wx_label.setText(f"{unit} -> {c.unit}: w * x over the {bottom - top}x{right - left} positions of "
                              f"{c.source_layer} the unit sees (and 2 around); total {values.sum():+.4g}")

    def _on_ranked_clicked(self, item: QListWidgetItem) -> None:
        self._show_wx(item)
        self.state.set_unit(item.data(UNIT_ROLE))


def _resized(image: np.ndarray, resample) -> np.ndarray:
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((TILE, TILE), resample), dtype=np.float32) / 255
