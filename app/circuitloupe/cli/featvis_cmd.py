"""circuitloupe featvis: feature visualisations of units as PNGs, with objective statistics."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from circuitloupe.cli import types
from circuitloupe.cli.common import ProgressBar, add_model_arguments, add_scale_argument, open_model, write_json
from circuitloupe.core.activations import capture
from circuitloupe.core.featurevis.cache import DIVERSITY_WEIGHT, Settings, UnitVis, visualise_units
from circuitloupe.core.featurevis.figures import single_image, unit_grid
from circuitloupe.core.featurevis.objectives import OBJECTIVE_KINDS, for_unit
from circuitloupe.core.figures import save_png
from circuitloupe.core.models import LoadedModel
from circuitloupe.core.units import parse_unit_list


def register(commands) -> None:
    parser = commands.add_parser(
        "featvis", help="feature visualisation: optimise images that excite units",
        description="Render feature visualisations of units in one batch (cached per model, unit and "
                    "settings). --out FILE.png writes one image, or a labelled grid for several; "
                    "--out FOLDER writes one PNG per image.")
    parser.add_argument("units", type=types.name_list, nargs="+", metavar="UNIT",
                        help="units, e.g. mixed3b:379 or mixed3a:81,147,145")
    add_model_arguments(parser)
    parser.add_argument("--steps", type=types.integer(0, 100_000), default=256,
                        help="optimisation steps, 0 to 100000 (default 256)")
    parser.add_argument("--size", type=types.PIXELS, default=128,
                        help=f"image size in pixels, {types.PIXELS.describe()} (default 128)")
    parser.add_argument("--seed", type=types.SEED, default=0, help="random seed (default 0)")
    parser.add_argument("--objective", choices=OBJECTIVE_KINDS, default="channel",
                        help="channel: mean over positions; neuron: centre position; direction: cosine "
                             "with the unit's one-hot direction")
    parser.add_argument("--diversity", type=types.integer(1, 64), default=1, metavar="K",
                        help="K diverse images per unit (a Gram-matrix diversity term pushes them apart)")
    parser.add_argument("--no-transforms", action="store_true", help="optimise without transformation robustness")
    parser.add_argument("--param", choices=("fourier", "pixel"), default="fourier", help="image parameterisation")
    parser.add_argument("--no-cache", action="store_true", help="render even when a cached image exists")
    add_scale_argument(parser)
    parser.add_argument("--out", type=types.png_or_folder, required=True,
                        help="output .png (one image or a grid), or a folder")
    parser.add_argument("--json", type=types.output_or_stdout, metavar="STATS",
                        help="write per-unit statistics as JSON (- for stdout)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    model = open_model(args)
    units = [model.catalogue.unit(u) for u in parse_unit_list(" ".join(args.units))]
    settings = Settings(size=args.size, steps=args.steps, seed=args.seed, objective=args.objective,
                        diversity=args.diversity, transforms="none" if args.no_transforms else "standard",
                        param=args.param)
    bar = ProgressBar("featvis")
    started = time.perf_counter()
    try:
        results = visualise_units(model, units, settings, progress=bar, use_cache=not args.no_cache)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    files = write_images(results, out, args.scale)
    for path in dict.fromkeys(files):
        print(path)
    if args.json:
        write_json(args.json, statistics(model, results, settings, files, seconds))
    return 0


def write_images(results: list[UnitVis], out: Path, scale: float) -> list[str]:
    """Write the images; returns the file written for each image, in unit order."""
    count = sum(len(r.images) for r in results)
    if out.suffix.lower() == ".png":
        figure = single_image(results[0].images[0], scale) if count == 1 else unit_grid(results, scale)
        save_png(figure, out)
        return [str(out)] * count
    out.mkdir(exist_ok=True)
    files = []
    for r in results:
        for k, image in enumerate(r.images):
            name = f"{r.unit.layer}_{r.unit.channel}" + (f"_{k + 1}" if len(r.images) > 1 else "") + ".png"
            save_png(single_image(image, scale), out / name)
            files.append(str(out / name))
    return files


def statistics(model: LoadedModel, results: list[UnitVis], settings: Settings, files: list[str],
               seconds: float) -> dict:
    """Per unit and image: objective value at the start and end, and the unit's activation on the
    final image (at the centre and averaged over positions)."""
    units, n = [], 0
    for r in results:
        maps = capture(model, torch.as_tensor(r.images).permute(0, 3, 1, 2), [r.unit.layer])[r.unit.layer]
        unit_maps = maps[:, r.unit.channel]
        h, w = unit_maps.shape[1:]
        images = []
        for k in range(len(r.images)):
            images.append({
                "index": k,
                "file": files[n],
                "objective_start": _number(r.start_values[k]),
                "objective_end": _number(r.end_values[k]),
                "activation": float(unit_maps[k, h // 2, w // 2]),
                "activation_mean": float(unit_maps[k].mean()),
            })
            n += 1
        objective = for_unit(r.unit, settings.objective, DIVERSITY_WEIGHT if settings.diversity > 1 else 0.0)
        units.append({"unit": str(r.unit), "objective": objective.name, "cached": r.cached, "images": images})
    return {"model": model.spec, "weights": model.weights_id, "settings": vars_of(settings),
            "seconds": round(seconds, 3), "units": units}


def vars_of(settings: Settings) -> dict:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
