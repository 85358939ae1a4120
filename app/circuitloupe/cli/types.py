"""Argument types: every option's value is checked here, at parse time, before any model loads.

Each type is an argparse ``type=`` callable. A bad value raises ``ArgumentTypeError``, which
argparse reports as its usual one line (``circuitloupe X: error: argument --size: ...``) and exit
code 2. Numbers are bounded (nan and inf never pass); paths to write must name a file in an
existing, writable folder; paths to read must exist. Paths and lists come back as strings, so
commands read them as before.
"""

from __future__ import annotations

import math
import os
import re
from argparse import ArgumentTypeError
from pathlib import Path
from typing import Callable

from circuitloupe.core.errors import UserError


class Range:
    """An ``int`` or ``float`` in ``[lo, hi]`` (``(lo, hi]`` with ``open_low``), finite."""

    def __init__(self, kind: type, lo: float, hi: float, open_low: bool = False) -> None:
        self.kind, self.lo, self.hi, self.open_low = kind, lo, hi, open_low
        self.__name__ = kind.__name__

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text.strip())
        except (ValueError, OverflowError):
            raise ArgumentTypeError(f"'{text}' is not {self._noun()} {self.describe()}") from None
        if not math.isfinite(value) or value > self.hi or value < self.lo or (self.open_low and value == self.lo):
            raise ArgumentTypeError(f"must be {self.describe()}, not {text}")
        return value

    def _noun(self) -> str:
        return "an integer" if self.kind is int else "a number"

    def describe(self) -> str:
        if self.open_low:
            return f"above {self.lo:g} and at most {self.hi:g}"
        return f"from {self.lo:g} to {self.hi:g}"


def integer(lo: int, hi: int) -> Range:
    return Range(int, lo, hi)


def number(lo: float, hi: float, open_low: bool = False) -> Range:
    """A finite float in ``[lo, hi]``, or ``(lo, hi]`` with ``open_low``."""
    return Range(float, lo, hi, open_low)


SEED = integer(0, 2**32 - 1)
PIXELS = integer(16, 2048)
SCALE = number(0.1, 8.0)
WORKERS = integer(0, 64)
BATCH = integer(1, 1024)
TOP = integer(1, 1000)
FRACTION = number(0.0, 1.0)
PERCENTILE = number(0.0, 100.0, open_low=True)
SIGMA = number(0.0, 100.0, open_low=True)
#: Any finite value (activations, thresholds in standard deviations).
FINITE = number(-1e12, 1e12)


def text(value: str) -> str:
    """A non-empty string (a model name, unit, layer or label)."""
    if not value.strip():
        raise ArgumentTypeError("must not be empty")
    if "\0" in value:
        raise ArgumentTypeError("must not contain a NUL character")
    return value


def name_list(value: str) -> str:
    """Comma- or space-separated names with at least one name, e.g. ``mixed3a,mixed3b``."""
    text(value)
    if not [name for name in re.split(r"[,\s]+", value) if name]:
        raise ArgumentTypeError(f"'{value}' names nothing; give NAME[,NAME...]")
    return value


_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d{1,2})?)")


def device(value: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and present on this machine."""
    name = value.strip().lower()
    if not _DEVICE.fullmatch(name):
        raise ArgumentTypeError(f"'{value}' is not a device; use auto, cpu, cuda, cuda:N or mps")
    if name in ("auto", "cpu"):  # nothing to check, and no torch to import (the app starts without it)
        return name
    import torch

    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ArgumentTypeError("no CUDA GPU is available here; use cpu or auto")
        if ":" in name and int(name.partition(":")[2]) >= count:
            raise ArgumentTypeError(f"there is no {name}: this machine has CUDA GPUs cuda:0 to cuda:{count - 1}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ArgumentTypeError("Apple's MPS is not available here; use cpu or auto")
    return name


def position(value: str) -> str:
    """``centre``, ``max`` or ``ROW,COL``."""
    from circuitloupe.core.attribution import parse_position

    return _accepted_by(parse_position, text(value))


def _accepted_by(check: Callable[[str], object], value: str) -> str:
    """``value`` when the core's ``check`` reads it; the UserError it raises otherwise, as argparse's error."""
    try:
        check(value)
    except UserError as error:
        raise ArgumentTypeError(str(error)) from None
    return value


def output_file(value: str) -> str:
    """A file to write: not a folder, in an existing folder we may write to."""
    text(value)
    path = Path(value)
    if path.is_dir():
        raise ArgumentTypeError(f"{value} is a folder; name a file")
    _check_folder(Path(os.path.realpath(path)).parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise ArgumentTypeError(f"{value} is read-only")
    return value


def output_or_stdout(value: str) -> str:
    """A file to write, or ``-`` for standard output."""
    return value if value == "-" else output_file(value)


def output_folder(value: str) -> str:
    """A folder to write into: an existing one, or a new one in an existing folder."""
    text(value)
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ArgumentTypeError(f"{value} is a file, not a folder")
    _check_folder(path if path.is_dir() else Path(os.path.realpath(path)).parent)
    return value


def png_or_folder(value: str) -> str:
    """``NAME.png`` (a file) or a folder (one PNG per image)."""
    if Path(value).suffix.lower() == ".png":
        return output_file(value)
    if Path(value).suffix:
        raise ArgumentTypeError(f"{value} should end in .png, or name a folder for one PNG per image")
    return output_folder(value)


def _check_folder(folder: Path) -> None:
    if not folder.exists():
        raise ArgumentTypeError(f"folder {folder} does not exist")
    if not folder.is_dir():
        raise ArgumentTypeError(f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ArgumentTypeError(f"folder {folder} is read-only")


def input_file(value: str) -> str:
    """An existing regular file to read (never a folder or a FIFO)."""
    text(value)
    if not Path(value).exists():
        raise ArgumentTypeError(f"{value} does not exist")
    if not Path(value).is_file():
        raise ArgumentTypeError(f"{value} is not a regular file")
    if not os.access(value, os.R_OK):
        raise ArgumentTypeError(f"{value} is not readable")
    return value


def input_folder(value: str) -> str:
    """An existing folder to read."""
    text(value)
    if not Path(value).is_dir():
        raise ArgumentTypeError(f"{value} is not a folder" if Path(value).exists() else f"{value} does not exist")
    return value


def label_set(value: str) -> str:
    """A built-in label set's name, or a UTF-8 text file of ``[*]name: description`` lines."""
    from circuitloupe.core.labeling.labelsets import read_label_set

    return _accepted_by(read_label_set, value)


def stimuli(value: str) -> str:
    """Equivariance stimuli: ``synthetic``, ``featurevis`` or a folder of images."""
    return value if value in ("synthetic", "featurevis") else input_folder(value)


def rot_mnist_data(value: str) -> str:
    """rot-MNIST: a folder of its files (checked when read, with where to download them), or
    ``synthetic[:N]`` rendered digits (N from 10 to 100000)."""
    if value.startswith("synthetic"):
        _, colon, count = value.partition(":")
        if value != "synthetic" and not colon:
            raise ArgumentTypeError(f"'{value}' is not synthetic:N")
        if colon:
            integer(10, 100_000)(count)
        return value
    return text(value)


def step_counts(value: str) -> str:
    """Equivariance ``--steps``: ``N``, or ``A,H`` (rotation and hue steps), whole numbers from 2 to
    the task's ``MAX_STEPS``."""
    from circuitloupe.tasks.equivariance import MAX_STEPS

    parts = text(value).split(",")
    if len(parts) > 2:
        raise ArgumentTypeError(f"'{value}' is not N or A,H")
    for part in parts:
        integer(2, MAX_STEPS)(part.strip())
    return value
