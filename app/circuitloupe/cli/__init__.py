"""The ``circuitloupe`` command line: no sub-command opens the GUI.

Each sub-command lives in its own module listed in ``COMMAND_MODULES`` and exposes
``register(subparsers)``, which adds its parser and sets ``run=`` to a function taking the
parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys

from circuitloupe import __version__
from circuitloupe.cli import types
from circuitloupe.cli.console import Parser, add_device_argument, data_on_stdout, one_line, quiet_broken_pipe
from circuitloupe.core.errors import UserError

COMMAND_MODULES = (
    "models_cmd",
    "layers_cmd",
    "activations_cmd",
    "featvis_cmd",
    "predict_cmd",
    "find_curves_cmd",
    "weights_cmd",
    "expanded_cmd",
    "circuit_cmd",
    "scan_cmd",
    "label_cmd",
    "attribute_cmd",
    "equivariance_cmd",
    "train_gcnn_cmd",
    "tuning_cmd",
    "compare_models_cmd",
    "ablate_cmd",
    "factors_cmd",
    "outputs_cmd",
    "handwritten_cmd",
    "polysemanticity_cmd",
    "atlas_cmd",
)


def build_parser(with_commands: bool = True, modules: tuple[str, ...] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The whole command line; ``modules``: the sub-command modules to register (all by default)."""
    parser = Parser(
        prog="circuitloupe",
        description="Take a trained vision network apart. With no command, open the app.",
    )
    parser.add_argument("--version", action="version", version=f"circuitloupe {__version__}")
    parser.add_argument("--model", type=types.text, help="model to open in the app (zoo name or file.py:factory)")
    parser.add_argument("--weights", type=types.text, help="weights file for the app's model, or random[:SEED]")
    add_device_argument(parser)
    parser.add_argument("--image", type=types.text, action="append", help="image to open in the app (repeatable)")
    parser.add_argument("--project", type=types.input_file, help="project file (.loupe) to open in the app")
    parser.add_argument("--trust", action="store_true",
                        help="let --project run the model file it names (file.py:factory); remembered for "
                             "that file's content")
    parser.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (default: as last time)")
    parser.add_argument("--screenshot", type=types.output_file, metavar="PNG",
                        help="when the app is idle, save a screenshot of the window to PNG and quit")
    parser.add_argument("--screenshot-delay", type=types.number(0, 3600), default=1.0, metavar="S",
                        help="seconds to wait after the app becomes idle before --screenshot (default 1)")
    parser.add_argument("--script", type=types.input_file, metavar="FILE.py",
                        help="run a Python file inside the app once the window is up (see README, desktop)")
    if not with_commands:  # the app alone: its window shows before the sub-commands import torch
        parser.set_defaults(command=None)
        return parser
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in modules:
        importlib.import_module(f"circuitloupe.cli.{module_name}").register(commands)
    return parser


@functools.lru_cache(maxsize=None)
def command_parser(command: str) -> argparse.ArgumentParser | None:
    """Sub-command ``command``'s parser (``"factors"``, ``"atlas build"``), built without the others'
    (the panes read ranges and help from it), or None for no such command."""
    words = command.split()
    module_name = f"{words[0].replace('-', '_')}_cmd" if words else ""
    if module_name not in COMMAND_MODULES:
        return None
    parser: argparse.ArgumentParser | None = build_parser(modules=(module_name,))
    for word in words:
        subcommands = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        parser = subcommands.choices.get(word) if subcommands is not None else None
        if parser is None:
            return None
    return parser


def _opens_the_app(argv: list[str]) -> bool:
    """No sub-command named and no help asked for."""
    names = {module[:-len("_cmd")].replace("_", "-") for module in COMMAND_MODULES}
    return not any(arg in names or arg in ("-h", "--help") for arg in argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command: a user's mistake is one line on standard error and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    with quiet_broken_pipe():
        try:
            args = build_parser(with_commands=not _opens_the_app(argv)).parse_args(argv)
        except SystemExit as done:  # a mistake in the arguments (one line printed), --help or --version
            return done.code if isinstance(done.code, int) else 2
        try:
            if args.command is None:
                if args.project:
                    from circuitloupe.core.trust import check_project_for_cli

                    check_project_for_cli(args.project, args.trust)
                from circuitloupe.ui.app import run_gui

                return run_gui(args.model, args.weights, args.device, args.image, project=args.project,
                               theme=args.theme, screenshot=args.screenshot,
                               screenshot_delay=args.screenshot_delay, script=args.script)
            with data_on_stdout(getattr(args, "json", None) == "-"):
                return int(args.run(args) or 0)
        except UserError as error:
            print(f"circuitloupe: error: {one_line(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("circuitloupe: interrupted", file=sys.stderr)
            return 130
