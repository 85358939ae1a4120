"""circuitloupe tuning: response maps and radial / joint tuning curves to synthetic stimuli."""

from __future__ import annotations

import argparse

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import ProgressBar, add_model_arguments, add_scale_argument, open_model, write_json
from circuitloupe.core import tuning
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import save_png
from circuitloupe.core.units import parse_unit_list

FIGURES = ("summary", "maps", "radial", "joint")


def register(commands) -> None:
    parser = commands.add_parser(
        "tuning", help="sweep synthetic curves or angles through units: response maps, radial/joint tuning",
        description="Orientation in degrees: 0 = a curve bulging upward (an angle pointing up), "
                    "counter-clockwise positive. Curvature rows are radii in pixels at the model's input size.")
    add_model_arguments(parser)
    parser.add_argument("units", type=types.name_list, nargs="*", metavar="UNIT",
                        help="units, e.g. mixed3b:379 or conv4:3,7,12")
    parser.add_argument("--family", type=types.text, help="a preset family of the model instead of (or besides) UNITs")
    parser.add_argument("--stimulus", choices=tuning.STIMULI, default="curve")
    parser.add_argument("--orientations", type=types.integer(1, 720), default=72,
                        help="orientations over 0-360 (default 72 = 5 deg; 720 = the article's 0.5 deg)")
    parser.add_argument("--curvatures", type=types.integer(1, 64), default=8,
                        help="rows of the map: radii (curve) or opening angles (angle); default 8")
    parser.add_argument("--post-relu", action="store_true", help="use values after the ReLU (default: pre-ReLU)")
    parser.add_argument("--figure", choices=FIGURES, default="summary",
                        help="summary = response maps + radial tuning (default); joint rotates best stimuli")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.output_file, help="PNG figure to write")
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="JSON with per-unit preferred orientation, width, peak and grid (- = stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    units = _units(model, args)
    bar = ProgressBar(f"tuning {args.stimulus}", unit="batch")
    try:
        maps = tuning.response_maps(model, units, args.stimulus, args.orientations, args.curvatures,
                                    pre_relu=not args.post_relu, progress=bar)
        joint = tuning.joint_tuning(model, units, progress=bar) if args.figure == "joint" else None
    finally:
        bar.close()
    for rmap in maps:
        radial = tuning.radial_from_map(rmap)
        value, orientation, parameter = rmap.peak
        print(f"{rmap.unit}: preferred {radial.preferred:.1f} deg, width {radial.width:.1f} deg, "
              f"peak {value:.4g} at {orientation:.1f} deg / {rmap.parameter_name} {parameter:.1f}")
    if args.out:
        save_png(_figure(args.figure, maps, joint, args.scale), args.out)
    if args.json:
        write_json(args.json, _report(model, args, maps, joint))
    return 0


def _units(model, args) -> list:
    units = parse_unit_list(" ".join(args.units)) if args.units else []
    if args.family:
        if args.family not in model.families:
            known = ", ".join(model.families) or "none"
            raise UserError(f"{model.name} has no family '{args.family}' (families: {known})")
        units += parse_unit_list(" ".join(model.families[args.family]))
    if not units:
        raise UserError("name at least one UNIT (e.g. conv4:3) or a --family")
    return [model.catalogue.unit(u) for u in units]


def _figure(kind: str, maps, joint, scale: float):
    if kind == "maps":
        return tuning.response_map_figure(maps, scale)
    if kind == "radial":
        return tuning.radial_tuning_figure([tuning.radial_from_map(m) for m in maps], scale)
    if kind == "joint":
        return tuning.joint_tuning_figure(joint, scale)
    return tuning.summary_figure(maps, scale)


def _report(model, args, maps, joint) -> dict:
    first = maps[0]
    report = {
        "model": model.spec,
        "weights": model.weights_id,
        "stimulus": args.stimulus,
        "orientation_convention": "degrees; 0 = curve bulging upward / angle pointing up; counter-clockwise",
        "orientations_deg": first.orientations,
        ("radii_px" if args.stimulus == "curve" else "openings_deg"): first.parameters,
        "grid_shape": "[curvatures, orientations]",
        "units": [tuning.unit_summary(m) for m in maps],
    }
    if joint is not None:
        report["joint_tuning"] = {"orientations_deg": joint.angles, "units": joint.units,
                                  "curves": np.round(joint.curves, 6)}
    return report
