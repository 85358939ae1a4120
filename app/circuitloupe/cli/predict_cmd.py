"""circuitloupe predict: the top-K ImageNet (or other) classes of images, with probabilities."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from circuitloupe.cli import types
from circuitloupe.cli.common import IMAGE_HELP, add_model_arguments, open_model, read_image, write_json
from circuitloupe.core.predict import predict


def register(commands) -> None:
    parser = commands.add_parser(
        "predict", help="top-K classes of images, with probabilities",
        description="Classify images. IMAGE is a file or a scikit-image sample written sample:NAME "
                    "(sample:chelsea, sample:coffee, ...).")
    add_model_arguments(parser, default="efficientnet_lite0")
    parser.add_argument("images", type=types.text, nargs="+", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("--top", type=types.TOP, default=5, help="how many classes per image (default 5)")
    parser.add_argument("--json", type=types.output_or_stdout, nargs="?", const="-", metavar="PATH",
                        help="write the predictions as JSON (to PATH, or to standard output)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    pixels = [read_image(image, model.in_channels) for image in args.images]
    results = predict(model, pixels, top=args.top)
    if args.json:
        write_json(args.json, {"model": model.spec, "weights": model.weights_id,
                               "images": [{"image": path, "top": [asdict(p) for p in found]}
                                          for path, found in zip(args.images, results)]})
    if args.json != "-":
        for path, found in zip(args.images, results):
            print(path)
            for p in found:
                print(f"  {p.probability:7.2%}  {p.index:4d}  {p.label}")
    return 0
