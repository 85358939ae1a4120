"""circuitloupe models: the zoo."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import write_json
from circuitloupe.core.models import zoo


def register(commands) -> None:
    parser = commands.add_parser("models", help="list the model zoo")
    parser.add_argument("--all", action="store_true", help="also list every torchvision classifier")
    parser.add_argument("--json", type=types.output_or_stdout, nargs="?", const="-", metavar="PATH",
                        help="also write the zoo as JSON (to standard output without PATH)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    default = zoo.default_model_spec()
    names = zoo.torchvision_names()
    if args.json:
        write_json(args.json, {"default": default, "torchvision": names,
                               "zoo": [{"name": e.name, "description": e.description, "offline": e.offline}
                                       for e in zoo.entries()]})
        if args.json == "-":
            return 0
    for entry in zoo.entries():
        marks = " (default)" if entry.name == default else ""
        marks += " [offline]" if entry.offline else ""
        print(f"{entry.name:22s} {entry.description}{marks}")
    if args.all:
        for name in names:
            print(f"{name:22s} torchvision {name}")
    else:
        print(f"... and {len(names)} torchvision classifiers (googlenet, alexnet, vgg16, resnet50, ...; --all)")
    print("custom models: path/to/file.py:factory")
    return 0
