"""circuitloupe activations: activations of images at named layers, as an .npz file."""

from __future__ import annotations

import argparse
import io

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import IMAGE_HELP, add_model_arguments, open_model, read_image
from circuitloupe.core.activations import capture
from circuitloupe.core.errors import UserError
from circuitloupe.core.images import to_batch
from circuitloupe.core.paths import atomic_write_bytes


def register(commands) -> None:
    parser = commands.add_parser("activations", help="save activations of images at layers to .npz")
    add_model_arguments(parser)
    parser.add_argument("images", type=types.text, nargs="+", metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("--layers", type=types.name_list, required=True,
                        help="comma-separated layer names, e.g. mixed3a,mixed3b")
    parser.add_argument("--pre-relu", action="store_true", help="save each layer's pre-ReLU value instead")
    parser.add_argument("--out", type=types.output_file, required=True,
                        help="output .npz: one [images, C, H, W] array per layer")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for image in args.images:  # a bad image fails with one line before the model loads
        read_image(image)
    model = open_model(args)
    catalogue = model.catalogue
    layers = [catalogue.layer(name.strip()).name for name in args.layers.split(",") if name.strip()]
    if args.pre_relu:
        missing = [name for name in layers if catalogue.pre_relu_of(name) is None]
        if missing:
            raise UserError(f"no pre-ReLU value for {', '.join(missing)}")
        layers = [catalogue.pre_relu_of(name) for name in layers]
    pixels = [read_image(image, model.in_channels) for image in args.images]
    batch = to_batch(pixels, model.input_size)
    arrays = capture(model, batch, layers)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(args.out, buffer.getvalue())
    for name, array in arrays.items():
        print(f"{name}: {list(array.shape)}")
    return 0
