"""ArrayView: an image or a heat map with a colour bar and the value under the cursor."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from circuitloupe.core.figures import DIVERGING_STOPS


def diverging_colormap() -> pg.ColorMap:
    """The Circuits red/white/blue map as a pyqtgraph ColorMap."""
    return pg.ColorMap(np.linspace(0, 1, len(DIVERGING_STOPS)), list(DIVERGING_STOPS))


class ArrayView(pg.GraphicsLayoutWidget):
    """Shows [H, W, 3] images as they are and [H, W] arrays through a colour map.

    ``sigHover`` gives (row, column, value) under the mouse for heat maps.
    """

    sigHover = Signal(int, int, float)

    def __init__(self, parent=None, colorbar: bool = True) -> None:
        super().__init__(parent)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self.values: np.ndarray | None = None
        self.has_colorbar = colorbar
        self.colorbar: pg.ColorBarItem | None = None  # made when first shown (a plot each: slow to build)
        self.item.hoverEvent = self._hover

    def set_image(self, rgb: np.ndarray) -> None:
        """[H, W, 3] floats in [0, 1]."""
        self.values = None
        self.item.setLookupTable(None)
        self.item.setImage(np.clip(rgb, 0, 1), levels=(0, 1))
        if self.colorbar is not None:
            self.colorbar.setVisible(False)
        self.view.autoRange(padding=0)

    def set_values(self, values: np.ndarray, signed: bool = False, limit: float | None = None) -> None:
        """A heat map of [H, W] values: red/blue about zero when ``signed``, else magma."""
        self.values = np.asarray(values, dtype=np.float32)
        if signed:
            lim = limit or float(np.abs(self.values).max()) or 1.0
            levels, cmap = (-lim, lim), diverging_colormap()
        else:
            lo, hi = float(self.values.min()), float(self.values.max())
            levels, cmap = (lo, hi if hi > lo else lo + 1), pg.colormap.get("magma")
        self.item.setImage(self.values, levels=levels)
        self.item.setColorMap(cmap)
        self.show_colorbar(cmap, levels)
        self.view.autoRange(padding=0)

    def show_colorbar(self, cmap: pg.ColorMap, levels: tuple[float, float]) -> None:
        """The colour bar beside the image, for ``cmap`` over ``levels`` (if this view has one)."""
        if not self.has_colorbar:
            return
        if self.colorbar is None:
            self.colorbar = pg.ColorBarItem(interactive=False, width=12)
            self.addItem(self.colorbar)
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels(levels)
        self.colorbar.setVisible(True)

    def clear_image(self) -> None:
        """Show nothing (no image, no colour bar)."""
        self.values = None
        self.item.clear()
        if self.colorbar is not None:
            self.colorbar.setVisible(False)

    def _hover(self, event) -> None:
        if event.isExit() or self.values is None:
            return
        pos = event.pos()
        row, col = int(pos.y()), int(pos.x())
        if 0 <= row < self.values.shape[0] and 0 <= col < self.values.shape[1]:
            value = float(self.values[row, col])
            self.item.setToolTip(f"({row}, {col}) = {value:.4g}")
            self.sigHover.emit(row, col, value)
