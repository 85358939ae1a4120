"""circuitloupe equivariance: infer the permutation a rotation/hue/flip/scale induces on a family of units.

Measure UNITS on transformed stimuli, infer the permutation the transformation induces (holes where
no unit fits) and score it against the identity and random permutations. hue_rotation turns hue and
rotation jointly and tests whether hue+180° acts as rotation+180°. Example: circuitloupe
equivariance c2:0,1,2,3 --model p4cnn --transform rotate --steps 4 --json eq.json --out eq.png
"""

from __future__ import annotations

import argparse
import sys

from circuitloupe.cli import types
from circuitloupe.cli.common import (IMAGE_HELP, add_command, add_model_arguments, add_scale_argument, open_model,
                                     read_image, require_output, run_task, write_outputs)
from circuitloupe.core import equivariance as eq
from circuitloupe.tasks import EquivarianceRequest
from circuitloupe.tasks.equivariance import LARGEST_SCALE, MAX_SCALE, MAX_STEPS, TRANSFORMS


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser)
    parser.add_argument("units", type=types.name_list, metavar="UNITS",
                        help="the family, e.g. mixed3b:379,385,342, or across layers (scale), e.g. "
                             "conv2d2:146,mixed3b:346,323,mixed4a:402 (with --discover: a layer name)")
    parser.add_argument("--transform", required=True, choices=TRANSFORMS, help="the transformation family")
    parser.add_argument("--steps", type=types.step_counts, metavar="N|A,H",
                        help=f"number of steps, 2 to {MAX_STEPS} (rotate 8 = 45°, hue 6 = 60°, scale 4; flip always "
                             "2); hue_rotation: rotation and hue steps A,H, both even (default 8,8)")
    parser.add_argument("--max-scale", type=types.number(1, LARGEST_SCALE, open_low=True), metavar="F",
                        help=f"scale: the last zoom factor, above 1 up to {LARGEST_SCALE:g} (default {MAX_SCALE:g}); "
                             "the JSON says which unit fits each zoom")
    parser.add_argument("--stimuli", type=types.stimuli, default="synthetic",
                        help="synthetic (curves, lines, edges, gratings), featurevis (the units' own "
                             "visualisations) or a folder of images")
    parser.add_argument("--reduce", default="centre", choices=eq.REDUCTIONS,
                        help="one number per unit: the centre value (default), the spatial mean or max")
    parser.add_argument("--hole-threshold", type=types.number(0, 10), default=1.0,
                        help="match error above which a unit is a hole (default 1: worse than predicting nothing)")
    parser.add_argument("--weights-to", type=types.name_list, metavar="UNITS",
                        help="a second family (later layer): also test whether the weights between the two "
                             "families transform with their units")
    parser.add_argument("--discover", action="store_true",
                        help="UNITS is a layer: list candidate families (flip pairs, rotation cycles) in it")
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="output JSON (mapping, score, baselines); - for stdout")
    parser.add_argument("--out", type=types.output_file,
                        help="PNG: response matrix, permutation and score (weight grids with --weights-to)")
    parser.add_argument("--attention", type=types.text, metavar="IMAGE",
                        help="attentive p4 CNNs: add the attention over IMAGE and over it rotated 90° to --out; "
                             f"IMAGE: {IMAGE_HELP}")
    add_scale_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_output(args)
    request = EquivarianceRequest.from_args(args)
    if request.attention:
        read_image(request.attention)
    task = "discover" if request.discover else "responses"
    result = run_task(open_model(args), request, f"{request.transform} {task}")
    write_outputs(args, result)
    print("\n".join(result.lines()), file=sys.stderr)
    return 0
