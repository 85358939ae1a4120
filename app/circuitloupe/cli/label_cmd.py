"""circuitloupe label: create labeling sessions, and report and export their answers.

``label new`` scans (or reuses the cache for) a folder and samples a session stratified by
activation bin; labelling itself happens in the app's Labeling pane. ``label stats`` writes
the label-by-activation results (figure and JSON, with agreement between labellers) and
``label export`` the answers as CSV or JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitloupe.cli.common import (ProgressBar, add_model_arguments, add_scale_argument, open_model, run_task,
                                    write_outputs)
from circuitloupe.core.dataset import ScanSettings, scan
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling import (BUILTIN, DEFAULT_LABELLER, LabelSession, LabelSet, SamplingPlan,
                                        create_session, label_set_named, session_path)
from circuitloupe.core.labeling.figures import VIEWS
from circuitloupe.tasks import LabelStatsRequest


def register(commands) -> None:
    parser = commands.add_parser("label", help="labeling sessions: create, statistics, export")
    sub = parser.add_subparsers(dest="label_command", metavar="ACTION", required=True)

    new = sub.add_parser("new", help="scan a folder and sample a labeling session for a unit",
                         description="Sample dataset crops for a unit, stratified by activation bin, into a "
                                     "session file; label it in the app's Labeling pane.")
    new.add_argument("session", metavar="SESSION", help="session name (kept in the data folder) or a .labels path")
    new.add_argument("unit", metavar="UNIT", help="unit to label, e.g. mixed3b:379")
    new.add_argument("folder", metavar="DIR", help="folder of images (scanned, or the cache reused)")
    add_model_arguments(new)
    new.add_argument("--bin-width", type=float, default=100.0, help="activation bin width (default 100)")
    new.add_argument("--per-bin", type=int, default=50, help="items sampled per bin (default 50)")
    new.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    new.add_argument("--over", choices=("positions", "images"), default="positions",
                     help="sample receptive-field positions (default) or one maximum position per image")
    new.add_argument("--low", type=float, help="ignore values below this")
    new.add_argument("--high", type=float, help="ignore values at or above this")
    new.add_argument("--labels", default="curve",
                     help=f"label set: {', '.join(BUILTIN)} (default curve) or a text file of "
                          "'[*]name: description' lines")
    new.add_argument("--size", type=int, metavar="PX", help="scan input size (default: the model's)")
    new.add_argument("--resize", choices=("squash", "crop"), default="squash", help="how images are resized")
    new.add_argument("--workers", type=int, default=2, help="DataLoader decoding processes for the scan")
    new.add_argument("--overwrite", action="store_true", help="replace an existing session file")
    new.set_defaults(run=run_new)

    stats = sub.add_parser("stats", help="label proportions per activation bin, expected-value shares, agreement")
    stats.add_argument("session", metavar="SESSION")
    stats.add_argument("--labeller", default=DEFAULT_LABELLER, help=f"whose answers (default {DEFAULT_LABELLER})")
    stats.add_argument("--out", metavar="PNG", help="write the results figure")
    stats.add_argument("--view", choices=VIEWS, default="results", help="which figure --out writes")
    add_scale_argument(stats)
    stats.add_argument("--json", metavar="J", help="write the statistics as JSON (- for standard output)")
    stats.set_defaults(run=run_stats)

    export = sub.add_parser("export", help="export answers as CSV or JSON")
    export.add_argument("session", metavar="SESSION")
    export.add_argument("--csv", metavar="F", help="CSV file to write")
    export.add_argument("--json", metavar="F", help="JSON file to write")
    export.add_argument("--labeller", help="only this labeller's answers (default: everyone's)")
    export.set_defaults(run=run_export)


def run_new(args: argparse.Namespace) -> int:
    label_set = _label_set(args.labels)
    plan = SamplingPlan(args.bin_width, args.per_bin, args.seed, args.over, args.low, args.high)
    path = session_path(args.session)
    if path.exists() and not args.overwrite:
        raise UserError(f"{path} already exists; use --overwrite to replace it")
    model = open_model(args)
    settings = ScanSettings(size=(args.size, args.size) if args.size else None, resize=args.resize,
                            workers=args.workers)
    bar = ProgressBar("scan", unit="img")
    try:
        result = scan(model, args.unit, args.folder, settings, progress=bar)
    finally:
        bar.close()
    session = create_session(path, model, args.unit, result.cache, plan, label_set, weights=args.weights,
                             overwrite=args.overwrite)
    with session:
        bins = len({item.bin for item in session.items})
        print(f"{path}: {len(session.items)} items over {bins} bins of {plan.bin_width:g} "
              f"({result.scanned} images scanned, {result.reused} from the cache, {len(result.bad)} skipped)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    result = run_task(None, LabelStatsRequest.from_args(args), "stats")
    print("\n".join(result.lines()))
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


def _label_set(text: str) -> LabelSet:
    if text in BUILTIN:
        return label_set_named(text)
    path = Path(text)
    if not path.is_file():
        raise UserError(f"--labels is a built-in set ({', '.join(BUILTIN)}) or a text file; {text} is neither")
    return LabelSet.from_text(path.read_text(encoding="utf-8"), name=path.stem)
