"""Cyclic garbage collection on the GUI thread only.

Python collects cycles in whichever thread happens to allocate past a threshold. When that is
the inference worker, it may destroy Qt objects that belong to the GUI thread (a finished job's
signals, a closed window's service): PySide then deadlocks (the worker waits for the GIL inside
``~QObject`` while the GUI thread, holding the GIL, waits for the object's mutex) or crashes.
So automatic collection is switched off and a timer on the GUI thread collects the generations
that the usual thresholds call for.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Switches automatic collection off and collects on ``parent``'s (the GUI) thread every
    ``interval_ms``, generation by generation as :func:`gc.get_threshold` says."""

    def __init__(self, parent: QObject, interval_ms: int = 500) -> None:
        super().__init__(parent)
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(collect_due)
        self.timer.start(interval_ms)


def collect_due() -> None:
    """Collect the oldest generation the thresholds call for (which includes the younger ones),
    as automatic collection would have, on the calling thread."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return


def collect_on_gui_thread(app: QObject) -> GuiThreadCollector:
    """Install the collector once per application (``app``: the QApplication)."""
    return app.findChild(GuiThreadCollector) or GuiThreadCollector(app)
