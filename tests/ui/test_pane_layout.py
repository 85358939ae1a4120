"""At 1366x768 and 1920x1080 every pane, raised in turn, shows each of its buttons whole (nothing cut off)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QWidget

from circuitloupe.ui.main_window import MainWindow
from circuitloupe.ui.panes import PANES as ENTRIES

PANES = [entry.name for entry in ENTRIES]


def clipped_buttons(pane: QWidget) -> list[str]:
    """Visible buttons of ``pane`` whose rect is not wholly inside every ancestor up to the window."""
    window = pane.window()
    bad = []
    for button in pane.findChildren(QAbstractButton):
        if not button.isVisible():
            continue
        shown = QRect(button.rect())
        widget = button
        while widget is not window:
            shown = shown.translated(widget.pos())  # into the parent's coordinates
            widget = widget.parentWidget()
            shown = shown.intersected(widget.rect())
        full = QRect(button.mapTo(window, button.rect().topLeft()), button.size())
        if shown != full:
            bad.append(f"{button.text() or button.toolTip()[:30]!r} {full} shows {shown}")
    return bad


@pytest.fixture(scope="module", params=[(1366, 768), (1920, 1080)], ids=["1366x768", "1920x1080"])
def small_window(request, qapp, inception, tmp_path_factory):
    from circuitloupe.service import InferenceService

    # a module fixture starts before the per-test private data folder: give the window its own,
    # so that it opens with the first-start layout, not one saved by an earlier run of the app
    patch = pytest.MonkeyPatch()
    patch.setenv("CIRCUITLOUPE_DATA_DIR", str(tmp_path_factory.mktemp("layout-data")))
    service = InferenceService("cpu")
    service.model = inception
    window = MainWindow(service)
    window.resize(*request.param)
    window.show()
    QTest.qWaitForWindowExposed(window)
    service.sigModelChanged.emit(inception)
    QTest.qWait(500)  # the first-start dock sizes and the panes' layouts settle
    yield window
    service.shutdown()
    window.close()
    patch.undo()


@pytest.mark.parametrize("name", PANES)
def test_every_button_wholly_visible(qtbot, small_window, name):
    small_window.show_pane(name)
    qtbot.wait(50)
    width, height = small_window.size().toTuple()
    assert (width, height) in ((1366, 768), (1920, 1080))  # no pane forces the window larger
    assert clipped_buttons(small_window.panes[name]) == []
