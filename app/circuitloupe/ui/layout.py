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
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabBar

LEFT, RIGHT, BOTTOM = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                       Qt.DockWidgetArea.BottomDockWidgetArea)
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
