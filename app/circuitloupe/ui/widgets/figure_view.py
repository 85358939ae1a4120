"""FigureView: a core figure (PIL image) shown as it will export, with hover and click hit-tests.

The pane renders the same figure the CLI writes, sets it here, and supplies ``describe(x, y)``
(text for the hover tooltip, in figure pixels) and optionally ``sigClicked`` handling, so the
numbers behind a heatmap cell are one hover away.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QToolTip

from circuitloupe.ui.widgets.unit_grid import array_to_pixmap


class _Canvas(QLabel):
    sigMoved = Signal(QPoint)
    sigPressed = Signal(QPoint)

    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.sigMoved.emit(event.position().toPoint())
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton:
            self.sigPressed.emit(event.position().toPoint())
        super().mousePressEvent(event)


class FigureView(QScrollArea):
    """Scrollable figure. ``sigHover(x, y)`` and ``sigClicked(x, y)`` are in figure pixels."""

    sigHover = Signal(int, int)
    sigClicked = Signal(int, int)

    def __init__(self, empty_text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.canvas = _Canvas()
        self.empty_text = empty_text
        self.canvas.setText(empty_text)
        self.canvas.setWordWrap(True)
        self.setWidget(self.canvas)
        self.setWidgetResizable(True)
        self.image: Image.Image | None = None
        self.describe: Callable[[int, int], str | None] = lambda x, y: None
        self.last_hover_text: str | None = None
        self.canvas.sigMoved.connect(self._on_moved)
        self.canvas.sigPressed.connect(lambda p: self.sigClicked.emit(p.x(), p.y()))

    def set_image(self, image: Image.Image | None, empty_text: str | None = None) -> None:
        """Show ``image``; None clears the view and shows ``empty_text`` (default: the initial hint)."""
        self.image = image
        if image is None:
            self.canvas.setPixmap(array_to_pixmap(np.full((1, 1, 3), 255, np.uint8)))
            self.canvas.setText(self.empty_text if empty_text is None else empty_text)
            return
        self.canvas.setPixmap(array_to_pixmap(np.asarray(image.convert("RGB"))))

    def hover_text(self, x: int, y: int) -> str | None:
        """What hovering at figure pixel (x, y) shows (also used by tests)."""
        return self.describe(x, y) if self.image is not None else None

    def _on_moved(self, point: QPoint) -> None:
        self.sigHover.emit(point.x(), point.y())
        text = self.hover_text(point.x(), point.y())
        self.last_hover_text = text
        if text:
            QToolTip.showText(self.canvas.mapToGlobal(point), text, self.canvas)
        else:
            QToolTip.hideText()
