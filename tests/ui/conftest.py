"""Fixtures shared by the pane tests."""

import pytest

from circuitloupe.service import InferenceService


@pytest.fixture
def service(inception):
    """An inference service already holding the session's InceptionV1 (seeded random weights)."""
    service = InferenceService("cpu")
    service.model = inception
    yield service
    service.shutdown()


@pytest.fixture
def window(qtbot):
    """The main window, shown, with its own inference service (no model yet)."""
    from circuitloupe.ui.main_window import MainWindow

    win = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
