"""A dock title bar with the pane's own "Export PNG…" and "Copy as CLI command" buttons.

Every pane gets the same bar, so both actions are one click away on each pane (and in the bar's
right-click menu), not only through the File menu's shortcuts for the focused pane. Dragging
and double-clicking the title still move and float the dock as usual.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QHBoxLayout, QLabel, QMenu, QStyle, QToolButton, QWidget

from circuitloupe.ui.panes import PaneEntry


class PaneTitleBar(QWidget):
    """Title, Export PNG…, Copy as CLI command, float and close buttons for one dock."""

    def __init__(self, dock: QDockWidget, pane: PaneEntry, export: Callable[[], None],
                 copy_cli: Callable[[], None]) -> None:
        super().__init__(dock)
        self.dock, self.name = dock, pane.name
        self.setObjectName(f"title_{pane.name}")
        style = self.style()
        self.label = QLabel(pane.title)
        self.label.setToolTip(f"{pane.title}: drag to move, double-click to float or dock")
        self.export_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton),
                                     "Export PNG…", self)
        self.export_action.setToolTip(f"Export the {pane.title} figure to PNG at a chosen scale")
        self.export_action.triggered.connect(export)
        self.cli_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView),
                                  "Copy as CLI command", self)
        self.cli_action.setToolTip(f"Copy the circuitloupe command that reproduces the {pane.title} result")
        self.cli_action.triggered.connect(copy_cli)
        self.float_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarNormalButton),
                                    "Float", self)
        self.float_action.setToolTip("Detach this pane into its own window, or dock it again")
        self.float_action.triggered.connect(lambda: dock.setFloating(not dock.isFloating()))
        self.close_action = QAction(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton),
                                    "Close", self)
        self.close_action.setToolTip(f"Hide {pane.title} (View menu or {pane.shortcut or 'the View menu'} "
                                     "brings it back)")
        self.close_action.triggered.connect(dock.close)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 2, 1)
        layout.setSpacing(1)
        layout.addWidget(self.label, 1)
        self.buttons: list[QToolButton] = []
        for action in (self.export_action, self.cli_action, self.float_action, self.close_action):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setIconSize(QSize(14, 14))
            button.setObjectName(f"title_{pane.name}_{action.text().split()[0].lower()}")
            layout.addWidget(button)
            self.buttons.append(button)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def _menu(self, position) -> None:
        menu = QMenu(self)
        menu.addActions([self.export_action, self.cli_action])
        menu.addSeparator()
        menu.addActions([self.float_action, self.close_action])
        menu.exec(self.mapToGlobal(position))
