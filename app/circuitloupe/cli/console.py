"""What the command line does before and around any command: one-line argument errors, JSON
on standard output, a quiet broken pipe. Light on purpose (no torch), so that opening the app
from the command line shows its window first."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, NoReturn, TextIO

from circuitloupe.cli import types
from circuitloupe.core.paths import atomic_write_text


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on standard error (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=types.device, default="auto", help="cpu, cuda[:N], mps or auto (default)")


#: Where ``write_json(path="-")`` writes while :func:`data_on_stdout` is active.
_data_stream: TextIO | None = None


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON (``-`` writes to standard output)."""
    text = json.dumps(data, indent=2, default=_jsonable)
    if str(path) == "-":
        print(text, file=_data_stream or sys.stdout, flush=True)
    else:
        atomic_write_text(path, text + "\n")


@contextlib.contextmanager
def data_on_stdout(active: bool) -> Iterator[None]:
    """While ``active``, standard output carries only what :func:`write_json` writes there;
    every ``print`` goes to standard error."""
    global _data_stream
    if not active:
        yield
        return
    _data_stream = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _data_stream = None


class _QuietPipe:
    """Standard output that, once its reader has gone, drops what is written instead of raising
    BrokenPipeError, so the command still finishes and writes its files."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self.broken = stream, False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            # What is still buffered goes to /dev/null at exit instead of raising again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """Install :class:`_QuietPipe` as ``sys.stdout`` for the duration."""
    original = sys.stdout
    sys.stdout = guard = _QuietPipe(original)
    try:
        yield
    finally:
        guard.flush()
        sys.stdout = original


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
