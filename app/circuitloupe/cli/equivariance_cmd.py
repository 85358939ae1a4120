"""circuitloupe equivariance: which unit a transformation maps each unit to, and how exactly."""

from __future__ import annotations

import argparse
import sys

from circuitloupe.cli import types
from circuitloupe.cli.common import (IMAGE_HELP, ProgressBar, add_model_arguments, add_scale_argument, open_model,
                                    read_image, write_json)
from circuitloupe.core import equivariance as eq
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import save_png, side_by_side, stack
from circuitloupe.core.units import parse_unit_list


def register(commands) -> None:
    parser = commands.add_parser(
        "equivariance", help="infer the permutation a rotation/hue/flip/scale induces on a family of units",
        description="Measure UNITS on transformed stimuli, infer the permutation the transformation induces "
                    "(holes where no unit fits) and score it against the identity and random permutations. "
                    "Example: circuitloupe equivariance c2:0,1,2,3 --model p4cnn --transform rotate --steps 4 "
                    "--json eq.json --out eq.png")
    add_model_arguments(parser)
    parser.add_argument("units", type=types.name_list, metavar="UNITS",
                        help="the family, e.g. mixed3b:379,385,342 (with --discover: a layer name)")
    parser.add_argument("--transform", required=True, choices=eq.TRANSFORMS, help="the transformation family")
    parser.add_argument("--steps", type=types.integer(2, 72),
                        help="number of steps, 2 to 72 (rotate 8 = 45°, hue 6 = 60°, scale 4; flip always 2)")
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
    parser.add_argument("--json", type=types.output_or_stdout, required=True,
                        help="output JSON (mapping, score, baselines); - for stdout")
    parser.add_argument("--out", type=types.output_file,
                        help="PNG: response matrix, permutation and score (weight grids with --weights-to)")
    parser.add_argument("--attention", type=types.text, metavar="IMAGE",
                        help="attentive p4 CNNs: add the attention over IMAGE and over it rotated 90° to --out; "
                             f"IMAGE: {IMAGE_HELP}")
    add_scale_argument(parser)
    parser.set_defaults(run=run)


def _stimuli(model, args, units):
    if args.stimuli == "synthetic":
        return None
    if args.stimuli == "featurevis":
        bar = ProgressBar("feature visualisation")
        try:
            return eq.featurevis_stimuli(model, units, progress=bar)
        finally:
            bar.close()
    return eq.folder_stimuli(args.stimuli, model.input_size)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    if args.attention and "attention_maps" not in model.extras:
        raise UserError(f"{model.name} has no attention maps; --attention needs a_p4cnn or fa_p4cnn")
    if args.discover:
        layer = model.catalogue.layer(args.units).name
        bar = ProgressBar(f"discover {args.transform}")
        try:
            found = eq.discover(model, layer, args.transform, args.steps, stimuli=_stimuli(model, args, []),
                                reduce=args.reduce, progress=bar)
        finally:
            bar.close()
        write_json(args.json, {"model": model.spec, "layer": layer, "transform": args.transform,
                               "candidates": [{"units": c.units, "strength": c.strength, "cyclic": c.cyclic}
                                              for c in found]})
        for candidate in found:
            print(candidate.name, file=sys.stderr)
        return 0
    units = [model.catalogue.unit(u) for u in parse_unit_list(args.units)]
    bar = ProgressBar(f"{args.transform} responses")
    try:
        result = eq.equivariance(model, units, args.transform, args.steps, stimuli=_stimuli(model, args, units),
                                 reduce=args.reduce, hole_threshold=args.hole_threshold, progress=bar)
        data = {"model": model.spec, "weights": model.weights_id, **result.to_json()}
        symmetry = None
        if args.weights_to:
            targets = [model.catalogue.unit(u) for u in parse_unit_list(args.weights_to)]
            second = eq.equivariance(model, targets, args.transform, args.steps,
                                     stimuli=_stimuli(model, args, targets), reduce=args.reduce,
                                     hole_threshold=args.hole_threshold, progress=bar)
            symmetry = eq.weight_symmetry(model, result, second)
            data["weights_to"] = second.to_json()
            data["weight_symmetry"] = symmetry.to_json()
    finally:
        bar.close()
    write_json(args.json, data)
    if args.out:
        figure = eq.summary_figure(result, args.scale)
        if symmetry is not None:
            grids = eq.weight_symmetry_figure(symmetry, args.scale)
            figure = side_by_side([figure, grids], height=int(figure.height / args.scale), scale=args.scale)
        if args.attention:
            view = eq.attention_view(model, read_image(args.attention))
            figure = stack([figure, eq.attention_figure(view, args.scale)])
        save_png(figure, args.out)
    print(f"score {result.score:.4g} (identity {result.baseline_identity:.4g}, random "
          f"{result.baseline_random:.4g}); holes: {len(result.holes)}", file=sys.stderr)
    return 0
