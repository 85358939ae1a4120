"""The main window's default dock arrangement, designed for 1366x768 and 1920x1080.

Columns of tabbed docks, each pane tall enough to use (no pane opens as a 60 px strip):

* 1366x768 and smaller: a left column (Browser, Activations, Dataset, and the Experiments, Compare
  and Edits panes) and a right column with the analysis panes; Log and Notes in a short strip
  under the left column.
* The same at 1920x1080, with more room in each column (the Feature visualisation and Labeling
  panes need about 930 and 600 px, so three columns only from 2300 px: a middle column with
  Feature visualisation, Weights, Attribution, Tuning and a right one with Labeling, Equivariance,
  Curve finder).

Tab titles are never elided ("W…", "At…"): a crowded tab bar scrolls instead. Panes missing from
the groups (a pane added later) join the widest column.

Also here: each pane in its dock, and the layout kept in the settings (between starts) and in
projects (base64 text).
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QTabBar, QWidget

from circuitloupe.ui.panes import PaneEntry
from circuitloupe.ui.widgets.pane import Pane

LEFT, RIGHT = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
WIDE = 2300  # window widths from here get three columns

# (area, panes tabbed together, share of the window width); the first pane of a group is raised
NARROW_GROUPS = (
    (LEFT, ("browser", "activations", "dataset", "experiments", "compare", "edits"), 0.40),
    (RIGHT, ("featurevis", "weights", "attribution", "tuning", "labeling", "equivariance", "curve_finder"), 0.60),
    (LEFT, ("log", "notes"), 0.40),
)
WIDE_GROUPS = (
    (LEFT, ("browser", "activations", "dataset", "experiments", "compare", "edits"), 0.30),
    (RIGHT, ("featurevis", "weights", "attribution", "tuning"), 0.40),
    (RIGHT, ("labeling", "equivariance", "curve_finder"), 0.30),
    (LEFT, ("log", "notes"), 0.30),
)
STRIP = ("log", "notes")  # the short strip under the left column
#: The raised tab of each group at a first start on a screen narrower than WIDE: built at once.
FIRST_SHOWN = tuple(names[0] for _, names, _ in NARROW_GROUPS)
STRIP_SHARE = 0.25


def fit_to_screen(window: QMainWindow) -> None:
    """A first window size that fits the screen: all of a small one, 90 % of a large one."""
    screen = window.screen() or window.windowHandle() and window.windowHandle().screen()
    if screen is None:
        return
    available = screen.availableGeometry()
    scale = 1.0 if available.width() <= 1440 else 0.9
    window.resize(int(available.width() * scale), int(available.height() * scale))
    window.move(available.center() - window.rect().center())


def arrange(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """Dock, tab and size every pane for the window's current width."""
    groups = [(area, [n for n in names if n in docks], share)
              for area, names, share in (WIDE_GROUPS if window.width() >= WIDE else NARROW_GROUPS)]
    placed = {name for _, names, _ in groups for name in names}
    columns = [g for g in groups if g[1] and not set(g[1]) <= set(STRIP)]
    if columns:
        max(columns, key=lambda g: g[2])[1].extend(n for n in docks if n not in placed)
    for dock in docks.values():  # start from nothing: a dock in a tab group cannot be split off
        window.removeDockWidget(dock)
        dock.setFloating(False)
    heads: list[tuple[QDockWidget, float]] = []  # the column heads, left to right
    strip = None
    for area, names, share in groups:  # the columns (and the strip) first, then the tabs
        if not names:
            continue
        head = docks[names[0]]
        if set(names) <= set(STRIP) and heads:
            window.splitDockWidget(heads[0][0], head, Qt.Orientation.Vertical)
            strip = head
        else:
            same_area = [d for d, _ in heads if window.dockWidgetArea(d) == area]
            if same_area:
                window.splitDockWidget(same_area[-1], head, Qt.Orientation.Horizontal)
            else:
                window.addDockWidget(area, head)
            heads.append((head, share))
        head.show()
    for _, names, _ in groups:
        for name in names[1:]:
            window.tabifyDockWidget(docks[names[0]], docks[name])
            docks[name].show()
        if names:
            docks[names[0]].raise_()
    width, height = window.width(), window.height()
    window.resizeDocks([d for d, _ in heads], [int(width * s) for _, s in heads], Qt.Orientation.Horizontal)
    if strip is not None:
        low = max(110, int(height * STRIP_SHARE))
        window.resizeDocks([heads[0][0], strip], [height - low, low], Qt.Orientation.Vertical)
    unelide_tabs(window)


def unelide_tabs(window: QMainWindow) -> None:
    """Whole tab titles on the dock tab bars; a bar too narrow for them scrolls."""
    for bar in window.findChildren(QTabBar):
        if bar.parentWidget() is window:
            bar.setElideMode(Qt.TextElideMode.ElideNone)
            bar.setUsesScrollButtons(True)
            bar.setExpanding(False)


def make_docks(window: QMainWindow, entries: Iterable[PaneEntry],
               title_bar: Callable[[QDockWidget, PaneEntry], QWidget]) -> dict[str, QDockWidget]:
    """A dock of ``window`` for each pane entry, by name, holding an empty scroll area until
    :func:`place_pane` puts the pane in; all tabbed together until :func:`arrange` or a restored
    layout places them (docks stacked side by side would force the window larger)."""
    docks: dict[str, QDockWidget] = {}
    for entry in entries:
        dock = QDockWidget(entry.title, window)
        dock.setObjectName(f"dock_{entry.name}")
        dock.setWidget(_scroll_area(entry.name))
        dock.setTitleBarWidget(title_bar(dock, entry))
        window.addDockWidget(RIGHT, dock)
        if docks:
            window.tabifyDockWidget(next(iter(docks.values())), dock)
        docks[entry.name] = dock
    return docks


def place_pane(dock: QDockWidget, pane: Pane) -> None:
    """Put ``pane`` in its dock's scroll area."""
    area = dock.widget()
    assert isinstance(area, QScrollArea)
    area.setWidget(pane)


def _scroll_area(name: str) -> QScrollArea:
    """A frameless scroll area for a pane: a dock can shrink below the pane's minimum size (small
    screens, many docks side by side) and the pane scrolls instead of pushing the window wider."""
    area = QScrollArea()
    area.setObjectName(f"scroll_{name}")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def layout_text(window: QMainWindow) -> dict[str, str]:
    """The window's dock layout and geometry as base64 text (what a project stores)."""
    return {"layout": _b64(window.saveState()), "geometry": _b64(window.saveGeometry())}


def restore_layout_text(window: QMainWindow, layout: str | None, geometry: str | None) -> None:
    """Undo :func:`layout_text`; a missing part leaves the window's as it is."""
    if geometry:
        window.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
    if layout:
        window.restoreState(QByteArray.fromBase64(layout.encode("ascii")))


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64()).decode("ascii")


def save_layout(window: QMainWindow, stored: QSettings) -> None:
    """Keep the window's geometry and dock layout for the next start."""
    stored.setValue("geometry", window.saveGeometry())
    stored.setValue("window_state", window.saveState())


def restore_layout(window: QMainWindow, stored: QSettings) -> bool:
    """The geometry and dock layout of the last start; False when there is none (a first start)."""
    geometry, layout = stored.value("geometry"), stored.value("window_state")
    if geometry is not None:
        window.restoreGeometry(geometry)
    if layout is not None:
        window.restoreState(layout)
    return layout is not None
