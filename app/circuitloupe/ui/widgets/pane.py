"""Pane: the base of every dock pane.

A pane takes the inference service and the app state, reacts to state signals through
``_on_*`` handlers, runs work through :meth:`run_job`, and renders its figure for export with
:meth:`figure` (the same core function the CLI uses).
"""

from __future__ import annotations

from typing import Any, Callable

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.state import AppState


class Pane(QWidget):
    """Subclasses set ``title``, ``object_name`` and ``area`` and implement :meth:`figure`."""

    title = "Pane"
    object_name = "pane"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut: str | None = None  # e.g. "Ctrl+2": shows and focuses the pane

    def __init__(self, service: InferenceService, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.state = state
        self.setObjectName(self.object_name)

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        """The pane's current figure as an image, or None when there is nothing to export."""
        return None

    def cli_command(self) -> str | None:
        """The ``circuitloupe ...`` command that reproduces the current figure, if any."""
        return None

    def run_job(self, fn: Callable, *args: Any, name: str | None = None, interactive: bool = False,
                on_done: Callable[[Any], None] | None = None, **kwargs: Any) -> Job:
        """Submit ``fn(ctx, *args, **kwargs)``; failures go to the status bar and log."""
        job = self.service.submit(fn, *args, name=name, interactive=interactive, **kwargs)
        if on_done is not None:
            job.sigFinished.connect(on_done)
        job.sigFailed.connect(self.state.message)
        return job
