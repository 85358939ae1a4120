"""circuitloupe label: create labeling sessions, and report and export their answers.

``label new`` scans (or reuses the cache for) a folder, or reads an atlas's sample of
positions (``--atlas``), and samples a session stratified by activation bin; labelling
itself happens in the app's Labeling pane. ``label stats`` writes
the label-by-activation results (figure and JSON, with agreement between labellers) and
``label export`` the answers as CSV or JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from circuitloupe.cli import types
from circuitloupe.cli.common import (ProgressBar, add_model_arguments, add_scale_argument, open_model, run_task,
                                     write_outputs)
from circuitloupe.core.atlas import Atlas
from circuitloupe.core.dataset import ScanSettings, resolve_target, scan
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling import (BUILTIN, DEFAULT_LABELLER, LabelSession, SamplingPlan, create_session,
                                        session_path)
from circuitloupe.core.labeling.session import create_session_from_atlas
from circuitloupe.core.labeling.figures import VIEWS
from circuitloupe.core.labeling.labelsets import read_label_set
from circuitloupe.core.labeling.sampling import DEFAULT_BINS
from circuitloupe.tasks import LabelStatsRequest


def register(commands) -> None:
    parser = commands.add_parser("label", help="labeling sessions: create, statistics, export")
    sub = parser.add_subparsers(dest="label_command", metavar="ACTION", required=True)

    new = sub.add_parser("new", help="scan a folder and sample a labeling session for a unit",
                         description="Sample dataset crops for a unit, stratified by activation bin, into a "
                                     "session file; label it in the app's Labeling pane.")
    new.add_argument("session", type=types.text, metavar="SESSION",
                     help="session name (kept in the data folder) or a .labels path")
    new.add_argument("unit", type=types.text, metavar="UNIT", help="unit to label, e.g. mixed3b:379")
    new.add_argument("folder", type=types.input_folder, metavar="DIR", nargs="?",
                     help="folder of images (scanned, or the cache reused); not with --atlas")
    new.add_argument("--atlas", type=types.text, metavar="ATLAS",
                     help="sample from this atlas's sample of positions instead of scanning a folder")
    add_model_arguments(new)
    new.add_argument("--bin-width", type=types.number(1e-3, 1e9),
                     help="activation bin width, 0.001 to 1e9 (default: a round width giving about --bins bins "
                          "over the unit's observed range; the article used 100 for mixed3b:379)")
    new.add_argument("--bins", type=types.integer(2, 1000), default=DEFAULT_BINS,
                     help=f"about how many bins the default width gives (default {DEFAULT_BINS})")
    new.add_argument("--per-bin", type=types.integer(1, 100_000), default=50, help="items sampled per bin (default 50)")
    new.add_argument("--seed", type=types.SEED, default=0, help="sampling seed (default 0)")
    new.add_argument("--over", choices=("positions", "images"), default="positions",
                     help="sample receptive-field positions (default) or one maximum position per image")
    new.add_argument("--low", type=types.FINITE, help="ignore values below this")
    new.add_argument("--high", type=types.FINITE, help="ignore values at or above this")
    new.add_argument("--labels", type=types.label_set, default="curve",
                     help=f"label set: {', '.join(BUILTIN)} (default curve) or a text file of "
                          "'[*]name: description' lines")
    new.add_argument("--size", type=types.PIXELS, metavar="PX", help="scan input size (default: the model's)")
    new.add_argument("--resize", choices=("squash", "crop"), default="squash", help="how images are resized")
    new.add_argument("--workers", type=types.WORKERS, default=2, help="DataLoader decoding processes for the scan")
    new.add_argument("--overwrite", action="store_true", help="replace an existing session file")
    new.set_defaults(run=run_new)

    stats = sub.add_parser("stats", help="label proportions per activation bin, expected-value shares, agreement")
    stats.add_argument("session", type=types.text, metavar="SESSION")
    stats.add_argument("--labeller", type=types.text, default=DEFAULT_LABELLER,
                       help=f"whose answers (default {DEFAULT_LABELLER})")
    stats.add_argument("--out", type=types.output_file, metavar="PNG", help="write the results figure")
    stats.add_argument("--view", choices=VIEWS, default="results", help="which figure --out writes")
    add_scale_argument(stats)
    stats.add_argument("--json", type=types.output_or_stdout, metavar="J",
                       help="write the statistics as JSON (- for standard output)")
    stats.set_defaults(run=run_stats)

    export = sub.add_parser("export", help="export answers as CSV or JSON")
    export.add_argument("session", type=types.text, metavar="SESSION")
    export.add_argument("--csv", type=types.output_file, metavar="F", help="CSV file to write")
    export.add_argument("--json", type=types.output_file, metavar="F", help="JSON file to write")
    export.add_argument("--labeller", type=types.text, help="only this labeller's answers (default: everyone's)")
    export.set_defaults(run=run_export)


def run_new(args: argparse.Namespace) -> int:
    """Everything is checked before the scan, and an old session is replaced only by a complete new one."""
    label_set = read_label_set(args.labels)
    plan = SamplingPlan(args.bin_width, args.per_bin, args.seed, args.over, args.low, args.high, args.bins)
    path = session_path(args.session)
    if path.exists() and not args.overwrite:
        raise UserError(f"{path} already exists; use --overwrite to replace it")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a session file")
    if args.atlas is not None:
        if args.folder is not None:
            raise UserError("give a folder to scan or --atlas, not both")
        atlas = Atlas(args.atlas)
        with create_session_from_atlas(path, open_model(args), args.unit, atlas, plan, label_set,
                                       weights=args.weights, overwrite=args.overwrite) as session:
            _print_created(path, session, f"from the atlas {atlas.folder}'s sample, no scan")
        return 0
    if args.folder is None or not Path(args.folder).is_dir():
        raise UserError(f"{args.folder} is not a folder of images" if args.folder else
                        "give the folder of images to scan (or --atlas ATLAS)")
    model = open_model(args)
    target = resolve_target(model, args.unit)
    if target.unit is None:
        raise UserError(f"a labeling session needs a unit (layer:channel), not the layer {target.layer}")
    settings = ScanSettings(size=(args.size, args.size) if args.size else None, resize=args.resize,
                            workers=args.workers)
    bar = ProgressBar("scan", unit="img")
    try:
        result = scan(model, target, args.folder, settings, progress=bar)
    finally:
        bar.close()
    for warning in result.warnings:
        print(f"circuitloupe: warning: {warning}", file=sys.stderr)
    session = create_session(path, model, target.unit, result.cache, plan, label_set, weights=args.weights,
                             overwrite=args.overwrite)
    with session:
        _print_created(path, session, f"{result.scanned} images scanned, {result.reused} from the cache, "
                                      f"{len(result.bad)} skipped")
    return 0


def _print_created(path: Path, session: LabelSession, source: str) -> None:
    bins = len({item.bin for item in session.items})
    print(f"{path}: {len(session.items)} items over {bins} bins of {session.info.plan.bin_width:g} ({source})")


def run_stats(args: argparse.Namespace) -> int:
    result = run_task(None, LabelStatsRequest.from_args(args), "stats")
    print("\n".join(result.lines()))
    for warning in result.support.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    write_outputs(args, result)
    return 0


def run_export(args: argparse.Namespace) -> int:
    if not args.csv and not args.json:
        raise UserError("say where to write: --csv FILE and/or --json FILE")
    with LabelSession(session_path(args.session)) as session:
        if args.csv:
            print(f"{session.export_csv(args.csv, args.labeller)} answers written to {args.csv}")
        if args.json:
            print(f"{session.export_json(args.json, args.labeller)} answers written to {args.json}")
    return 0
