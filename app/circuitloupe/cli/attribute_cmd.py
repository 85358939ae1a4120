"""circuitloupe attribute: input attribution, w * x to an earlier layer, and curve extraction."""

from __future__ import annotations

import argparse
import io

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import (IMAGE_HELP, ProgressBar, add_model_arguments, add_scale_argument, open_model,
                                    read_image, write_json)
from circuitloupe.core.attribution import (BASELINES, METHODS, FamilyTarget, attribute_details, direction_target,
                                           earlier_contributions, extract_curves, parse_position, parse_target)
from circuitloupe.core.attribution.figures import OVERLAY_MODES, curve_figure, overlay_figure, ranking_figure
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import save_png
from circuitloupe.core.paths import atomic_write_bytes
from circuitloupe.core.units import parse_unit_list
from circuitloupe.core.weights import cached_thumbnails


def register(commands) -> None:
    parser = commands.add_parser(
        "attribute", help="which pixels (or earlier units) drive a unit on an image",
        description="Input attribution of UNIT on IMAGE (PNG overlay); with --to-layer, the unit's w * x "
                    "from an earlier layer, ranked; with --curves, a family's curve map beside Canny edges.")
    add_model_arguments(parser)
    parser.add_argument("unit", type=types.text, metavar="UNIT",
                        help="layer:channel (e.g. mixed3b:379), a family mixed3b:379,406,385 (sum of their "
                             "maps) or class:N (a logit)")
    parser.add_argument("image", type=types.text, metavar="IMAGE", help=IMAGE_HELP)
    parser.add_argument("--method", choices=METHODS,
                        help="attribution method (default ig; input_x_gradient with --curves)")
    parser.add_argument("--direction", type=types.input_file, metavar="NPY",
                        help="explain a direction: UNIT is then a layer and NPY holds one weight per channel")
    parser.add_argument("--whole-map", action="store_true", help="attribute the unit's whole map, not one position")
    parser.add_argument("--position", type=types.position, help="centre (default), max, or ROW,COL in the unit's layer")
    parser.add_argument("--baseline", default="black", choices=BASELINES, help="integrated-gradients baseline")
    parser.add_argument("--steps", type=types.integer(1, 1024), default=32,
                        help="integrated-gradients steps (default 32)")
    parser.add_argument("--batch", type=types.BATCH, default=8, help="images per forward pass for integrated gradients")
    parser.add_argument("--blur-sigma", type=types.SIGMA, help="blurred baseline's sigma in pixels")
    parser.add_argument("--seed", type=types.SEED, default=0, help="seed of the noise baseline")
    parser.add_argument("--layer", type=types.text, help="Grad-CAM layer (default: the deepest block before the unit)")
    parser.add_argument("--size", type=types.PIXELS,
                        help="analyse at SIZExSIZE pixels (default: the model's input size)")
    parser.add_argument("--to-layer", type=types.text, metavar="LAYER",
                        help="rank the earlier units of LAYER by their w * x")
    parser.add_argument("--top", type=types.TOP, default=10, help="earlier units listed per sign (default 10)")
    parser.add_argument("--post-relu", action="store_true", help="attribute the post-ReLU value (default pre-ReLU)")
    parser.add_argument("--curves", action="store_true", help="curve extraction: UNIT's family map beside Canny edges")
    parser.add_argument("--canny-sigma", type=types.SIGMA, default=2.0, help="Canny Gaussian sigma in pixels")
    parser.add_argument("--canny-low", type=types.FRACTION, default=0.05, help="Canny low threshold (gray in [0, 1])")
    parser.add_argument("--canny-high", type=types.FRACTION, default=0.15, help="Canny high threshold")
    parser.add_argument("--curve-threshold", type=types.FRACTION, default=0.25, help="curve-map level counted as curve")
    parser.add_argument("--absolute", action="store_true", help="draw |attribution| (magma) instead of signed")
    parser.add_argument("--opacity", type=types.FRACTION, default=0.6, help="overlay opacity in [0, 1]")
    parser.add_argument("--clip", type=types.PERCENTILE, default=99.5, help="saturate beyond this percentile of |map|")
    parser.add_argument("--mode", default="side_by_side", choices=OVERLAY_MODES, help="figure layout")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.output_file, help="PNG figure to write")
    parser.add_argument("--json", type=types.output_or_stdout,
                        help="write numbers as JSON to this path ('-' = standard output)")
    parser.add_argument("--npy", type=types.output_file, help="save the attribution map (or w * x [C, h, w]) as .npy")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    pixels = read_image(args.image)  # fails fast with one line before the model loads
    if args.to_layer and args.curves:
        raise UserError("use either --to-layer or --curves, not both")
    model = open_model(args)
    size = (args.size, args.size) if args.size else None
    if args.to_layer:
        return _to_layer(args, model, pixels, size)
    if args.curves:
        return _curves(args, model, pixels, size)
    if args.direction:
        target = direction_target(model, args.unit, _load_vector(args.direction), parse_position(args.position),
                                  args.whole_map)
    else:
        target = parse_target(model, args.unit, whole_map=args.whole_map, position=parse_position(args.position))
    method = args.method or "ig"
    bar = ProgressBar(f"attribute {method}", unit="img")
    try:
        result = attribute_details(model, pixels, target, method, size=size, baseline=args.baseline,
                                   steps=args.steps, internal_batch_size=args.batch, blur_sigma=args.blur_sigma,
                                   seed=args.seed, layer=args.layer, progress=bar)
    finally:
        bar.close()
    title = f"{result.target}: {result.method}" + (f" at {result.layer}" if result.layer else "") + \
        f" (value {result.value:.4g})"
    if args.out:
        save_png(overlay_figure(result.image, result.map, title, signed=not args.absolute, opacity=args.opacity,
                                clip_percentile=args.clip, mode=args.mode, scale=args.scale), args.out)
    if args.npy:
        _save_npy(args.npy, result.map)
    summary = {"model": model.spec, "weights": model.weights_id, "image": args.image, **result.summary()}
    _report(args, summary, f"{title}; sum {summary['sum']:.4g}" + (
        f", completeness gap {result.completeness_gap:.3g}" if result.completeness_gap is not None else ""))
    return 0


def _to_layer(args: argparse.Namespace, model, pixels: np.ndarray, size) -> int:
    units = parse_unit_list(args.unit)
    if len(units) != 1:
        raise UserError("--to-layer takes one unit, not a family")
    contributions = earlier_contributions(model, pixels, units[0], args.to_layer, parse_position(args.position),
                                          size=size, pre_relu=not args.post_relu)
    if args.out:
        ranked = contributions.ranked(1, args.top) + contributions.ranked(-1, args.top)
        thumbs = cached_thumbnails(model, [c.unit for c in ranked])
        save_png(ranking_figure(contributions, args.top, thumbs, scale=args.scale), args.out)
    if args.npy:
        _save_npy(args.npy, contributions.wx)
    summary = {"model": model.spec, "weights": model.weights_id, "image": args.image,
               **contributions.summary(args.top)}
    best = summary["positive"][0]["unit"] if summary["positive"] else "none"
    _report(args, summary, f"{contributions.unit} <- {contributions.source_layer}: value {contributions.value:.4g}, "
                           f"strongest excitatory {best}")
    return 0


def _curves(args: argparse.Namespace, model, pixels: np.ndarray, size) -> int:
    target = parse_target(model, args.unit)
    units = target.units if isinstance(target, FamilyTarget) else getattr(target, "unit", None)
    if units is None:
        raise UserError("--curves needs units (a family such as mixed3b:379,406,385), not a class")
    units = units if isinstance(units, tuple) else (units,)
    method = args.method or "input_x_gradient"
    bar = ProgressBar("curves", unit="img")
    try:
        extraction = extract_curves(model, pixels, units, method, size=size, curve_threshold=args.curve_threshold,
                                    canny_sigma=args.canny_sigma, canny_low=args.canny_low,
                                    canny_high=args.canny_high, clip_percentile=args.clip, steps=args.steps,
                                    internal_batch_size=args.batch, baseline=args.baseline, progress=bar)
    finally:
        bar.close()
    if args.out:
        save_png(curve_figure(extraction, scale=args.scale), args.out)
    if args.npy:
        _save_npy(args.npy, extraction.curve_map)
    summary = {"model": model.spec, "weights": model.weights_id, "image": args.image, **extraction.summary()}
    _report(args, summary, f"curve map of {len(units)} units: {extraction.agreement:.0%} of curve pixels "
                           f"near a Canny edge")
    return 0


def _report(args: argparse.Namespace, summary: dict, line: str) -> None:
    if args.json:
        write_json(args.json, summary)
    if args.json != "-":
        print(line + (f"; wrote {args.out}" if args.out else ""))


def _load_vector(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the direction {path}: {error}") from None


def _save_npy(path: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    atomic_write_bytes(path, buffer.getvalue())
