"""circuitloupe featvis: feature visualisation: optimise images that excite units.

Render feature visualisations of units in one batch (cached per model, unit and settings). --out
FILE.png writes one image, or a labelled grid for several; --out FOLDER writes one PNG per image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitloupe.cli import types
from circuitloupe.cli.common import (IMAGE_HELP, add_command, add_model_arguments, add_scale_argument, open_model,
                                     run_task, write_json)
from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis.objectives import OBJECTIVE_KINDS
from circuitloupe.tasks import FeatvisRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    parser.add_argument("units", type=types.name_list, nargs="+", metavar="UNIT",
                        help="units, e.g. mixed3b:379 or mixed3a:81,147,145 (a LAYER with --direction)")
    add_model_arguments(parser)
    parser.add_argument("--steps", type=types.integer(0, 100_000), default=256,
                        help="optimisation steps, 0 to 100000 (default 256)")
    parser.add_argument("--size", type=types.PIXELS, default=128,
                        help=f"image size in pixels, {types.PIXELS.describe()} (default 128)")
    parser.add_argument("--seed", type=types.SEED, default=0, help="random seed (default 0)")
    parser.add_argument("--objective", choices=OBJECTIVE_KINDS, default="channel",
                        help="channel: mean over positions; neuron: centre position; direction: cosine "
                             "with the unit's one-hot direction")
    parser.add_argument("--diversity", type=types.integer(1, 64), default=1, metavar="K",
                        help="K diverse images per unit (a Gram-matrix diversity term pushes them apart)")
    parser.add_argument("--no-transforms", action="store_true", help="optimise without transformation robustness")
    parser.add_argument("--param", choices=("fourier", "pixel"), default="fourier", help="image parameterisation")
    parser.add_argument("--no-cache", action="store_true", help="render even when a cached image exists")
    parser.add_argument("--direction", type=types.input_file, default=None, metavar="VEC.npy",
                        help="render a direction: a .npy vector over the channels of the one LAYER given")
    parser.add_argument("--attribution-from", type=types.text, default=None, metavar="LAYER",
                        help="render the norm of each unit's w*x from this earlier layer (visualising attribution)")
    parser.add_argument("--image", type=types.text, default=None, metavar="IMAGE",
                        help="with --attribution-from: render the pattern of the attribution on this image "
                             f"(over the unit's receptive field): {IMAGE_HELP}")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.png_or_folder, required=True,
                        help="output .png (one image or a grid), or a folder")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="STATS",
                        help="write per-unit statistics as JSON (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix and out.suffix.lower() != ".png":
        raise UserError(f"--out {out} should end in .png, or name a folder for one PNG per image")
    result = run_task(open_model(args), FeatvisRequest.from_args(args), "featvis")
    if out.suffix.lower() == ".png":
        result.save(out, args.scale)
        files = [str(out)] * len(result.images())
    else:
        files = [str(path) for path in result.save_images(out, args.scale)]
    for path in dict.fromkeys(files):
        print(path)
    if args.json:
        data = result.to_json()
        images = [image for unit in data["units"] for image in unit["images"]]
        for image, file in zip(images, files):
            image["file"] = file
        write_json(args.json, data)
    return 0
