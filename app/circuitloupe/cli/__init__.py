"""The ``circuitloupe`` command line: no sub-command opens the GUI.

Each sub-command lives in its own module listed in ``COMMAND_MODULES`` and exposes
``register(subparsers)``, which adds its parser and sets ``run=`` to a function taking the
parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from circuitloupe import __version__
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
)


def build_parser(with_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circuitloupe",
        description="Take a trained vision network apart. With no command, open the app.",
    )
    parser.add_argument("--version", action="version", version=f"circuitloupe {__version__}")
    parser.add_argument("--model", help="model to open in the app (zoo name or file.py:factory)")
    parser.add_argument("--weights", help="weights file for the app's model, or random[:SEED]")
    parser.add_argument("--device", help="cpu, cuda, mps or auto (default)")
    parser.add_argument("--image", action="append", help="image to open in the app (repeatable)")
    parser.add_argument("--project", help="project file (.loupe) to open in the app")
    parser.add_argument("--theme", choices=("system", "light", "dark"), help="colour theme (default: as last time)")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="when the app is idle, save a screenshot of the window to PNG and quit")
    parser.add_argument("--screenshot-delay", type=float, default=1.0, metavar="S",
                        help="seconds to wait after the app becomes idle before --screenshot (default 1)")
    parser.add_argument("--script", metavar="FILE.py",
                        help="run a Python file inside the app once the window is up (see README, desktop)")
    if not with_commands:  # the app alone: its window shows before the sub-commands import torch
        parser.set_defaults(command=None)
        return parser
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"circuitloupe.cli.{module_name}").register(commands)
    return parser


def _opens_the_app(argv: list[str]) -> bool:
    """No sub-command named and no help asked for."""
    names = {module[:-len("_cmd")].replace("_", "-") for module in COMMAND_MODULES}
    return not any(arg in names or arg in ("-h", "--help") for arg in argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(with_commands=not _opens_the_app(argv))
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from circuitloupe.ui.app import run_gui

            return run_gui(args.model, args.weights, args.device, args.image, project=args.project,
                           theme=args.theme, screenshot=args.screenshot,
                           screenshot_delay=args.screenshot_delay, script=args.script)
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"circuitloupe: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("circuitloupe: interrupted", file=sys.stderr)
        return 130
