"""circuitloupe scan: run an image folder through a model into the activation cache.

Scans (or reuses the cache for) a unit or a whole layer, then writes the summary statistics,
the top and bottom examples and the skipped files as JSON, and optionally a figure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from circuitloupe.cli import types
from circuitloupe.cli.common import ProgressBar, add_model_arguments, add_scale_argument, open_model, write_json
from circuitloupe.core.dataset import (DatasetCache, ScanResult, ScanSettings, describe, drop_cache, open_dataset,
                                       resolve_target, scan, unit_report)
from circuitloupe.core.dataset.figures import VIEWS, report_figure
from circuitloupe.core.errors import UserError
from circuitloupe.core.figures import save_png


def register(commands) -> None:
    parser = commands.add_parser("scan", help="scan an image folder for a unit or layer (cached)",
                                 description="Run every image under DIR (recursively) through the model and "
                                             "cache the unit's (or layer's) pre- and post-ReLU values at every "
                                             "position. A second scan reuses the cache and runs only new files.")
    parser.add_argument("target", type=types.text, metavar="UNIT_OR_LAYER",
                        help="a unit (mixed3b:379, 3b:379) or a layer (mixed3b)")
    parser.add_argument("folder", type=types.input_folder, metavar="DIR",
                        help="folder of images (JPEG, PNG, WebP, BMP, TIFF), recursive")
    add_model_arguments(parser)
    parser.add_argument("--json", type=types.output_or_stdout, metavar="STATS",
                        help="write statistics, examples and skipped files as JSON (- for standard output)")
    parser.add_argument("--out", type=types.output_file, metavar="PNG", help="write a figure of the unit (see --view)")
    parser.add_argument("--view", choices=VIEWS, default="summary", help="which figure --out writes (default summary)")
    add_scale_argument(parser)
    parser.add_argument("--top", type=types.TOP, default=9, metavar="K",
                        help="top and bottom examples to report (default 9)")
    parser.add_argument("--size", type=types.PIXELS, metavar="PX", help="input size in pixels (default: the model's)")
    parser.add_argument("--resize", choices=("squash", "crop"), default="squash",
                        help="squash: resize whole images (default); crop: fit the shorter side, cut the centre")
    parser.add_argument("--batch-size", type=types.BATCH, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--workers", type=types.WORKERS, default=2,
                        help="DataLoader decoding processes (default 2; 0 = none)")
    parser.add_argument("--whole-layer", action="store_true", help="for a unit, cache its whole layer")
    parser.add_argument("--rescan", action="store_true", help="drop the cache for this scan and start over")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = open_model(args)
    settings = ScanSettings(size=(args.size, args.size) if args.size else None, resize=args.resize,
                            batch_size=args.batch_size, workers=args.workers)
    target = resolve_target(model, args.target, whole_layer=args.whole_layer)
    if (args.out or args.top != 9) and target.unit is None:
        raise UserError("--out and --top need a unit (layer:channel), not a whole layer")
    if args.rescan:
        old = open_dataset(model, target, args.folder, settings)
        if old is not None:
            drop_cache(old)
    bar = ProgressBar("scan", unit="img")
    try:
        result = scan(model, target, args.folder, settings, progress=bar)
    finally:
        bar.close()
    for warning in result.warnings:
        print(f"circuitloupe: warning: {warning}", file=sys.stderr)
    print(_summary_line(result))
    for relpath, error in result.bad:
        print(f"  skipped {relpath}: {error}")
    if target.unit is not None:
        report = unit_report(model, result.cache, target.unit.channel, k=args.top)
        stats = report.stats
        fit = f", exponential tail rate {report.fit.rate:.4g}" if report.fit else ""
        print(f"{target.unit}: mean {stats.get('mean', 0):.4g}, firing {stats.get('fraction_firing', 0):.1%} "
              f"of {stats.get('count', 0)} positions{fit}")
        data = {**report.to_json(), **_scan_json(result)}
        if args.out:
            save_png(report_figure(report, args.view, args.scale), args.out)
    else:
        data = {"layer": target.layer, **_scan_json(result), "channels": _layer_stats(result.cache)}
    if args.json:
        write_json(args.json, data)
    return 0


def _summary_line(result: ScanResult) -> str:
    rate = f" ({result.images_per_second:.1f} images/s)" if result.scanned else ""
    return (f"{result.scanned} images scanned{rate}, {result.reused} from the cache, "
            f"{len(result.bad)} skipped, {len(result.ignored)} other files ignored")


def _scan_json(result: ScanResult) -> dict[str, Any]:
    return {"scanned": result.scanned, "reused": result.reused, "seconds": result.seconds,
            "cache": str(result.cache.folder),
            "skipped": [{"file": f, "error": e} for f, e in result.bad], "ignored": result.ignored}


def _layer_stats(cache: DatasetCache) -> list[dict[str, Any]]:
    rows = []
    for channel in cache.channels:
        values = cache.values(channel, "pre")
        stats = describe(values)
        rows.append({"channel": channel, **{k: stats[k] for k in ("mean", "std", "max", "fraction_firing")
                                            if k in stats},
                     "max_per_image_mean": float(np.max(values, axis=(1, 2)).mean()) if values.size else 0.0})
    return rows
