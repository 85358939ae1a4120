"""OverlayView: a heat map over an image, with opacity, signed/absolute, clipping and layout controls.

Overlay mode blends the map over a grayscale copy of the image (core ``heat_overlay``, the same
function the exported figure uses); side-by-side mode shows the image beside the map. Both
show a colour bar and the map's value under the cursor. :meth:`settings` returns the current
choices as keyword arguments for ``core.attribution.figures.overlay_figure``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QSlider, QVBoxLayout, QWidget)

from circuitloupe.core.attribution.figures import clip_limit
from circuitloupe.core.figures import heat_overlay
from circuitloupe.ui.widgets.array_view import ArrayView, diverging_colormap
from circuitloupe.ui.widgets.flow_layout import FlowLayout, labelled


class OverlayView(QWidget):
    """Shows ``set_data(image [H, W, 3], heat [H, W])``; ``sigHover(row, col, value)`` reports the map."""

    sigHover = Signal(int, int, float)
    sigSettingsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.addItem("Overlay", "overlay")
        self.mode.addItem("Side by side", "side_by_side")
        self.mode.setToolTip("Blend the map over a grayscale copy of the image, or show the image beside the map")
        self.sign = QComboBox()
        self.sign.addItem("Signed", True)
        self.sign.addItem("Absolute", False)
        self.sign.setToolTip("Signed: red = positive, blue = negative (Circuits colours); absolute: |value| in magma")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setMaximumWidth(120)
        self.opacity.setToolTip("Opacity of the heat map over the image")
        self.clip = QDoubleSpinBox()
        self.clip.setRange(50.0, 100.0)
        self.clip.setDecimals(1)
        self.clip.setSingleStep(0.5)
        self.clip.setValue(99.5)
        self.clip.setSuffix(" %")
        self.clip.setToolTip("Outlier clipping: values beyond this percentile of |map| saturate the colours")
        controls = FlowLayout()
        for label, widget in (("", self.mode), ("", self.sign), ("Opacity", self.opacity), ("Clip at", self.clip)):
            controls.addWidget(labelled(label, widget) if label else widget)

        self.image_view = ArrayView(colorbar=False)
        self.map_view = ArrayView()
        for view in (self.image_view, self.map_view):
            view.sigHover.connect(self.sigHover)
        views = QHBoxLayout()
        views.setContentsMargins(0, 0, 0, 0)
        views.addWidget(self.image_view)
        views.addWidget(self.map_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(views, 1)

        self.image: np.ndarray | None = None
        self.heat: np.ndarray | None = None
        self.mode.currentIndexChanged.connect(self._changed)
        self.sign.currentIndexChanged.connect(self._changed)
        self.opacity.valueChanged.connect(self._changed)
        self.clip.valueChanged.connect(self._changed)
        self._apply_mode()

    def set_data(self, image: np.ndarray, heat: np.ndarray) -> None:
        """``image`` [H, W, 3] in [0, 1]; ``heat`` [H, W] (or [H, W, C], summed) of any size."""
        heat = np.asarray(heat, dtype=np.float32)
        self.image = np.asarray(image, dtype=np.float32)
        self.heat = heat.sum(axis=2) if heat.ndim == 3 else heat
        self._render()

    def set_image(self, image: np.ndarray) -> None:
        """Show an image with no map (the map is cleared)."""
        self.image, self.heat = np.asarray(image, dtype=np.float32), None
        self._render()

    def clear(self) -> None:
        self.image = self.heat = None
        self.image_view.item.clear()
        self.map_view.item.clear()

    def settings(self) -> dict:
        """Keyword arguments for ``overlay_figure``: signed, opacity, clip_percentile, mode."""
        return {"signed": bool(self.sign.currentData()), "opacity": self.opacity.value() / 100,
                "clip_percentile": self.clip.value(), "mode": self.mode.currentData()}

    def _changed(self) -> None:
        self._apply_mode()
        self._render()
        self.sigSettingsChanged.emit()

    def _apply_mode(self) -> None:
        self.image_view.setVisible(self.mode.currentData() == "side_by_side" or self.heat is None)

    def _render(self) -> None:
        self._apply_mode()
        if self.image is None:
            return
        settings = self.settings()
        if self.heat is None:
            self.image_view.set_image(self.image)
            self.map_view.set_image(self.image)
            return
        shown = self.heat if settings["signed"] else np.abs(self.heat)
        limit = clip_limit(shown, settings["clip_percentile"])
        self.image_view.set_image(self.image)
        if settings["mode"] == "overlay":
            blended = heat_overlay(self.image[..., :3], shown, signed=settings["signed"],
                                   opacity=settings["opacity"], clip_percentile=settings["clip_percentile"])
            self.map_view.set_image(blended)
            self.map_view.values = shown if shown.shape == blended.shape[:2] else None
            self._show_colorbar(limit, settings["signed"])
        else:
            clipped = np.clip(shown, -limit, limit)
            self.map_view.set_values(clipped, signed=settings["signed"], limit=limit)
            if not settings["signed"]:
                self.map_view.item.setLevels((0.0, limit))
                self._show_colorbar(limit, False)

    def _show_colorbar(self, limit: float, signed: bool) -> None:
        self.map_view.show_colorbar(diverging_colormap() if signed else pg.colormap.get("magma"),
                                    (-limit, limit) if signed else (0.0, limit))
