"""circuitloupe circuit: the expanded-weight grid between two families of units."""

from __future__ import annotations

import argparse

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import (add_model_arguments, add_scale_argument, add_thumbnail_argument, open_model,
                                    require_output, run_task, write_outputs)
from circuitloupe.tasks import CircuitRequest


def register(commands) -> None:
    parser = commands.add_parser("circuit", help="circuit grid of expanded weights between two families (PNG)")
    add_model_arguments(parser)
    parser.add_argument("src_units", type=types.name_list, metavar="SRC_UNITS",
                        help="earlier units (columns), e.g. mixed3a:81,147,145,71")
    parser.add_argument("dst_units", type=types.name_list, metavar="DST_UNITS",
                        help="later units (rows), e.g. mixed3b:342,385,379,330")
    parser.add_argument("--out", type=types.output_file, help="output PNG")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="the weights [rows, columns, kh, kw] as JSON (- for stdout)")
    parser.add_argument("--magnitude", action="store_true", help="show |w| in grey instead of red/blue")
    add_scale_argument(parser)
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_output(args)
    result = run_task(open_model(args), CircuitRequest.from_args(args), "circuit")
    write_outputs(args, result)
    if args.json != "-":
        grid = result.weights
        print(f"{len(result.targets)} x {len(result.sources)} cells of {grid.shape[2]}x{grid.shape[3]}, "
              f"max |w| {np.abs(grid).max():.4g}")
    return 0
