"""circuitloupe weights: a first-layer conv's filters as a grid of RGB images, or, for p4 group
CNNs, each filter's four rotated copies side by side."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_model_arguments, add_scale_argument, open_model, run_task, write_outputs
from circuitloupe.tasks import RotatedResult, WeightsRequest


def register(commands) -> None:
    parser = commands.add_parser("weights", help="first-layer filters (3 input channels) as an RGB grid PNG, or "
                                                 "a group layer's rotated filter copies")
    add_model_arguments(parser)
    parser.add_argument("layer", type=types.text, nargs="?", metavar="LAYER",
                        help="conv layer (or its ReLU) with 3 input channels, or a p4 group layer; default: the "
                             "first 3-channel conv (group models: the first group layer)")
    parser.add_argument("--out", type=types.output_file, required=True, help="output PNG")
    parser.add_argument("--shared-scale", action="store_true",
                        help="one colour scale for all filters (default: each filter scaled to its own max |w|); "
                             "rotated copies always share one scale")
    parser.add_argument("--columns", type=types.integer(1, 256), help="tiles per row (RGB filters)")
    parser.add_argument("--input-channel", type=types.integer(0, 1_000_000), metavar="N",
                        help="group layers: show input channel N's [4, k, k] slice (default: the sum over input "
                             "channels)")
    add_scale_argument(parser)
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="also write the raw filters [N, kh, kw, 3] (group layers: the rotated copies "
                             "[C_out, 4, J, kh, kw]) as JSON (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = run_task(open_model(args), WeightsRequest.from_args(args), "weights")
    write_outputs(args, result)
    if isinstance(result, RotatedResult):
        copies = result.copies
        per_copy = f"{copies.shape[3]}x{copies.shape[4]}" + (f" x {copies.shape[2]} input rotations"
                                                             if copies.shape[2] > 1 else "")
        print(f"{len(copies)} filters x 4 rotations of {per_copy}{result.note()} -> {args.out}")
    else:
        filters = result.filters
        print(f"{len(filters)} filters of {filters.shape[1]}x{filters.shape[2]} -> {args.out}")
    return 0
