"""circuitloupe predict: top-K classes of images, with probabilities.

Classify images. IMAGE is a file or a scikit-image sample written sample:NAME (sample:chelsea,
sample:coffee, ...).
"""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_images_argument, add_model_arguments, run_on_images, write_json
from circuitloupe.tasks import PredictRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser, default="efficientnet_lite0")
    add_images_argument(parser)
    parser.add_argument("--top", type=types.TOP, default=5, help="how many classes per image (default 5)")
    parser.add_argument("--json", type=types.output_or_stdout, nargs="?", const="-", metavar="PATH",
                        help="write the predictions as JSON (to PATH, or to standard output)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = run_on_images(args, PredictRequest)
    if args.json:
        write_json(args.json, result.to_json())
    if args.json != "-":
        for path, found in zip(result.request.images, result.predictions):
            print(path)
            for p in found:
                print(f"  {p.probability:7.2%}  {p.index:4d}  {p.label}")
    return 0
