"""Start the GUI."""

from __future__ import annotations

import logging
import sys

from circuitloupe.core.models import zoo


def run_gui(model: str | None = None, weights: str | None = None, device: str | None = None,
            images: list[str] | None = None) -> int:
    """Open the main window with ``model`` (default: the last model, else the default model)."""
    from PySide6.QtWidgets import QApplication

    from circuitloupe.service import InferenceService
    from circuitloupe.ui.main_window import MainWindow, last_model_spec

    logging.basicConfig(level=logging.INFO)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Circuit Loupe")
    app.setOrganizationName("circuitloupe")
    service = InferenceService(device)
    window = MainWindow(service)
    window.show()
    window.load_model(model or last_model_spec() or zoo.default_model_spec(), weights)
    for path in images or []:
        window.open_image(path)
    return app.exec()
