"""A plot legend that stays readable over curves in the light and the dark theme."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor


class ThemedLegend(pg.LegendItem):
    """Draws its entries on a translucent patch of the current theme's plot background (pyqtgraph's
    default legend is transparent, so its labels sit on whatever curves pass beneath)."""

    def background(self) -> QColor:
        colour = QColor(pg.getConfigOption("background"))
        colour.setAlpha(210)
        return colour

    def paint(self, painter, *args) -> None:
        painter.setPen(pg.mkPen(pg.getConfigOption("foreground"), width=0.5))
        painter.setBrush(self.background())
        painter.drawRect(self.boundingRect())


def add_legend(plot: pg.PlotWidget, offset: tuple[int, int]) -> ThemedLegend:
    """``plot``'s legend (made on the first call), anchored ``offset`` px from a corner as in
    ``PlotItem.addLegend`` (negative x: from the right)."""
    item = plot.getPlotItem()
    if not isinstance(item.legend, ThemedLegend):
        item.legend = ThemedLegend(offset=offset)
        item.legend.setParentItem(item.vb)
    return item.legend
