"""circuitloupe attribute: which pixels (or earlier units) drive a unit on an image.

Input attribution of UNIT on IMAGE (PNG overlay); with --to-layer, the unit's w * x from an earlier
layer, ranked; with --curves, a family's curve map beside Canny edges.
"""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import (IMAGE_HELP, add_command, add_model_arguments, add_scale_argument, open_model,
                                     read_image, run_task, write_outputs)
from circuitloupe.core.attribution import BASELINES, METHODS
from circuitloupe.core.attribution.figures import OVERLAY_MODES
from circuitloupe.tasks import AttributeRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser)
    parser.add_argument("unit", type=types.text, metavar="UNIT",
                        help="layer:channel (e.g. mixed3b:379), a family mixed3b:379,406,385 (sum of their "
                             "maps) or class:N (a logit)")
    parser.add_argument("image", type=types.text, metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("--method", choices=METHODS,
                        help="attribution method (default ig; input_x_gradient with --curves)")
    parser.add_argument("--direction", type=types.input_file, metavar="NPY",
                        help="explain a direction: UNIT is then a layer and NPY holds one weight per channel")
    parser.add_argument("--whole-map", action="store_true", help="attribute the unit's whole map, not one position")
    parser.add_argument("--position", type=types.position, help="centre (default), max, or ROW,COL in the unit's layer")
    parser.add_argument("--baseline", default="black", choices=BASELINES, help="integrated-gradients baseline")
    parser.add_argument("--steps", type=types.integer(1, 1024), default=32,
                        help="integrated-gradients steps (default 32)")
    parser.add_argument("--batch", type=types.BATCH, default=8, help="images per forward pass for integrated gradients")
    parser.add_argument("--blur-sigma", type=types.SIGMA, help="blurred baseline's sigma in pixels")
    parser.add_argument("--seed", type=types.SEED, default=0, help="seed of the noise baseline")
    parser.add_argument("--layer", type=types.text, help="Grad-CAM layer (default: the deepest block before the unit)")
    parser.add_argument("--size", type=types.PIXELS,
                        help="analyse at SIZExSIZE pixels (default: the model's input size)")
    parser.add_argument("--to-layer", type=types.text, metavar="LAYER",
                        help="rank the earlier units of LAYER by their w * x")
    parser.add_argument("--top", type=types.TOP, default=10, help="earlier units listed per sign (default 10)")
    parser.add_argument("--post-relu", action="store_true", help="attribute the post-ReLU value (default pre-ReLU)")
    parser.add_argument("--curves", action="store_true", help="curve extraction: UNIT's family map beside Canny edges")
    parser.add_argument("--canny-sigma", type=types.SIGMA, default=2.0, help="Canny Gaussian sigma in pixels")
    parser.add_argument("--canny-low", type=types.FRACTION, default=0.05, help="Canny low threshold (gray in [0, 1])")
    parser.add_argument("--canny-high", type=types.FRACTION, default=0.15, help="Canny high threshold")
    parser.add_argument("--curve-threshold", type=types.FRACTION, default=0.25, help="curve-map level counted as curve")
    parser.add_argument("--absolute", action="store_true", help="draw |attribution| (magma) instead of signed")
    parser.add_argument("--opacity", type=types.FRACTION, default=0.6, help="overlay opacity in [0, 1]")
    parser.add_argument("--clip", type=types.PERCENTILE, default=99.5, help="saturate beyond this percentile of |map|")
    parser.add_argument("--mode", default="side_by_side", choices=OVERLAY_MODES, help="figure layout")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.output_file, help="PNG figure to write")
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="write numbers as JSON to this path ('-' = standard output)")
    parser.add_argument("--npy", type=types.output_file, help="save the attribution map (or w * x [C, h, w]) as .npy")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    request = AttributeRequest.from_args(args)
    read_image(request.image)  # fails fast with one line before the model loads
    kind = "curves" if request.curves else f"attribute {request.method or 'ig'}"
    result = run_task(open_model(args), request, kind, unit="img")
    write_outputs(args, result)
    if args.npy:
        result.save_npy(args.npy)
    if args.json != "-":
        print(result.lines()[0] + (f"; wrote {args.out}" if args.out else ""))
    return 0
