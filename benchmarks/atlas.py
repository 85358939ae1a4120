"""Atlas build throughput against a bare batched forward loop, and the atlas's size per image count.

Generates (once) a folder of 224 px JPEGs, then times (1) a bare loop: the same DataLoader
(workers, batches, decoding) and a forward pass to the atlas's layers, nothing kept; (2) an
atlas build of the same images and layers. Then it measures the atlas folder: the summary
files (fixed: they depend on the layers, K, bins and the sample size only) and the per-file
index (bytes per image), and extrapolates ``size(N) = fixed + N * index_bytes_per_image``.
The build includes a one-off calibration pass over 32 images (the histogram ranges); the
ratio is reported with and without it, since it vanishes for a real dataset. ``--repeat N``
alternates the two N times and keeps each one's fastest run (a shared machine's load comes and goes).
Both are also timed in CPU seconds of this process (decoding runs in the DataLoader's workers, so
it is left out of both): on a busy machine that ratio is the steadier one. ``--per-batch`` times
instead, in this process and without the loader, the forward pass of a batch of random pixels and
then the summaries of that batch, the fastest of 3 batches each.

    python benchmarks/atlas.py [--model inceptionv1 --weights random:0] [--images 64] [--batch 32]
                               [--layers mixed3a,...,mixed5b] [--workers 2] [--repeat 1] [--json out.json]

CPU unless --device says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))
from scan import make_images  # noqa: E402  (the scan benchmark's image generator)

from circuitloupe.core.activations import forward_until  # noqa: E402
from circuitloupe.core.atlas import BuildSettings, build_atlas, layer_specs  # noqa: E402
from circuitloupe.core.atlas import build as build_module  # noqa: E402
from circuitloupe.core.atlas.sources import list_images  # noqa: E402
from circuitloupe.core.dataset.folder import ImageFolderData, collate_decoded  # noqa: E402
from circuitloupe.core.models import load_model, pick_device  # noqa: E402

INCEPTION_LAYERS = "mixed3a,mixed3b,mixed4a,mixed4b,mixed4c,mixed4d,mixed4e,mixed5a,mixed5b"


def bare_loop(model, folder: Path, settings: BuildSettings) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) for decoding and a forward pass to the layers, batch by
    batch, nothing kept."""
    images = list_images(folder)
    size = tuple(model.input_size)
    sources = sorted({s.source for s in layer_specs(model, settings.layers, size)})
    data = ImageFolderData(images.root, images.paths, size, settings.resize, model.in_channels)
    loader = DataLoader(data, batch_size=settings.batch_size, num_workers=settings.workers,
                        collate_fn=collate_decoded)
    started, cpu = time.perf_counter(), time.process_time()
    for _, batch, _ in loader:
        found = forward_until(model, batch, sources)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        del found
    return time.perf_counter() - started, time.process_time() - cpu


def per_batch(model, settings: BuildSettings, batches: int = 3) -> tuple[float, float]:
    """Seconds (fastest of ``batches``) of one batch's forward pass and of its summaries."""
    import numpy as np

    from circuitloupe.core.atlas.summary import LayerSummary, unit_edges

    specs = layer_specs(model, settings.layers, tuple(model.input_size))
    sources = sorted({s.source for s in specs})
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(settings.batch_size, model.in_channels, *model.input_size, generator=generator)
    with torch.no_grad():
        found = forward_until(model, batch, sources)
    summaries = []
    for spec in specs:  # ranges as the calibration pass would give them
        values = found[spec.source].reshape(batch.shape[0], spec.channels, -1).double()
        low, high = values.amin(dim=(0, 2)).numpy(), values.amax(dim=(0, 2)).numpy()
        summaries.append(LayerSummary(spec, settings.top, settings.reservoir,
                                      unit_edges(low - (high - low) / 4, high + (high - low) / 4, settings.bins)))
    forward, summary = float("inf"), float("inf")
    for step in range(batches):
        started = time.perf_counter()
        with torch.no_grad():
            found = forward_until(model, batch, sources)
        forward = min(forward, time.perf_counter() - started)
        files = np.arange(step * batch.shape[0], (step + 1) * batch.shape[0])
        started = time.perf_counter()
        for spec, kept in zip(specs, summaries):
            kept.update(files, files.astype(np.uint64) * np.uint64(2654435761), found[spec.source])
        summary = min(summary, time.perf_counter() - started)
    return forward, summary


class CalibrationClock:
    """CPU seconds the build spends choosing histogram ranges (wraps the build's calibration pass)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._calibrate = build_module._calibrate
        build_module._calibrate = self

    def __call__(self, *args):
        started = time.process_time()
        try:
            return self._calibrate(*args)
        finally:
            self.seconds = time.process_time() - started


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes of everything but the per-file index, bytes of index.json)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    index = sum(p.stat().st_size for p in files if p.name == "index.json")
    return sum(p.stat().st_size for p in files) - index, index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="inceptionv1")
    parser.add_argument("--weights", default="random:0")
    parser.add_argument("--layers", default=INCEPTION_LAYERS)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "circuitloupe-bench-images"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--per-batch", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    model = load_model(args.model, args.weights, device=pick_device(args.device))
    settings = BuildSettings(layers=tuple(args.layers.split(",")), batch_size=args.batch, workers=args.workers)
    if args.per_batch:
        forward, summary = per_batch(model, settings)
        print(f"batch of {args.batch}: forward {forward:.3f} s, summaries {summary:.3f} s: "
              f"{forward / (forward + summary):.2f}x of the bare forward's throughput")
        return
    folder = make_images(Path(args.folder) / f"n{args.images}", args.images)
    bare_loop(model, folder, BuildSettings(layers=settings.layers, batch_size=args.batch, workers=0))  # warm-up
    bare, bare_cpu, report, build_cpu, clock = float("inf"), float("inf"), None, float("inf"), CalibrationClock()
    for _ in range(args.repeat):
        wall, cpu = bare_loop(model, folder, settings)
        bare, bare_cpu = min(bare, wall), min(bare_cpu, cpu)
        with tempfile.TemporaryDirectory() as out:
            cpu = time.process_time()
            run = build_atlas(model, folder, Path(out) / "atlas", settings)
            build_cpu = min(build_cpu, time.process_time() - cpu - clock.seconds)
            fixed, index = folder_size(Path(out) / "atlas")
        if report is None or run.seconds - run.calibration < report.seconds - report.calibration:
            report = run
    per_image = index / args.images
    units = sum(s.channels for s in layer_specs(model, settings.layers, tuple(model.input_size)))
    result = {
        "model": args.model, "layers": args.layers, "units": units, "images": args.images, "batch": args.batch,
        "workers": args.workers, "repeat": args.repeat, "device": str(model.device), "threads": torch.get_num_threads(),
        "bare_images_per_second": args.images / bare, "atlas_images_per_second": args.images / report.seconds,
        "ratio": bare / report.seconds, "calibration_seconds": report.calibration,
        "ratio_without_calibration": bare / (report.seconds - report.calibration),
        "cpu_ratio_without_calibration": bare_cpu / build_cpu, "fixed_bytes": fixed, "index_bytes_per_image": per_image,
        "bytes_per_unit": fixed / units,
        "size_bytes": {str(n): fixed + n * per_image for n in (1000, 50_000, 1_281_167)},
    }
    print(f"{args.model} {units} units, {args.images} images, batch {args.batch}, {args.workers} workers, "
          f"{result['device']}, {result['threads']} threads")
    print(f"  bare forward loop: {result['bare_images_per_second']:.2f} images/s")
    print(f"  atlas build:       {result['atlas_images_per_second']:.2f} images/s ({result['ratio']:.2f}x); "
          f"without the one-off calibration pass ({report.calibration:.1f} s): {result['ratio_without_calibration']:.2f}x")
    print(f"  in CPU seconds of this process, without calibration: {bare_cpu:.1f} s vs {build_cpu:.1f} s "
          f"({result['cpu_ratio_without_calibration']:.2f}x)")
    print(f"  atlas size = {fixed / 1e6:.1f} MB fixed ({result['bytes_per_unit']:.0f} B per unit) "
          f"+ {per_image:.1f} B per image")
    for n, size in result["size_bytes"].items():
        print(f"    {int(n):>9} images: {size / 1e6:8.1f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
