"""circuitloupe activations: activations of images at named layers, as an .npz file or a figure."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_images_argument, add_model_arguments, run_on_images, write_outputs
from circuitloupe.tasks import ActivationsRequest


def register(commands) -> None:
    parser = commands.add_parser("activations", help="save activations of images at layers to .npz")
    add_model_arguments(parser)
    add_images_argument(parser)
    parser.add_argument("--layers", type=types.name_list, required=True,
                        help="comma-separated layer names, e.g. mixed3a,mixed3b")
    parser.add_argument("--pre-relu", action="store_true", help="save each layer's pre-ReLU value instead")
    parser.add_argument("--channel", type=types.integer(0, 100_000), default=None,
                        help="the channel of the first layer the figure shows (default: the strongest)")
    parser.add_argument("--out", type=types.output_file, required=True,
                        help="output .npz: one [images, C, H, W] array per layer; or .png: the figure")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="J", help="the arrays' shapes as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = run_on_images(args, ActivationsRequest)
    write_outputs(args, result, scale=1.0)  # no --scale: the figure at its own size
    for name, array in result.arrays.items():
        print(f"{name}: {list(array.shape)}")
    return 0
