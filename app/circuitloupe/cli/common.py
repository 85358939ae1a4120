"""What sub-commands share: the parser, model arguments, IMAGE arguments, a progress bar, output.

Output rule: when JSON goes to standard output (``--json -``), it is the only thing there; every
message a command prints goes to standard error (:func:`data_on_stdout`). Once the reader of
standard output has gone (``| head -1``), further output is dropped and the command still
finishes, writing its files (:func:`quiet_broken_pipe`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.console import (Parser, add_device_argument, data_on_stdout, one_line, quiet_broken_pipe,
                                      write_json)
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import LoadedModel, load_model, pick_device
from circuitloupe.core.samples import SAMPLE_PREFIX, load_image_or_sample

#: The help text of every IMAGE argument.
IMAGE_HELP = f"image file, or a scikit-image sample photo written {SAMPLE_PREFIX}NAME (e.g. {SAMPLE_PREFIX}chelsea)"


def add_command(commands: argparse._SubParsersAction, doc: str | None) -> argparse.ArgumentParser:
    """A sub-command's parser, named and described by its module's docstring: a first line
    ``circuitloupe NAME: HELP.`` and, after a blank line, the description ``--help`` shows."""
    first, _, rest = (doc or "").strip().partition("\n")
    words, _, summary = first.partition(": ")
    summary = summary.removesuffix(".")
    return commands.add_parser(words.split()[-1], help=summary, description=" ".join(rest.split()) or summary)


def add_model_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """--model SPEC, --weights PATH|random[:SEED], --device."""
    parser.add_argument("--model", type=types.text, default=default, required=default is None,
                        help="zoo name (`circuitloupe models`) or path/to/file.py:factory")
    parser.add_argument("--weights", type=types.text, help="weights file (.pth/.safetensors), or random[:SEED]")
    add_device_argument(parser)


def add_scale_argument(parser: argparse.ArgumentParser) -> None:
    """--scale: the figure's size factor (1 = on-screen size; 2 for print)."""
    parser.add_argument("--scale", type=types.SCALE, default=1.0,
                        help=f"figure scale, {types.SCALE.describe()} (default 1; 2 writes twice the pixels)")


def add_thumbnail_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--render-thumbnails", action="store_true",
                        help="render missing feature-visualisation thumbnails (slow); default: cached ones only")


def add_images_argument(parser: argparse.ArgumentParser) -> None:
    """One or more IMAGE positionals (``images``)."""
    parser.add_argument("images", type=types.text, nargs="+", metavar="IMAGE", help=IMAGE_HELP)


def add_outputs(parser: argparse.ArgumentParser, json_help: str, out_help: str, *, json_metavar: str = "J",
                scale: bool = True) -> None:
    """A figure command's outputs: --json (a path, or - for standard output), --out PNG and, with
    ``scale``, the figure's --scale."""
    parser.add_argument("--json", type=types.output_or_stdout, metavar=json_metavar, help=json_help)
    parser.add_argument("--out", type=types.output_file, metavar="PNG", help=out_help)
    if scale:
        add_scale_argument(parser)


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


def run_on_images(args: argparse.Namespace, request_type: type) -> Any:
    """Run a Request over IMAGE arguments (its ``images``): every image is read first, so that a bad
    one fails with one line before the model loads. Returns the Result."""
    request = request_type.from_args(args)
    for image in request.images:
        read_image(image)
    return run_task(open_model(args), request, request.command)


def run_figure(args: argparse.Namespace, model: LoadedModel | None, request: Any, description: str,
               unit: str = "step", scale: float | None = None) -> Any:
    """The usual figure command's run: the request with a progress bar (:func:`run_task`), its summary
    printed, then --out (at ``scale``, default --scale) and --json written. Returns the Result."""
    result = run_task(model, request, description, unit)
    print("\n".join(result.lines()))
    write_outputs(args, result, scale)
    return result


def run_request(request_type: type, unit: str = "step", *, needs_output: bool = True,
                scale: float | None = None) -> Callable[[argparse.Namespace], int]:
    """The ``run`` of a command that is parse -> Request -> run -> write: with ``needs_output``, --out or
    --json must be given; the Request is read from the arguments before the model loads (none for a
    task that needs no model); then :func:`run_figure`, its progress bar named for the command."""

    def run(args: argparse.Namespace) -> int:
        if needs_output:
            require_output(args)
        request = request_type.from_args(args)
        run_figure(args, open_model(args) if request.needs_model else None, request, request.command, unit, scale)
        return 0

    return run


#: What commands take from here that lives in :mod:`circuitloupe.cli.console`.
__all__ = ["Parser", "add_device_argument", "data_on_stdout", "one_line", "quiet_broken_pipe", "write_json"]
