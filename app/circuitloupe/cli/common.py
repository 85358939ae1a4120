"""What sub-commands share: the parser, model arguments, IMAGE arguments, a progress bar, output.

Output rule: when JSON goes to standard output (``--json -``), it is the only thing there; every
message a command prints goes to standard error (:func:`data_on_stdout`). Once the reader of
standard output has gone (``| head -1``), further output is dropped and the command still
finishes, writing its files (:func:`quiet_broken_pipe`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, NoReturn, TextIO

import numpy as np

from circuitloupe.cli import types
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import LoadedModel, load_model, pick_device
from circuitloupe.core.paths import atomic_write_text
from circuitloupe.core.samples import SAMPLE_PREFIX, load_image_or_sample

#: The help text of every IMAGE argument.
IMAGE_HELP = f"image file, or a scikit-image sample photo written {SAMPLE_PREFIX}NAME (e.g. {SAMPLE_PREFIX}chelsea)"


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on standard error (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def add_model_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--model SPEC, --weights PATH|random[:SEED], --device."""
    parser.add_argument("--model", type=types.text, default=default, required=default is None,
                        help="zoo name (`circuitloupe models`) or path/to/file.py:factory")
    parser.add_argument("--weights", type=types.text, help="weights file (.pth/.safetensors), or random[:SEED]")
    add_device_argument(parser)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=types.device, default="auto", help="cpu, cuda[:N], mps or auto (default)")


def add_scale_argument(parser: argparse.ArgumentParser) -> None:
    """--scale: the figure's size factor (1 = on-screen size; 2 for print)."""
    parser.add_argument("--scale", type=types.SCALE, default=1.0,
                        help=f"figure scale, {types.SCALE.describe()} (default 1; 2 writes twice the pixels)")


def add_thumbnail_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--render-thumbnails", action="store_true",
                        help="render missing feature-visualisation thumbnails (slow); default: cached ones only")


def require_output(args: argparse.Namespace) -> None:
    """A figure command must be told where to write: --out, --json or both."""
    if not args.out and not args.json:
        raise UserError("give --out PNG, --json PATH or both")


def open_model(args: argparse.Namespace) -> LoadedModel:
    """Load the model named by the arguments, with a download progress bar."""
    bar = ProgressBar("download", unit="B")
    try:
        return load_model(args.model, args.weights, device=pick_device(args.device),
                          progress=lambda done, total: bar(done, total))
    finally:
        bar.close()


def read_image(image: str, channels: int = 3) -> np.ndarray:
    """Every command's IMAGE argument: an image file or ``sample:NAME`` -> [H, W, channels]
    float32 in [0, 1]; a missing, unreadable or unknown image raises a one-line ImageError."""
    return load_image_or_sample(image, channels)


class ProgressBar:
    """A tqdm bar usable as a core ``progress(step, total, preview)`` callback."""

    def __init__(self, description: str, unit: str = "step") -> None:
        self.description, self.unit = description, unit
        self._bar = None

    def __call__(self, step: int, total: int, _preview: Any = None) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total or None, desc=self.description, unit=self.unit,
                             unit_scale=self.unit == "B", file=sys.stderr, leave=False)
        self._bar.total = total or None
        self._bar.update(step - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_task(model: LoadedModel | None, request: Any, description: str, unit: str = "step") -> Any:
    """Run a task's Request (:mod:`circuitloupe.tasks`) with a progress bar on stderr; its Result."""
    from circuitloupe import tasks

    bar = ProgressBar(description, unit)
    try:
        return tasks.run(tasks.TaskContext(model, bar), request)
    finally:
        bar.close()


def write_outputs(args: argparse.Namespace, result: Any, scale: float | None = None) -> None:
    """A task Result to ``--out`` (the figure at ``scale``, default ``--scale``) and ``--json``, where given."""
    if getattr(args, "out", None):
        result.save(args.out, args.scale if scale is None else scale)
    if getattr(args, "json", None):
        write_json(args.json, result.to_json())


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
