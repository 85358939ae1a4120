"""circuitloupe weights: a first-layer conv's filters as a grid of RGB images, or, for p4 group
CNNs, each filter's four rotated copies side by side."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import add_model_arguments, add_scale_argument, open_model, write_json
from circuitloupe.core.figures import save_png
from circuitloupe.core.models import LoadedModel
from circuitloupe.core.weights import (filter_grid_figure, first_layer_filters, group_layers, input_channel_note,
                                       is_group_layer, rotated_copies_figure, rotated_kernels, select_input_channel)


def register(commands) -> None:
    parser = commands.add_parser("weights", help="first-layer filters (3 input channels) as an RGB grid PNG, or "
                                                 "a group layer's rotated filter copies")
    add_model_arguments(parser)
    parser.add_argument("layer", type=types.text, nargs="?", metavar="LAYER",
                        help="conv layer (or its ReLU) with 3 input channels, or a p4 group layer; default: the "
                             "first 3-channel conv (group models: the first group layer)")
    parser.add_argument("--out", type=types.output_file, required=True, help="output PNG")
    parser.add_argument("--shared-scale", action="store_true",
                        help="one colour scale for all filters (default: each filter scaled to its own max |w|); "
                             "rotated copies always share one scale")
    parser.add_argument("--columns", type=types.integer(1, 256), help="tiles per row (RGB filters)")
    parser.add_argument("--input-channel", type=types.integer(0, 1_000_000), metavar="N",
                        help="group layers: show input channel N's [4, k, k] slice (default: the sum over input "
                             "channels)")
    add_scale_argument(parser)
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="also write the raw filters [N, kh, kw, 3] (group layers: the rotated copies "
                             "[C_out, 4, J, kh, kw]) as JSON (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    layer = args.layer or next(iter(group_layers(model)), None)
    if layer is not None and is_group_layer(model, layer):
        return _run_rotated(args, model, layer)
    filters = first_layer_filters(model, args.layer)
    title = f"{model.name} {args.layer or 'first layer'}: {len(filters)} filters " \
            f"({'shared' if args.shared_scale else 'per-filter'} scaling)"
    image = filter_grid_figure(filters, per_filter_scaling=not args.shared_scale, scale=args.scale,
                               columns=args.columns, title=title)
    save_png(image, args.out)
    if args.json:
        write_json(args.json, {"model": model.spec, "layer": args.layer, "filters": filters})
    print(f"{len(filters)} filters of {filters.shape[1]}x{filters.shape[2]} -> {args.out}")
    return 0


def _run_rotated(args: argparse.Namespace, model: LoadedModel, layer: str) -> int:
    """A group layer: rows = filters, columns = rotations r = 0..3, one shared scale."""
    kernels = rotated_kernels(model, layer)
    copies = select_input_channel(kernels, args.input_channel)
    inputs = input_channel_note(kernels.shape[2], args.input_channel)
    title = f"{model.name} {layer}: {len(copies)} filters x 4 rotations{inputs}"
    save_png(rotated_copies_figure(copies, scale=args.scale, title=title), args.out)
    if args.json:
        write_json(args.json, {"model": model.spec, "layer": layer, "input_channel": args.input_channel,
                               "shape": list(copies.shape), "copies": copies})
    per_copy = f"{copies.shape[3]}x{copies.shape[4]}" + (f" x {copies.shape[2]} input rotations"
                                                         if copies.shape[2] > 1 else "")
    print(f"{len(copies)} filters x 4 rotations of {per_copy}{inputs} -> {args.out}")
    return 0
