"""circuitloupe circuit: the expanded-weight grid between two families of units."""

from __future__ import annotations

import argparse

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import (ProgressBar, add_model_arguments, add_scale_argument, add_thumbnail_argument,
                                    open_model, require_output, write_json)
from circuitloupe.core.figures import save_png
from circuitloupe.core.units import parse_unit_list
from circuitloupe.core.weights import (cached_thumbnails, circuit_figure, circuit_weights,
                                       render_missing_thumbnails)


def register(commands) -> None:
    parser = commands.add_parser("circuit", help="circuit grid of expanded weights between two families (PNG)")
    add_model_arguments(parser)
    parser.add_argument("src_units", type=types.name_list, metavar="SRC_UNITS",
                        help="earlier units (columns), e.g. mixed3a:81,147,145,71")
    parser.add_argument("dst_units", type=types.name_list, metavar="DST_UNITS",
                        help="later units (rows), e.g. mixed3b:342,385,379,330")
    parser.add_argument("--out", type=types.output_file, help="output PNG")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="PATH",
                        help="the weights [rows, columns, kh, kw] as JSON (- for stdout)")
    parser.add_argument("--magnitude", action="store_true", help="show |w| in grey instead of red/blue")
    add_scale_argument(parser)
    add_thumbnail_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require_output(args)
    model = open_model(args)
    catalogue = model.catalogue
    sources = [catalogue.unit(u) for u in parse_unit_list(args.src_units)]
    targets = [catalogue.unit(u) for u in parse_unit_list(args.dst_units)]
    bar = ProgressBar("circuit")
    try:
        grid = circuit_weights(model, sources, targets, progress=bar)
        if args.out:
            units = [*sources, *targets]
            thumbs = (render_missing_thumbnails(model, units, progress=bar) if args.render_thumbnails
                      else cached_thumbnails(model, units))
            save_png(circuit_figure(grid, sources, targets, magnitude=args.magnitude, thumbnails=thumbs,
                                    scale=args.scale), args.out)
    finally:
        bar.close()
    if args.json:
        write_json(args.json, {"model": model.spec, "rows": [str(u) for u in targets],
                               "columns": [str(u) for u in sources], "shape": list(grid.shape),
                               "max_abs": float(np.abs(grid).max()), "weights": np.round(grid, 7)})
    if args.json != "-":
        print(f"{len(targets)} x {len(sources)} cells of {grid.shape[2]}x{grid.shape[3]}, "
              f"max |w| {np.abs(grid).max():.4g}")
    return 0
