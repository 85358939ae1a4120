"""The keyboard shortcut sheet (Help > Keyboard shortcuts, F1).

Lists every shortcut the window knows: each QAction with a shortcut (grouped by the menu or
pane it belongs to), each QShortcut a pane created, and the keys a pane handles itself and
declares through :meth:`Pane.key_help`. Nothing is typed in by hand, so the sheet cannot drift
from the real bindings.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QHeaderView, QLabel, QLineEdit, QMainWindow, QMenu, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from circuitloupe.ui.widgets.pane import Pane


@dataclass(frozen=True)
class Binding:
    """One row of the sheet: where it applies, what it does, and its key sequence(s)."""

    group: str
    description: str
    keys: str


def _native(sequence: QKeySequence) -> str:
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def _owner_pane(obj) -> Pane | None:
    widget = obj if isinstance(obj, QWidget) else obj.parent()
    while widget is not None and not isinstance(widget, Pane):
        widget = widget.parent() if not isinstance(widget, QWidget) else widget.parentWidget()
    return widget


def _menu_path(action: QAction) -> str | None:
    for owner in action.associatedObjects():
        if isinstance(owner, QMenu) and owner.title():
            parts, menu = [], owner
            while isinstance(menu, QMenu):
                parts.append(menu.title().replace("&", ""))
                parent_action = menu.menuAction()
                menus = [o for o in parent_action.associatedObjects() if isinstance(o, QMenu) and o.title()]
                menu = menus[0] if menus else None
            return " > ".join(reversed(parts))
    return None


def collect_bindings(window: QMainWindow) -> list[Binding]:
    """Every shortcut reachable in ``window``, sorted by group then description."""
    rows: list[Binding] = []
    seen: set[int] = set()
    for action in window.findChildren(QAction):
        keys = [k for k in action.shortcuts() if not k.isEmpty()]
        if not keys or id(action) in seen:
            continue
        seen.add(id(action))
        pane = _owner_pane(action)
        group = _menu_path(action) or (pane.title if pane is not None else "Window")
        text = action.text().replace("&", "")
        rows.append(Binding(group, text, ", ".join(_native(k) for k in keys)))
    for shortcut in window.findChildren(QShortcut):
        if shortcut.key().isEmpty():
            continue
        pane = _owner_pane(shortcut)
        description = shortcut.whatsThis() or shortcut.objectName() or "(no description)"
        rows.append(Binding(pane.title if pane is not None else "Window", description,
                            ", ".join(_native(k) for k in shortcut.keys())))
    for pane in window.findChildren(Pane):
        for keys, description in pane.key_help():
            rows.append(Binding(pane.title, description, keys))
    return sorted(rows, key=lambda b: (b.group.lower(), b.description.lower()))


def ambiguous_shortcuts(window: QMainWindow) -> dict[str, list[str]]:
    """Key sequences bound to more than one window-wide action (Qt would fire none of them)."""
    owners: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        if action.shortcutContext() not in (Qt.ShortcutContext.WindowShortcut,
                                            Qt.ShortcutContext.ApplicationShortcut):
            continue
        for key in action.shortcuts():
            if not key.isEmpty():
                owners.setdefault(key.toString(), []).append(action.text().replace("&", ""))
    return {key: names for key, names in owners.items() if len(names) > 1}


class ShortcutSheet(QDialog):
    """A non-modal, filterable table of every shortcut of the main window."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setObjectName("shortcut_sheet")
        self.setWindowTitle("Keyboard shortcuts")
        self.setModal(False)
        self.resize(560, 620)
        self.main_window = window
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter…")
        self.filter.setToolTip("Show only shortcuts whose action, keys or group contain this text")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Action", "Shortcut"])
        self.tree.setToolTip("Every keyboard shortcut, by menu and pane")
        self.tree.setRootIsDecorated(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree, 1)
        layout.addWidget(QLabel("Press F1 in the main window to open this sheet again."))
        self.refresh()

    def refresh(self) -> None:
        """Re-read the bindings (panes may add actions after a model loads)."""
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for binding in collect_bindings(self.main_window):
            parent = groups.get(binding.group)
            if parent is None:
                parent = QTreeWidgetItem(self.tree, [binding.group])
                font = parent.font(0)
                font.setBold(True)
                parent.setFont(0, font)
                groups[binding.group] = parent
            QTreeWidgetItem(parent, [binding.description, binding.keys])
        self.tree.expandAll()
        self._apply_filter(self.filter.text())

    def rows(self) -> list[tuple[str, str, str]]:
        """The visible rows as (group, action, keys), for tests and copying."""
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for i in range(group.childCount()):
                child = group.child(i)
                if not child.isHidden():
                    out.append((group.text(0), child.text(0), child.text(1)))
        return out

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            visible = 0
            for i in range(group.childCount()):
                child = group.child(i)
                hit = not needle or any(needle in s.lower() for s in (group.text(0), child.text(0), child.text(1)))
                child.setHidden(not hit)
                visible += hit
            group.setHidden(visible == 0)
