"""What the benchmarks share: the best of several timed runs (imported as ``timing``, since each
benchmark runs as a script from this folder)."""

from __future__ import annotations

import time
from typing import Callable


def best_time(fn: Callable[[], object], repeats: int, warm_up: bool = False) -> float:
    """The shortest of ``repeats`` calls of ``fn``, in seconds; ``warm_up``: one untimed call first."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)
