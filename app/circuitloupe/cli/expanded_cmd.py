"""circuitloupe expanded: a unit's top input units from an earlier layer by expanded-weight norm."""

from __future__ import annotations

import argparse

from circuitloupe.cli import types
from circuitloupe.cli.common import (ProgressBar, add_model_arguments, add_scale_argument, add_thumbnail_argument,
                                    open_model, require_output, write_json)
from circuitloupe.core.figures import save_png
from circuitloupe.core.units import UnitRef
from circuitloupe.core.weights import (bottleneck_applies, cached_thumbnails, expanded_figure, expanded_weights,
                                       kernels_json, ranked_kernels, render_missing_thumbnails)


def register(commands) -> None:
    parser = commands.add_parser("expanded", help="expanded weights into a unit from an earlier layer (top-k PNG)")
    add_model_arguments(parser)
    parser.add_argument("src_layer", type=types.text, metavar="SRC_LAYER", help="the earlier layer, e.g. mixed3a")
    parser.add_argument("unit", type=types.text, metavar="UNIT", help="the later unit, e.g. mixed3b:379")
    parser.add_argument("--top", type=types.TOP, default=8, help="how many input units to show (default 8)")
    parser.add_argument("--method", choices=("auto", "gradient", "product"), default="auto",
                        help="product: exact InceptionV1 bottleneck product; gradient: linearised-model gradient; "
                             "auto: the product where it applies (default)")
    parser.add_argument("--out", type=types.output_file, help="output PNG")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="ranked input units with norms and kernels (- for stdout)")
    add_scale_argument(parser)
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_output(args)
    model = open_model(args)
    unit = model.catalogue.unit(UnitRef.parse(args.unit))
    src = model.catalogue.layer(args.src_layer).name
    method = args.method
    if method == "auto":
        method = "product" if bottleneck_applies(model, unit, src) else "gradient"
    weights = expanded_weights(model, unit, src, method=method)
    ranked = ranked_kernels(weights, src, args.top)
    if args.out:
        inputs = [u for u, _, _ in ranked]
        if args.render_thumbnails:
            bar = ProgressBar("thumbnails")
            try:
                thumbs = render_missing_thumbnails(model, inputs, progress=bar)
            finally:
                bar.close()
        else:
            thumbs = cached_thumbnails(model, inputs)
        save_png(expanded_figure(ranked, unit, thumbs, scale=args.scale), args.out)
    if args.json:
        write_json(args.json, {"model": model.spec, "unit": str(unit), "src_layer": src, "method": method,
                               "kernel_shape": list(weights.shape[1:]), "inputs": kernels_json(ranked)})
    if args.json != "-":
        for input_unit, norm, _ in ranked:
            print(f"{input_unit}\t{norm:.6g}")
    return 0
