"""File > Sample images: scikit-image photos to analyse without any files of one's own.

:func:`install_samples_menu` adds the submenu after "Open image…" and, the first time a model
is loaded with no image open, opens the cat photo (``sample:chelsea``) so a new user starts
with a real network on a real photo.
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from circuitloupe.core.errors import UserError
from circuitloupe.core.samples import SAMPLES, load_sample
from circuitloupe.ui.state import AppState, OpenImage

log = logging.getLogger(__name__)
START_SAMPLE = "chelsea"


def install_samples_menu(file_menu: QMenu, state: AppState, open_image: Callable[[str], object]) -> QMenu:
    """Add "Sample images" to ``file_menu``; each entry calls ``open_image("sample:NAME")``."""
    menu = QMenu("Sample images", file_menu)
    menu.setObjectName("sample_images_menu")
    menu.setToolTipsVisible(True)
    for sample in SAMPLES:
        action = QAction(sample.name, menu)
        tip = f"Open the scikit-image photo '{sample.name}': {sample.description}"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _=False, spec=sample.spec: open_image(spec))
        menu.addAction(action)
    after = next((a for a in file_menu.actions() if a.text().startswith("Open image")), None)
    actions = file_menu.actions()
    before = actions[actions.index(after) + 1] if after is not None and actions[-1] is not after else None
    if before is not None:
        file_menu.insertMenu(before, menu)
    else:
        file_menu.addMenu(menu)

    def open_start_sample(_model) -> None:
        state.sigModelChanged.disconnect(open_start_sample)
        if state.image is None:
            try:
                state.set_image(OpenImage(f"sample:{START_SAMPLE}", load_sample(START_SAMPLE)))
            except UserError as error:  # scikit-image without its data files
                log.info("no start-up sample image: %s", error)

    state.sigModelChanged.connect(open_start_sample)
    return menu
