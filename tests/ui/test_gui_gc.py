"""Garbage cycles are collected on the GUI thread, never on a worker that allocates a lot."""

from __future__ import annotations

import gc
import threading

from circuitloupe.ui.gui_gc import collect_on_gui_thread


class Cycle:
    collected_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.collected_on.append(threading.current_thread().name)


def test_a_cycle_dropped_while_a_worker_allocates_is_collected_on_the_gui_thread(qtbot, qapp):
    collector = collect_on_gui_thread(qapp)
    assert not gc.isenabled() and collect_on_gui_thread(qapp) is collector  # one per application
    Cycle.collected_on.clear()
    Cycle()  # garbage now, reachable only from itself

    kept = []

    def allocate() -> None:  # far past every threshold: automatic collection would run here
        kept.append([[i] for i in range(200_000)])

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert Cycle.collected_on == []
    qtbot.waitUntil(lambda: Cycle.collected_on == [threading.main_thread().name], timeout=5000)
