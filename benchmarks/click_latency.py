"""Delay from a click to the start of its job while the browser renders thumbnails.

The service renders feature-visualisation thumbnails of a whole layer in the background (the
browser's own ``tasks.thumbnails.thumbnail_batches``, 8 units a batch, 64 steps at 64 px, priority "background"); every
second a "click" submits a user job (the browser's unit card job, as a click in the grid does) and
the time from ``submit`` to the job's ``sigStarted`` is recorded. Target: under 0.5 s on a CPU.

    QT_QPA_PLATFORM=offscreen python benchmarks/click_latency.py [--model inceptionv1 --weights random:0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("CIRCUITLOUPE_DATA_DIR", tempfile.mkdtemp(prefix="click_latency_"))  # an empty cache

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from circuitloupe.core.units import UnitRef  # noqa: E402
from circuitloupe.service import InferenceService  # noqa: E402
from circuitloupe.tasks.thumbnails import thumbnail_batches  # noqa: E402
from circuitloupe.tasks.unit_card import unit_card  # noqa: E402
from circuitloupe.ui.panes.unit_card import CARD_K  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="inceptionv1")
    parser.add_argument("--weights", default="random:0")
    parser.add_argument("--layer", default="mixed3b")
    parser.add_argument("--clicks", type=int, default=10)
    args = parser.parse_args()
    app = QApplication([])
    service = InferenceService("cpu")
    delays: list[float] = []
    state: dict = {}

    def click() -> None:
        if len(delays) >= args.clicks:
            state["thumbs"].cancel()
            app.quit()
            return
        unit = UnitRef(args.layer, 10 + len(delays))
        clicked = time.perf_counter()
        job = service.submit(unit_card, unit, None, None, CARD_K, name=f"unit card {unit}")
        job.sigStarted.connect(lambda: delays.append(time.perf_counter() - clicked))
        job.sigStarted.connect(lambda: QTimer.singleShot(1000, click))  # one click at a time

    def loaded(model) -> None:
        units = [UnitRef(args.layer, c) for c in range(model.catalogue.layer(args.layer).channels)]
        state["thumbs"] = thumbs = service.submit(thumbnail_batches, units, True, priority="background",
                                                  name="thumbnails")

        def first_steps(step: int, _total: int, _preview) -> None:
            if step >= 2:  # the render is under way (its one-off set-up is done): start clicking
                thumbs.sigProgress.disconnect(first_steps)
                QTimer.singleShot(500, click)

        thumbs.sigProgress.connect(first_steps)

    service.load(args.model, args.weights).sigFinished.connect(loaded)
    app.exec()
    service.shutdown()
    print(f"click to job start while thumbnails render ({args.model}, {os.cpu_count()} cpus): "
          f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms, "
          f"{len(delays)} clicks; {state['thumbs'].paused} pauses of the render")


if __name__ == "__main__":
    main()
