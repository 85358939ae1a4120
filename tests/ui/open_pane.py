"""A pane on its own CPU inference service, shown at a test size, for the pane tests."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from circuitloupe.service import InferenceService
from circuitloupe.ui.state import AppState


@contextmanager
def open_pane(qtbot, pane_type, model, size: tuple[int, int] = (900, 650)) -> Iterator:
    """A shown ``pane_type`` whose state and service hold ``model``; the service stops afterwards."""
    service = InferenceService("cpu")
    service.model = model
    state = AppState()
    pane = pane_type(service, state)
    qtbot.addWidget(pane)
    pane.resize(*size)
    pane.show()
    state.set_model(model)
    try:
        yield pane
    finally:
        service.shutdown()
