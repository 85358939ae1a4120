"""At 1366x768 every pane, raised in turn, shows each of its buttons whole (nothing cut off)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QAbstractButton, QApplication, QWidget

from circuitloupe.ui.main_window import MainWindow
from circuitloupe.ui.panes import pane_classes

PANES = [pytest.param(cls.object_name, marks=pytest.mark.xfail(reason="labeling pane: fixed on the labeling branch"))
         if cls.object_name == "labeling" else cls.object_name for cls in pane_classes()]


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


@pytest.fixture(scope="module")
def small_window(qapp, inception):
    from circuitloupe.service import InferenceService

    service = InferenceService("cpu")
    service.model = inception
    window = MainWindow(service)
    window.resize(1366, 768)
    window.show()
    service.sigModelChanged.emit(inception)
    QApplication.processEvents()
    yield window
    window.close()
    service.shutdown()


@pytest.mark.parametrize("name", PANES)
def test_every_button_wholly_visible_at_1366x768(qtbot, small_window, name):
    small_window.show_pane(name)
    qtbot.wait(50)
    assert small_window.width() <= 1366 and small_window.height() <= 768
    assert clipped_buttons(small_window.panes[name]) == []
