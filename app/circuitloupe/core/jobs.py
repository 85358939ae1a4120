"""The call shape of long work: progress reports and cooperative cancellation.

Every long core function takes ``progress(step, total, preview)`` and ``should_stop()``
callbacks, so the same code runs under the GUI's inference service, the CLI's progress bar
and plain tests. A function that sees ``should_stop()`` return True raises :class:`Cancelled`.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol


class Cancelled(Exception):
    """Raised inside a job when its ``should_stop()`` check returned True."""


class ProgressFn(Protocol):
    def __call__(self, step: int, total: int, preview: Any = None) -> None: ...


StopFn = Callable[[], bool]


def no_progress(step: int, total: int, preview: Any = None) -> None:
    """A progress callback that ignores every report."""


def never_stop() -> bool:
    """A stop check that never asks to stop."""
    return False


def check_stop(should_stop: StopFn | None) -> None:
    """Raise :class:`Cancelled` if ``should_stop`` asks for it."""
    if should_stop is not None and should_stop():
        raise Cancelled()
