"""Longest GUI event-loop stall while the inference service runs forward passes.

A 5 ms QTimer on the GUI thread records the gap between ticks while the service runs
InceptionV1 forward passes (batch 8, 224 px) for a few seconds. Target: under 50 ms.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_stall.py
"""

from __future__ import annotations

import os
import statistics

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from circuitloupe.core.activations import forward_until  # noqa: E402
from circuitloupe.core.jobs import check_stop  # noqa: E402
from circuitloupe.service import InferenceService  # noqa: E402


def heavy(ctx, rounds: int) -> int:
    x = torch.rand(8, 3, 224, 224)
    for i in range(rounds):
        check_stop(ctx.should_stop)
        forward_until(ctx.model, x, ["mixed5b"])
        ctx.progress(i + 1, rounds)
    return rounds


def main() -> None:
    app = QApplication([])
    service = InferenceService("cpu")
    gaps: list[int] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    load = service.load("inceptionv1", "random:0")

    def start_heavy(_model) -> None:
        job = service.submit(heavy, 10)
        job.sigFinished.connect(lambda _: app.quit())
        clock.start()
        timer.start()

    load.sigFinished.connect(start_heavy)
    app.exec()
    timer.stop()
    service.shutdown()
    ticks = gaps[1:]
    print(f"{len(ticks)} ticks of a 5 ms timer during 10 forward passes: median gap {statistics.median(ticks)} ms, "
          f"95th percentile {sorted(ticks)[int(0.95 * len(ticks))]} ms, max {max(ticks)} ms")


if __name__ == "__main__":
    main()
