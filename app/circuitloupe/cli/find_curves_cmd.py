"""circuitloupe find-curves: find curve detectors in a layer and propose them as a family.

Sweep every unit of LAYER with synthetic curves (orientation x radius, plus straight strokes), score
orientation selectivity and propose the most curve-selective units as a family ordered by preferred
orientation.
"""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_command, add_model_arguments, add_outputs, open_model, run_figure
from circuitloupe.core import curve_finder
from circuitloupe.tasks import FindCurvesRequest


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    add_model_arguments(parser, default="efficientnet_lite0")
    parser.add_argument("layer", type=types.text, metavar="LAYER",
                        help="layer to sweep, e.g. block6_depthwise or mixed3b")
    parser.add_argument("--top", type=types.TOP, default=curve_finder.DEFAULT_TOP,
                        help=f"largest family to propose (default {curve_finder.DEFAULT_TOP})")
    parser.add_argument("--orientations", type=types.integer(4, 720), default=36,
                        help="orientations over 360 degrees (default 36)")
    parser.add_argument("--radii", type=types.integer(1, 64), default=5,
                        help="curve radii, tight to gentle (default 5)")
    parser.add_argument("--min-selectivity", type=types.FRACTION, default=0.3,
                        help="least resultant length of the radial tuning (1 - circular variance; default 0.3)")
    parser.add_argument("--min-sigma", type=types.FINITE, default=2.0,
                        help="least best-curve response, in standard deviations above the unit's mean on the "
                             "sample photos (default 2)")
    parser.add_argument("--min-curve-vs-line", type=types.FINITE, default=1.0,
                        help="least margin of the best curve over the best straight stroke, in those standard "
                             "deviations (default 1)")
    add_outputs(parser, "write every unit's scores and the family as JSON",
                "write the radial tuning plot and selectivity scatter")
    parser.add_argument("--save-family", type=types.text, nargs="?", const="", metavar="NAME",
                        help="save the family for the browser (default name: 'curves LAYER')")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    result = run_figure(args, model, FindCurvesRequest.from_args(args), f"find-curves {args.layer}", unit="batch")
    if args.save_family is not None and result.search.family:
        name = curve_finder.save_family(model, result.search, args.save_family or None)
        print(f"saved family '{name}'")
    return 0
