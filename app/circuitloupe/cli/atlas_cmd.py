"""circuitloupe atlas: atlas: every unit of chosen layers summarised over any number of images.

Build an atlas (top/bottom examples, moments, histogram, exponential tail fit and a sample per unit,
in storage that does not grow with the images), query a unit, or export it as a static website. Run
build under torchrun to shard it over processes.
"""

from __future__ import annotations

import argparse
import os

from circuitloupe import tasks
from circuitloupe.cli import types
from circuitloupe.cli.common import (add_command, add_device_argument, add_model_arguments, add_scale_argument,
                                     open_model, require_output, run_task, write_json, write_outputs)
from circuitloupe.tasks import AtlasBuildRequest, AtlasExportRequest, AtlasQueryRequest, TaskContext


def register(commands) -> None:
    parser = add_command(commands, __doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build (or resume) an atlas",
                               description="Summarise every unit of --layers over the images. Rerunning the "
                                           "same command continues a stopped build from its checkpoints. "
                                           "Under `torchrun --nproc_per_node N -m circuitloupe atlas build ...` "
                                           "the images are shared between the processes.")
    add_model_arguments(build)
    build.add_argument("--images", type=types.text, required=True, metavar="DIR_OR_LIST",
                       help="a folder of images (recursive; sub-folders are classes) or a text file of paths")
    build.add_argument("--out", type=types.output_folder, required=True, metavar="ATLAS", help="atlas folder to write")
    build.add_argument("--layers", type=types.name_list, default="all", help="comma-separated layers, or all (default)")
    build.add_argument("--top", type=types.integer(1, 256), default=16, metavar="K", help="top and bottom examples per unit (default 16)")
    build.add_argument("--bins", type=types.integer(2, 10_000), default=100, help="histogram bins per unit (default 100)")
    build.add_argument("--reservoir", type=types.integer(1, 100_000), default=512, metavar="R",
                       help="sampled positions per layer, with every unit's value (default 512)")
    build.add_argument("--seed", type=types.SEED, default=0, help="seed of the sample and calibration (default 0)")
    build.add_argument("--batch-size", type=types.BATCH, default=32, help="images per forward pass (default 32)")
    build.add_argument("--workers", type=types.WORKERS, default=2, help="DataLoader decoding processes (default 2)")
    build.add_argument("--size", type=types.PIXELS, metavar="PX", help="input size in pixels (default: the model's)")
    build.add_argument("--resize", choices=("squash", "crop"), default="squash",
                       help="squash: resize whole images (default); crop: fit the shorter side, cut the centre")
    build.add_argument("--checkpoint-every", type=types.integer(1, 10_000_000), default=1000, metavar="N",
                       help="write a resumable checkpoint every N images per process (default 1000)")
    build.add_argument("--featvis", action="store_true",
                       help="also render every unit's feature visualisations (channel and centre neuron)")
    build.add_argument("--featvis-size", type=types.PIXELS, default=128, metavar="PX", help="visualisation size (default 128)")
    build.add_argument("--featvis-steps", type=types.integer(0, 100_000), default=256, help="visualisation steps (default 256)")
    build.add_argument("--json", type=types.output_or_stdout, metavar="REPORT", help="write the build report as JSON (- for standard output)")
    build.set_defaults(run=run_build)

    query = actions.add_parser("query", help="one unit of an atlas as JSON and/or a figure",
                               description="The unit's statistics, top and bottom examples (as `scan --json` "
                                           "writes them) and histogram; --out draws the histogram and the "
                                           "examples as receptive-field crops.")
    query.add_argument("atlas", type=types.input_folder, metavar="ATLAS", help="atlas folder")
    query.add_argument("unit", type=types.text, metavar="UNIT", help="a unit, e.g. mixed3b:379")
    _add_reopen_arguments(query)
    query.add_argument("--json", type=types.output_or_stdout, metavar="J", help="write the unit's summary as JSON (- for standard output)")
    query.add_argument("--out", type=types.output_file, metavar="PNG", help="write a figure (needs the atlas's model and images)")
    add_scale_argument(query)
    query.set_defaults(run=run_query)

    export = actions.add_parser("export", help="an atlas as a static website",
                                description="Write index.html, a page per layer and a page per unit into "
                                            "OUT_DIR; open index.html from the file system, no server needed.")
    export.add_argument("atlas", type=types.input_folder, metavar="ATLAS", help="atlas folder")
    export.add_argument("--html", type=types.output_folder, required=True, metavar="OUT_DIR", help="folder for the website")
    _add_reopen_arguments(export)
    export.set_defaults(run=run_export)


def _add_reopen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=types.text, help="the atlas's model (default: the one it was built with, if a zoo model)")
    parser.add_argument("--weights", type=types.text, help="the weights it was built with (default: as recorded in the atlas)")
    add_device_argument(parser)


def _atlas_model(args: argparse.Namespace):
    from circuitloupe.core.atlas import Atlas
    from circuitloupe.core.atlas.figures import open_model as open_atlas_model

    return open_atlas_model(Atlas(args.atlas), args.model, args.weights, args.device)


def run_build(args: argparse.Namespace) -> int:
    from circuitloupe.core.atlas.distributed import launched_by_torchrun

    request = AtlasBuildRequest.from_args(args)
    if launched_by_torchrun() and args.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():  # one GPU per process: "cuda" then means this rank's
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    result = run_task(open_model(args), request, "atlas", unit="img")
    if result.rank == 0:
        report = result.report
        rate = f" ({report.images_per_second:.1f} images/s)" if report.processed else ""
        print(f"{report.folder}: {report.images} images, {report.processed} run by this process{rate}, "
              f"{report.resumed} from checkpoints, {len(report.skipped)} skipped, {result.world} process(es)")
        for relpath, error in report.skipped:
            print(f"  skipped {relpath}: {error}")
        if args.json:
            write_json(args.json, result.to_json())
    return 0


def run_query(args: argparse.Namespace) -> int:
    require_output(args)
    request = AtlasQueryRequest.from_args(args)
    write_outputs(args, tasks.run(TaskContext(_atlas_model(args) if args.out else None), request))
    return 0


def run_export(args: argparse.Namespace) -> int:
    request = AtlasExportRequest.from_args(args)
    print(run_task(_atlas_model(args), request, "export", unit="unit").index)
    return 0
