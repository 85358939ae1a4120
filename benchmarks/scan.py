"""Dataset scan speed: DataLoader workers + batches + cache vs a naive one-image-at-a-time loop.

Generates a folder of 224 px JPEGs once, then for each model times (1) the naive loop (decode,
resize, one forward pass per image, no cache), (2) a first scan with DataLoader workers and
batches into the cache, and (3) a second scan, which only walks the folder and reuses the cache.

    python benchmarks/scan.py [--images 1000] [--naive-images 200] [--workers 2] [--batch 32] [--models bundled]

Results are printed as a table and written as JSON (--json). CPU only unless --device says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from circuitloupe.core.activations import forward_until
from circuitloupe.core.dataset import ScanSettings, prepare_pixels, resolve_target, scan, walk_folder
from circuitloupe.core.errors import WeightsError
from circuitloupe.core.images import load_image
from circuitloupe.core.models import load_model

MODELS = (("bundled", "conv4:0"), ("inceptionv1", "mixed3b:379"))


def make_images(folder: Path, count: int, size: int = 224) -> Path:
    """``count`` random smooth 224 px JPEGs (kept between runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / f"{i // 100:02d}" / f"img{i:04d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        small = rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8)
        noise = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
        pixels = np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC)) // 2 + noise
        Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)
    return folder


def naive(model, unit: str, folder: Path, count: int) -> float:
    """Images per second of decode + resize + forward, one image at a time."""
    target = resolve_target(model, unit)
    layers = [target.layer] + ([target.pre_layer] if target.pre_layer else [])
    files = [folder / e.relpath for e in walk_folder(folder).images][:count]
    started = time.perf_counter()
    for path in files:
        pixels = prepare_pixels(load_image(path), model.input_size)
        batch = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        found = forward_until(model, batch, layers)
        for value in found.values():
            value[:, target.unit.channel].cpu().numpy()
    return len(files) / (time.perf_counter() - started)


def open_bundled(device: str):
    try:
        return load_model("bundled", None, device=device), "trained"
    except WeightsError:
        return load_model("bundled", "random:0", device=device), "random:0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images in the generated folder")
    parser.add_argument("--naive-images", type=int, default=200, help="images the naive loop runs (rate only)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for the scan")
    parser.add_argument("--batch", type=int, default=32, help="scan batch size")
    parser.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "circuitloupe-bench-images"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", choices=[spec for spec, _ in MODELS],
                        default=[spec for spec, _ in MODELS], help="which rows to run (default: all)")
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    folder = make_images(Path(args.folder), args.images)
    os.environ["CIRCUITLOUPE_DATA_DIR"] = tempfile.mkdtemp(prefix="circuitloupe-bench-data-")
    rows = []
    for spec, unit in (row for row in MODELS if row[0] in args.models):
        model, weights = (open_bundled(args.device) if spec == "bundled"
                          else (load_model(spec, "random:0", device=args.device), "random:0"))
        naive_rate = naive(model, unit, folder, args.naive_images)
        settings = ScanSettings(batch_size=args.batch, workers=args.workers)
        first = scan(model, unit, folder, settings)
        started = time.perf_counter()
        second = scan(model, unit, folder, settings)
        reopen = time.perf_counter() - started
        assert second.scanned == 0 and second.reused == args.images
        rows.append({"model": spec, "weights": weights, "unit": unit, "input_px": model.input_size[0],
                     "naive_images_per_s": naive_rate, "scan_images_per_s": first.images_per_second,
                     "speedup": first.images_per_second / naive_rate, "second_scan_s": reopen,
                     "images": args.images, "workers": args.workers, "batch": args.batch,
                     "threads": torch.get_num_threads(), "cpus": os.cpu_count()})
        print(f"{spec:12s} {unit:12s} {model.input_size[0]:4d} px  naive {naive_rate:7.1f} img/s  "
              f"scan {first.images_per_second:7.1f} img/s  ({rows[-1]['speedup']:.2f}x)  "
              f"second scan {reopen:.2f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
