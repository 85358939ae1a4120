"""Driving a running window from a script: documentation screenshots, figure recipes, checks.

``circuitloupe --screenshot PATH`` waits until the window is idle (model loaded, no job
running) for ``--screenshot-delay`` seconds, saves a PNG of the window and quits.
``circuitloupe --script FILE.py`` runs a Python file inside the app once the window is up; the
file sees :class:`ScriptApi` as ``loupe`` (plus ``window``, ``state`` and ``service``) and can
pick units, press buttons, wait for jobs and take screenshots. An exception in the script is
printed with its traceback and the app exits with status 1, so scripts work as real-window tests.
"""

from __future__ import annotations

import logging
import runpy
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication

if TYPE_CHECKING:
    from circuitloupe.ui.main_window import MainWindow
    from circuitloupe.ui.widgets.pane import Pane

log = logging.getLogger(__name__)


class ScriptTimeout(RuntimeError):
    """A scripted wait ran out of time."""


class ScriptApi:
    """What a ``--script`` file can do with the window (all calls run on the GUI thread)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def process(self, seconds: float = 0.0) -> None:
        """Let the event loop run for ``seconds`` (at least one pass)."""
        loop = QEventLoop()
        QTimer.singleShot(max(0, int(seconds * 1000)), loop.quit)
        loop.exec()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        """Run the event loop until ``condition()`` is true; raise ScriptTimeout after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise ScriptTimeout(f"waited {timeout:.0f} s for {what}")
            self.process(0.02)

    def wait_idle(self, timeout: float = 120.0, settle: float = 0.3) -> None:
        """Wait until no job (model loading included) is queued or running, for ``settle`` seconds."""
        def idle() -> bool:
            return not self.window.busy()

        self.wait_until(idle, timeout, "the app to become idle")
        while True:
            self.process(settle)
            if idle():
                return
            self.wait_until(idle, timeout, "the app to become idle")

    def pane(self, name: str) -> Pane:
        """The pane with ``object_name`` ``name``, shown and raised."""
        if name not in self.window.panes:
            raise KeyError(f"no pane '{name}'; panes are {', '.join(self.window.panes)}")
        self.window.show_pane(name)
        return self.window.panes[name]

    def click(self, pane: str, text: str) -> None:
        """Click the first enabled button of ``pane`` whose text is ``text`` (ignoring '&')."""
        for button in self.pane(pane).findChildren(QAbstractButton):
            if button.text().replace("&", "") == text and button.isEnabled():
                button.click()
                return
        raise KeyError(f"no enabled button '{text}' in pane '{pane}'")

    def screenshot(self, path: str | Path) -> Path:
        """Save a PNG of the whole window (at the screen's device pixel ratio)."""
        self.process(0.05)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")
        log.info("screenshot saved to %s", path)
        return path

    def quit(self, code: int = 0) -> None:
        """Close the window and leave the event loop with exit status ``code``."""
        self.window.close()
        QApplication.instance().exit(code)


def run_script(window: MainWindow, path: str | Path) -> None:
    """Run the script file ``path`` against ``window``; a failure exits the app with status 1."""
    api = ScriptApi(window)
    namespace = {"loupe": api, "window": window, "state": window.state, "service": window.service}
    try:
        runpy.run_path(str(path), init_globals=namespace, run_name="__circuitloupe_script__")
    except SystemExit as done:
        api.quit(int(done.code or 0))
    except Exception:  # the script's own failure: report it like a test would
        sys.stderr.write(f"circuitloupe: script {path} failed:\n{traceback.format_exc()}")
        api.quit(1)


def take_screenshot_when_idle(window: MainWindow, path: str | Path, delay: float = 1.0,
                              timeout: float = 300.0) -> None:
    """The ``--screenshot`` option: wait for idle, wait ``delay`` s more, save, quit."""
    api = ScriptApi(window)
    try:
        api.wait_idle(timeout)
        api.process(delay)
        api.wait_idle(timeout)
        if window.state.model is None:
            print("circuitloupe: no model is loaded (see the status bar in the screenshot)", file=sys.stderr)
        saved = api.screenshot(path)
        print(f"circuitloupe: screenshot saved to {saved}", file=sys.stderr)
        api.quit(0)
    except Exception:
        sys.stderr.write(f"circuitloupe: screenshot failed:\n{traceback.format_exc()}")
        api.quit(1)
