"""circuitloupe scan: scan an image folder for a unit or layer (cached).

Run every image under DIR (recursively) through the model and cache the unit's (or layer's) pre- and
post-ReLU values at every position. A second scan reuses the cache and runs only new files. Then
write the summary statistics, the top and bottom examples and the skipped files as JSON, and
optionally a figure.
"""

from __future__ import annotations

import argparse
import sys
from circuitloupe.cli import types
from circuitloupe.cli.common import (add_command, add_model_arguments, add_outputs, add_scale_argument, open_model,
                                     run_task, write_outputs)
from circuitloupe.core.dataset import resolve_target
from circuitloupe.core.dataset.figures import VIEWS
from circuitloupe.core.errors import UserError
from circuitloupe.tasks import ScanRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("target", type=types.text, metavar="UNIT_OR_LAYER",
                        help="a unit (mixed3b:379, 3b:379) or a layer (mixed3b)")
    parser.add_argument("folder", type=types.input_folder, metavar="DIR",
                        help="folder of images (JPEG, PNG, WebP, BMP, TIFF), recursive")
    add_model_arguments(parser)
    add_outputs(parser, "write statistics, examples and skipped files as JSON (- for standard output)",
                "write a figure of the unit (see --view)", json_metavar="STATS", scale=False)
    parser.add_argument("--view", choices=VIEWS, default="summary", help="which figure --out writes (default summary)")
    add_scale_argument(parser)
    parser.add_argument("--top", type=types.TOP, default=9, metavar="K",
                        help="top and bottom examples to report (default 9)")
    parser.add_argument("--size", type=types.PIXELS, metavar="PX", help="input size in pixels (default: the model's)")
    parser.add_argument("--resize", choices=("squash", "crop"), default="squash",
                        help="squash: resize whole images (default); crop: fit the shorter side, cut the centre")
    parser.add_argument("--batch-size", type=types.BATCH, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--workers", type=types.WORKERS, default=2,
                        help="DataLoader decoding processes (default 2; 0 = none)")
    parser.add_argument("--whole-layer", action="store_true", help="for a unit, cache its whole layer")
    parser.add_argument("--rescan", action="store_true", help="drop the cache for this scan and start over")
    parser.add_argument("--attributions", action="store_true",
                        help="show each example's attribution (gradient x input over its receptive field) beside "
                             "it, e.g. with --view quilt")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    request = ScanRequest.from_args(args)
    model = open_model(args)
    if args.out and resolve_target(model, request.target, whole_layer=request.whole_layer).unit is None:
        raise UserError("--out and --top need a unit (layer:channel), not a whole layer")
    result = run_task(model, request, "scan", unit="img")
    for warning in result.scan.warnings:
        print(f"circuitloupe: warning: {warning}", file=sys.stderr)
    print("\n".join(result.lines()))
    write_outputs(args, result)
    return 0
