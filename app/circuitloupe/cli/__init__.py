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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circuitloupe",
        description="Take a trained vision network apart. With no command, open the app.",
    )
    parser.add_argument("--version", action="version", version=f"circuitloupe {__version__}")
    parser.add_argument("--model", help="model to open in the app (zoo name or file.py:factory)")
    parser.add_argument("--weights", help="weights file for the app's model, or random[:SEED]")
    parser.add_argument("--device", help="cpu, cuda, mps or auto (default)")
    parser.add_argument("--image", action="append", help="image to open in the app (repeatable)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"circuitloupe.cli.{module_name}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from circuitloupe.ui.app import run_gui

            return run_gui(args.model, args.weights, args.device, args.image)
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"circuitloupe: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("circuitloupe: interrupted", file=sys.stderr)
        return 130
