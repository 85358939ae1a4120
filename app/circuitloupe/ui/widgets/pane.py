"""Pane: the base of every dock pane.

A pane takes the inference service and the app state, reacts to state signals through
``_on_*`` handlers, runs work through :meth:`run_job`, and renders its figure for export with
:meth:`figure` (the same core function the CLI uses).
"""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar

from PIL import Image
from PySide6.QtWidgets import QWidget

from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.panes import ENTRIES
from circuitloupe.ui.state import AppState


PaneType = TypeVar("PaneType", bound=type)


def dock_pane(name: str) -> Callable[[PaneType], PaneType]:
    """Class decorator: the pane ``name`` of :data:`circuitloupe.ui.panes.PANES`, whose entry gives
    its title (dock and View menu) and shortcut (shows, raises and focuses it)."""
    entry = ENTRIES[name]

    def name_pane(cls: PaneType) -> PaneType:
        cls.object_name, cls.title, cls.shortcut = entry.name, entry.title, entry.shortcut
        return cls
    return name_pane


class Pane(QWidget):
    """Subclasses are named with :func:`dock_pane` and implement :meth:`figure`."""

    title = "Pane"
    object_name = "pane"
    shortcut: str | None = None

    def __init__(self, service: InferenceService, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.state = state
        self.setObjectName(self.object_name)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt API)
        # A word-wrapped label makes the layout height-for-width, and the dock's scroll area then
        # sizes the pane to its preferred height (every plot at full size) instead of the dock's
        # height, scrolling the buttons below out of sight. The minimum size still applies.
        return -1

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        """The pane's current figure as an image, or None when there is nothing to export."""
        return None

    def export_name(self) -> str:
        """A file name (no suffix) for the exported figure: model, unit and pane, e.g.
        ``inceptionv1_mixed3b-379_tuning``."""
        parts = [self.state.model.spec if self.state.model is not None else None,
                 str(self.state.unit) if self.state.unit is not None else None, self.object_name]
        name = "_".join(part for part in parts if part)
        return re.sub(r"[^\w.-]+", "-", name)

    def cli_command(self) -> str | None:
        """The ``circuitloupe ...`` command that reproduces the current figure, if any."""
        return None

    def key_help(self) -> list[tuple[str, str]]:
        """Keys this pane handles itself (e.g. in keyPressEvent) as (keys, what they do), for F1."""
        return []

    def project_state(self) -> dict[str, Any]:
        """JSON-ready settings to keep in a project file (File > Save project)."""
        return {}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        """Apply settings saved by :meth:`project_state` (unknown keys must be ignored)."""

    def run_job(self, fn: Callable, *args: Any, name: str | None = None, priority: str = "user",
                on_done: Callable[[Any], None] | None = None, connect: Callable[[Job], None] | None = None,
                **kwargs: Any) -> Job:
        """Submit ``fn(ctx, *args, **kwargs)``; failures go to the status bar and log.

        ``on_done(result)`` follows success; ``connect(job)`` may hook up any other signals (the
        service starts a job only on the next event-loop turn, so nothing is missed). ``priority`` is
        "user" (someone waits for it) or "background" (paused for user jobs; see InferenceService).
        """
        job = self.service.submit(fn, *args, name=name, priority=priority, **kwargs)
        if on_done is not None:
            job.sigFinished.connect(on_done)
        if connect is not None:
            connect(job)
        job.sigFailed.connect(self.state.message)
        return job
