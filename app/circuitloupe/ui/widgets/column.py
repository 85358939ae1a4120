"""The layout most panes use: controls, progress, one stretching view and info, top to bottom."""

from __future__ import annotations

from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget


def column_layout(widget: QWidget, *items: QWidget | QLayout, stretch: QWidget | None = None) -> QVBoxLayout:
    """Lay ``items`` (widgets or layouts) out top to bottom on ``widget`` with 2 px margins;
    ``stretch`` (one of them) takes the spare height."""
    column = QVBoxLayout(widget)
    column.setContentsMargins(2, 2, 2, 2)
    for item in items:
        if isinstance(item, QLayout):
            column.addLayout(item)
        else:
            column.addWidget(item, 1 if item is stretch else 0)
    return column
