"""circuitloupe layers: a model's layer catalogue."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_model_arguments, open_model, write_json


def register(commands) -> None:
    parser = commands.add_parser("layers", help="list a model's layers with channels and shapes")
    add_model_arguments(parser)
    parser.add_argument("--json", type=types.output_or_stdout, nargs="?", const="-", metavar="PATH",
                        help="write JSON (to stdout without PATH)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    rows = [{"name": info.name, "channels": info.channels, "shape": list(info.shape),
             "pre_relu": info.has_pre_relu, "parts": [list(p) for p in info.parts], "group": info.group}
            for info in model.catalogue]
    if args.json:
        write_json(args.json, {"model": model.spec, "input_size": list(model.input_size), "layers": rows})
        return 0
    print(f"{model.spec}: {len(rows)} layers at {model.input_size[0]}x{model.input_size[1]} input")
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        print(f"  {row['name']:36s} {row['channels']:5d}  {shape:>14s}{'  +pre-ReLU' if row['pre_relu'] else ''}")
    return 0
