"""circuitloupe expanded: a unit's top input units from an earlier layer by expanded-weight norm."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import (add_model_arguments, add_scale_argument, add_thumbnail_argument, open_model,
                                    require_output, run_task, write_outputs)
from circuitloupe.tasks import ExpandedRequest


def register(commands) -> None:
    parser = commands.add_parser("expanded", help="expanded weights into a unit from an earlier layer (top-k PNG)")
    add_model_arguments(parser)
    parser.add_argument("src_layer", type=types.text, metavar="SRC_LAYER", help="the earlier layer, e.g. mixed3a")
    parser.add_argument("unit", type=types.text, metavar="UNIT", help="the later unit, e.g. mixed3b:379")
    parser.add_argument("--top", type=types.TOP, default=8, help="how many input units to show (default 8)")
    parser.add_argument("--method", choices=("auto", "gradient", "product"), default="auto",
                        help="product: exact InceptionV1 bottleneck product; gradient: linearised-model gradient; "
                             "auto: the product where it applies (default)")
    parser.add_argument("--out", type=types.output_file, help="output PNG")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="ranked input units with norms and kernels (- for stdout)")
    add_scale_argument(parser)
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_output(args)
    request = ExpandedRequest.from_args(args)
    result = run_task(open_model(args), request, "thumbnails" if request.render_thumbnails else "expanded")
    write_outputs(args, result)
    if args.json != "-":
        for input_unit, norm, _ in result.ranked:
            print(f"{input_unit}\t{norm:.6g}")
    return 0
