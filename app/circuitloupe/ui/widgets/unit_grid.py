"""UnitGrid: a virtualised grid of unit thumbnails (QListView + model + delegate).

Only visible tiles are painted, so a layer of 832 units costs what one screen costs. The model
asks for missing thumbnails as tiles become visible (``sigThumbnailsWanted``, batched); whoever
owns the grid renders them in the background and hands them back with
:meth:`UnitGridModel.set_thumbnails`, and the stand-in tiles fill in. Favourites show a star,
annotated units a dot. Arrows move, Enter activates, F toggles the favourite.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

import numpy as np
from PySide6.QtCore import (QAbstractListModel, QModelIndex, QRect, QSize, QSortFilterProxyModel, Qt, QTimer,
                            Signal)
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from circuitloupe.core.units import UnitRef

UNIT_ROLE = Qt.ItemDataRole.UserRole + 1
FAVOURITE_ROLE = Qt.ItemDataRole.UserRole + 2
ANNOTATED_ROLE = Qt.ItemDataRole.UserRole + 3
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 4


def array_to_pixmap(image: np.ndarray) -> QPixmap:
    """[H, W, 3] floats in [0, 1] (or uint8) -> QPixmap (copied, safe to keep)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    array = np.ascontiguousarray(array[..., :3])
    h, w = array.shape[:2]
    return QPixmap.fromImage(QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class UnitGridModel(QAbstractListModel):
    """Units with optional thumbnails, favourite and annotation marks."""

    sigThumbnailsWanted = Signal(list)  # [UnitRef], visible units without a thumbnail, batched

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.units: list[UnitRef] = []
        self._rows: dict[UnitRef, int] = {}
        self.thumbnails: dict[UnitRef, QPixmap] = {}
        self.arrays: dict[UnitRef, np.ndarray] = {}  # the same thumbnails as [H, W, 3] arrays, for export
        self.favourites: set[UnitRef] = set()
        self.annotated: set[UnitRef] = set()
        self.search_text: Callable[[UnitRef], str] = lambda unit: ""
        self.show_layer = False
        self._requested: set[UnitRef] = set()
        self._wanted: list[UnitRef] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self._emit_wanted)

    def set_units(self, units: Sequence[UnitRef], show_layer: bool = False) -> None:
        self.beginResetModel()
        self.units = list(units)
        self._rows = {unit: row for row, unit in enumerate(self.units)}
        self.show_layer = show_layer
        self._wanted = []
        self.endResetModel()

    def set_thumbnails(self, images: dict[UnitRef, np.ndarray]) -> None:
        """Hand over rendered thumbnails ([H, W, 3]); their tiles repaint."""
        for unit, image in images.items():
            self.arrays[unit] = np.asarray(image)
            self.thumbnails[unit] = array_to_pixmap(image)
            self._changed(unit)

    def clear_thumbnails(self) -> None:
        """Forget every thumbnail. Only the tiles' images change, never the rows: a bare
        ``layoutChanged`` would leave the view's current index dangling (SIGSEGV on the next
        ``setCurrentIndex``)."""
        self.thumbnails.clear()
        self.arrays.clear()
        self._requested.clear()
        self._changed_all(Qt.ItemDataRole.DecorationRole)

    def forget_requests(self, units: Iterable[UnitRef] | None = None) -> None:
        """Let units without thumbnails be asked for again (after a cancelled or failed render)."""
        if units is None:
            self._requested.clear()
        else:
            self._requested.difference_update(units)

    def set_marks(self, favourites: Iterable[UnitRef], annotated: Iterable[UnitRef]) -> None:
        self.favourites, self.annotated = set(favourites), set(annotated)
        self._changed_all()  # every role: the filter may depend on the favourite mark

    def _changed_all(self, *roles: int) -> None:
        if self.units:
            self.dataChanged.emit(self.index(0), self.index(len(self.units) - 1), list(roles))

    def unit_at(self, row: int) -> UnitRef:
        return self.units[row]

    def row_of(self, unit: UnitRef) -> int | None:
        return self._rows.get(unit)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt API)
        return 0 if parent.isValid() else len(self.units)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        unit = self.units[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(unit) if self.show_layer else str(unit.channel)
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self.thumbnails.get(unit)
            if pixmap is None and unit not in self._requested:
                self._requested.add(unit)
                self._wanted.append(unit)
                self._timer.start()
            return pixmap
        if role == UNIT_ROLE:
            return unit
        if role == FAVOURITE_ROLE:
            return unit in self.favourites
        if role == ANNOTATED_ROLE:
            return unit in self.annotated
        if role == SEARCH_ROLE:
            return f"{unit} {self.search_text(unit)}".lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            extra = self.search_text(unit)
            return f"{unit}" + (f"\n{extra}" if extra.strip() else "") + "\nEnter: open in every pane · F: favourite"
        return None

    def _changed(self, unit: UnitRef) -> None:
        row = self._rows.get(unit)
        if row is not None:
            self.dataChanged.emit(self.index(row), self.index(row))

    def _emit_wanted(self) -> None:
        wanted, self._wanted = self._wanted, []
        if wanted:
            self.sigThumbnailsWanted.emit(wanted)


class UnitFilter(QSortFilterProxyModel):
    """Filters by channel ids (``379``, ``300-310``, ``5,9,12``) or by text in the unit's
    name, notes and tags; ``only_favourites`` keeps starred units."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._channels: set[int] | None = None
        self._text = ""
        self.only_favourites = False

    def set_query(self, query: str) -> None:
        self.beginFilterChange()
        self._channels, self._text = _parse_query(query)
        self.endFilterChange()

    def set_only_favourites(self, only: bool) -> None:
        self.beginFilterChange()
        self.only_favourites = only
        self.endFilterChange()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802 (Qt API)
        index = self.sourceModel().index(row, 0, parent)
        unit: UnitRef = index.data(UNIT_ROLE)
        if self.only_favourites and not index.data(FAVOURITE_ROLE):
            return False
        if self._channels is not None:
            return unit.channel in self._channels
        return not self._text or self._text in index.data(SEARCH_ROLE)


def _parse_query(query: str) -> tuple[set[int] | None, str]:
    """``'3, 10-12'`` -> ({3, 10, 11, 12}, ''); any other text -> (None, lowered text)."""
    text = query.strip()
    if text and re.fullmatch(r"[\d\s,\-]+", text):
        channels: set[int] = set()
        for token in re.split(r"[\s,]+", text):
            if re.fullmatch(r"\d+-\d+", token):
                lo, hi = (int(n) for n in token.split("-"))
                channels.update(range(min(lo, hi), max(lo, hi) + 1))
            elif token.isdigit():
                channels.add(int(token))
        return channels, ""
    return None, text.lower()


class UnitTileDelegate(QStyledItemDelegate):
    """Paints a thumbnail (or a grey stand-in), the unit id, a star and a note dot."""

    def __init__(self, tile: int = 72, parent=None) -> None:
        super().__init__(parent)
        self.tile = tile

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.tile + 8, self.tile + 22)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        if selected:
            painter.fillRect(rect, palette.highlight())
        image_rect = QRect(rect.x() + 4, rect.y() + 4, self.tile, self.tile)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if pixmap is not None:
            painter.drawPixmap(image_rect, pixmap)
        else:
            painter.fillRect(image_rect, QColor(222, 222, 222))
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(image_rect, Qt.AlignmentFlag.AlignCenter, "…")
        if index.data(FAVOURITE_ROLE):
            painter.setPen(QColor(230, 160, 0))
            painter.drawText(QRect(image_rect.right() - 16, image_rect.top(), 16, 16),
                             Qt.AlignmentFlag.AlignCenter, "★")
        if index.data(ANNOTATED_ROLE):
            painter.setBrush(QColor(40, 120, 220))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(image_rect.left() + 3, image_rect.top() + 3, 7, 7)
        painter.setPen(QPen(palette.highlightedText().color() if selected else palette.text().color()))
        label_rect = QRect(rect.x(), image_rect.bottom() + 2, rect.width(), 16)
        text = painter.fontMetrics().elidedText(index.data(Qt.ItemDataRole.DisplayRole), Qt.TextElideMode.ElideLeft,
                                                label_rect.width())
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class UnitGrid(QListView):
    """The grid view. ``sigCurrentUnit`` follows the selection; ``sigActivated`` is Enter or a
    double click; ``sigToggleFavourite`` is the F key."""

    sigCurrentUnit = Signal(object)  # UnitRef
    sigActivated = Signal(object)  # UnitRef
    sigToggleFavourite = Signal(object)  # UnitRef

    def __init__(self, tile: int = 72, parent=None) -> None:
        super().__init__(parent)
        self.units = UnitGridModel(self)
        self.proxy = UnitFilter(self)
        self.proxy.setSourceModel(self.units)
        self.delegate = UnitTileDelegate(tile, self)
        self.setModel(self.proxy)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setSpacing(2)
        self.setWrapping(True)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.selectionModel().currentChanged.connect(self._on_current)
        self.doubleClicked.connect(lambda index: self.sigActivated.emit(index.data(UNIT_ROLE)))

    def set_tile_size(self, tile: int) -> None:
        self.delegate.tile = tile
        self.scheduleDelayedItemsLayout()

    def current_unit(self) -> UnitRef | None:
        index = self.currentIndex()
        return index.data(UNIT_ROLE) if index.isValid() else None

    def select_unit(self, unit: UnitRef) -> bool:
        """Make ``unit`` current (without emitting ``sigCurrentUnit``); False if it is not shown."""
        row = self.units.row_of(unit)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.units.index(row))
        if not index.isValid():
            return False
        self.selectionModel().blockSignals(True)
        self.setCurrentIndex(index)
        self.selectionModel().blockSignals(False)
        self.viewport().update()
        self.scrollTo(index)
        return True

    def visible_units(self) -> list[UnitRef]:
        """Units whose tiles are on screen now."""
        area = self.viewport().rect()
        found = []
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if self.visualRect(index).intersects(area):
                found.append(index.data(UNIT_ROLE))
        return found

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        unit = self.current_unit()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and unit is not None:
            self.sigActivated.emit(unit)
            return
        if event.key() == Qt.Key.Key_F and not event.modifiers() and unit is not None:
            self.sigToggleFavourite.emit(unit)
            return
        super().keyPressEvent(event)

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.sigCurrentUnit.emit(current.data(UNIT_ROLE))
