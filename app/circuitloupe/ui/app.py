"""Start the GUI: logging and error hooks, the window, then a model, a project or the welcome screen."""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("circuitloupe.app")


def process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since this import)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19]) / ticks
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - start)
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def run_gui(model: str | None = None, weights: str | None = None, device: str | None = None,
            images: list[str] | None = None, project: str | None = None, theme: str | None = None,
            screenshot: str | None = None, screenshot_delay: float = 1.0, script: str | None = None) -> int:
    """Open the main window and run the event loop; returns the exit status.

    Start-up: ``project`` if given, else ``model``, else the welcome screen (or the last model,
    when the user switched the welcome screen off). ``screenshot`` and ``script`` drive the
    window afterwards (see :mod:`circuitloupe.ui.automation`).

    The window shows before torch is imported: only Qt loads here; the inference worker imports
    torch (and loads the model) while the window is on screen, and the panes on screen follow (the
    others are built when first shown, see :mod:`circuitloupe.ui.lazy_panes`).
    """
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from circuitloupe.service import InferenceService
    from circuitloupe.ui.error_report import setup_file_logging
    from circuitloupe.ui.gui_gc import collect_on_gui_thread
    from circuitloupe.ui.main_window import MainWindow
    from circuitloupe.ui.model_controller import last_model_spec

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    setup_file_logging()
    if QApplication.instance() is None:  # crisp at fractional scales (125 %, 150 %), not rounded
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv)
    collect_on_gui_thread(app)
    app.setApplicationName("Circuit Loupe")
    app.setOrganizationName("circuitloupe")
    app.setDesktopFileName("circuitloupe")
    from circuitloupe.ui.layout import FIRST_SHOWN
    from circuitloupe.ui.panes import EAGER, ENTRIES

    # the worker imports torch, then the modules of the panes a start shows (they import torch too)
    service = InferenceService(device, preload=lambda: [ENTRIES[name].load() for name in (*FIRST_SHOWN, *EAGER)])
    window = MainWindow(service, theme=theme, deferred=True)
    window.errors.install()
    window.show()
    log.info("window shown %.2f s after start", process_age())
    _report_ready_once(window)
    if project:
        window.open_project(project)
    elif model:
        window.load_model(model, weights)
    elif window.welcome_at_start() and not images and not screenshot:
        window.show_welcome()
    elif last_model_spec():
        window.load_model(last_model_spec(), weights)
    else:
        window.when_ready(lambda: window.load_model(_default_model_spec(), weights))
    for path in images or []:
        window.open_image(path)
    if screenshot:
        from circuitloupe.ui.automation import take_screenshot_when_idle

        window.when_ready(lambda: QTimer.singleShot(0, lambda: take_screenshot_when_idle(window, screenshot,
                                                                                          screenshot_delay)))
    if script:
        from circuitloupe.ui.automation import run_script

        window.when_ready(lambda: QTimer.singleShot(0, lambda: run_script(window, script)))
    return app.exec()


def _default_model_spec() -> str:
    from circuitloupe.core.models import zoo  # imports torch: only once the worker has

    return zoo.default_model_spec()


def _report_ready_once(window) -> None:
    """Log when the menus and docks are built (the worker has imported torch and the modules of the
    panes on screen) and when the first model is on screen: the start-up time to an interactive
    window."""
    window.when_ready(lambda: log.info("docks built %.2f s after start", process_age()))

    def ready(model) -> None:
        window.service.sigModelChanged.disconnect(ready)
        log.info("ready: %s loaded and interactive %.2f s after start", model.spec, process_age())

    window.service.sigModelChanged.connect(ready)
