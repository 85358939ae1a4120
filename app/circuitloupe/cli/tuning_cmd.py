"""circuitloupe tuning: sweep synthetic curves or angles through units: response maps, radial/joint tuning.

Orientation in degrees: 0 = a curve bulging upward (an angle pointing up), counter-clockwise
positive. Curvature rows are radii in pixels at the model's input size.
"""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_scale_argument, open_model, run_figure
from circuitloupe.tasks import TuningRequest
from circuitloupe.tasks.tuning import FIGURES, STIMULI


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser)
    parser.add_argument("units", type=types.name_list, nargs="*", metavar="UNIT",
                        help="units, e.g. mixed3b:379 or conv4:3,7,12")
    parser.add_argument("--family", type=types.text, help="a preset family of the model instead of (or besides) UNITs")
    parser.add_argument("--stimulus", choices=STIMULI, default="curve",
                        help="curve or angle sweeps; morph: each unit's preferred curve morphed from a sharp "
                             "angle (the last step is the curve itself)")
    parser.add_argument("--orientations", type=types.integer(1, 720), default=72,
                        help="orientations over 0-360 (default 72 = 5 deg; 720 = the article's 0.5 deg)")
    parser.add_argument("--curvatures", type=types.integer(1, 64), default=8,
                        help="rows of the map: radii (curve) or opening angles (angle); default 8")
    parser.add_argument("--post-relu", action="store_true", help="use values after the ReLU (default: pre-ReLU)")
    parser.add_argument("--figure", choices=FIGURES, default="summary",
                        help="summary = response maps + radial tuning (default); joint rotates best stimuli; "
                             "generality = the preferred curve in other colours, contrasts, strokes and textures")
    parser.add_argument("--steps", type=types.integer(2, 64), default=7, help="steps of the morph (default 7)")
    parser.add_argument("--step", type=types.number(0.1, 90.0), default=1.0,
                        help="rotation step of --figure joint in degrees (default 1, as in the article)")
    style = parser.add_argument_group("stimulus style (every sweep: maps, radial, joint, morph)")
    style.add_argument("--fg", type=types.text, default="black",
                       help="stroke colour: a grey level 0-1, a name or #rrggbb (default black)")
    style.add_argument("--bg", type=types.text, default="white", help="background colour (default white)")
    style.add_argument("--invert", action="store_true",
                       help="contrast polarity: the negative image (light on dark instead of dark on light)")
    style.add_argument("--stroke-width", type=types.number(0.0, 64.0, open_low=True),
                       help="stroke width in pixels at the model's input size (default 1.5%% of it, at least 1.5)")
    style.add_argument("--filled", action="store_true",
                       help="fill the region between each stroke and the chord joining its ends")
    style.add_argument("--texture", action="store_true",
                       help="a textured background: the background colour times grey low-pass noise")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.output_file, help="PNG figure to write")
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="JSON with per-unit preferred orientation, width, peak and grid (- = stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    request = TuningRequest.from_args(args)
    run_figure(args, open_model(args), request, f"tuning {request.stimulus}", unit="batch")
    return 0
