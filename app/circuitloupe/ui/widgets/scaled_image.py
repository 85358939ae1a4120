"""ScaledImage: a QLabel whose picture follows the label's size (aspect kept), so an image never
sets a pane's minimum size."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy


class ScaledImage(QLabel):
    """Shows a pixmap scaled smoothly to fit (never above ``largest`` px), or text; its minimum
    size is ``smallest`` px square whatever the picture."""

    def __init__(self, text: str = "", smallest: int = 48, largest: int = 360) -> None:
        super().__init__(text)
        self._source = QPixmap()
        self._smallest, self._largest = smallest, largest
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def setPixmap(self, pixmap: QPixmap) -> None:  # noqa: N802 (Qt API)
        self._source = pixmap
        self._fit()

    def clear(self) -> None:
        self._source = QPixmap()
        super().clear()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self._smallest, self._smallest)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self._largest, self._largest) if not self._source.isNull() else super().sizeHint()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self._source.isNull():
            return
        side = max(1, min(self.width(), self.height(), self._largest))
        super().setPixmap(self._source.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))
