"""Building an atlas: images through the model into per-unit summaries, resumable and sharded.

The sorted image list is cut into batches of ``batch_size``; under torchrun each rank takes a
contiguous run of batches (so every batch, and so every activation, is the same whatever the
number of processes). Each rank checkpoints its summaries atomically every ``checkpoint_every``
images (and when stopped), and continues from its checkpoint when run again with the same
settings. At the end rank 0 gathers and merges the summaries exactly and writes the atlas.

Histogram ranges are fixed before the pass: rank 0 runs the ``calibration`` images with the
smallest seeded path hashes (a deterministic sample, whatever the order the images came in)
and gives each unit the range of its values there, widened by a quarter of its width on
both sides; values outside fall in the under/overflow bins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from circuitloupe.core.activations import forward_until
from circuitloupe.core.atlas.distributed import Group, shard
from circuitloupe.core.atlas.featvis import OBJECTIVES, render_featvis
from circuitloupe.core.atlas.sources import ImageList, file_keys, list_images
from circuitloupe.core.atlas.store import FORMAT, VERSION, write_atlas
from circuitloupe.core.atlas.summary import LayerSpec, LayerSummary, release_scratch, unit_edges
from circuitloupe.core.dataset.folder import RESIZE_MODES, ImageFolderData, collate_decoded
from circuitloupe.core.dataset.scan import _pad_colour, resolve_target
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled, ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.paths import atomic_write

CHECKPOINTS = ".checkpoints"
_WIDEN = 0.25


@dataclass(frozen=True)
class BuildSettings:
    """What goes into an atlas. ``layers``: layer names, or ("all",) for every top-level
    layer; ``top``: K examples each way; ``bins``: histogram bins; ``reservoir``: sampled
    positions per layer; ``size``: input size (None: the model's). ``batch_size`` is part of
    the atlas's identity (it fixes the batches); ``workers`` and ``checkpoint_every`` are not.
    ``featvis`` adds feature visualisations of every unit at ``featvis_size`` px, ``featvis_steps``."""

    layers: tuple[str, ...] = ("all",)
    top: int = 16
    bins: int = 100
    reservoir: int = 512
    seed: int = 0
    batch_size: int = 32
    size: int | None = None
    resize: str = "squash"
    calibration: int = 32
    workers: int = 0
    checkpoint_every: int = 1000
    featvis: bool = False
    featvis_size: int = 128
    featvis_steps: int = 256

    def check(self) -> None:
        if self.resize not in RESIZE_MODES:
            raise UserError(f"resize must be one of {', '.join(RESIZE_MODES)}, not '{self.resize}'")
        if self.top < 1 or self.bins < 1 or self.reservoir < 0 or self.batch_size < 1 or self.calibration < 1:
            raise UserError("top, bins, batch size and calibration must be at least 1, reservoir at least 0")


@dataclass
class BuildReport:
    """What a build did: images run by this process, in how long (of which ``calibration``
    seconds choosing the histogram ranges), and the atlas folder."""

    folder: Path
    images: int
    processed: int
    resumed: int
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    calibration: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def layer_specs(model: LoadedModel, names: tuple[str, ...], input_size: tuple[int, int]) -> list[LayerSpec]:
    """The atlas layers for ``names`` (``all``: every layer outside a block, post-ReLU), in
    network order, with their grid at ``input_size``."""
    catalogue = model.catalogue
    if tuple(names) == ("all",):
        names = tuple(i.name for i in catalogue if i.group is None and not i.is_pre_relu)
    targets = {}
    for name in names:
        target = resolve_target(model, name)
        if target.unit is not None:
            raise UserError(f"--layers takes layer names, not units ('{name}')")
        targets[target.layer] = target.pre_layer or target.layer
    with torch.no_grad():
        probe = torch.zeros(1, model.in_channels, *input_size)
        found = forward_until(model, probe, sorted(set(targets.values())))
    specs = []
    for layer in sorted(targets, key=catalogue.position):
        shape = found[targets[layer]].shape
        specs.append(LayerSpec(layer, targets[layer], int(shape[1]), (int(shape[2]), int(shape[3])) if len(shape) == 4
                               else (1, 1)))
    return specs


def build_atlas(model: LoadedModel, source: str | Path, out: str | Path, settings: BuildSettings = BuildSettings(),
                weights: str | None = None, group: Group = Group(), progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> BuildReport:
    """Build (or resume) the atlas of ``source`` (folder or list file) into folder ``out``.

    ``weights`` is how the weights were named (recorded so the atlas can reopen its model).
    Raises :class:`Cancelled` when stopped; the checkpoint written then lets a rerun continue.
    """
    settings.check()
    started = time.perf_counter()
    images = list_images(source)
    out = Path(out)
    input_size = (settings.size, settings.size) if settings.size else tuple(model.input_size)
    specs = layer_specs(model, settings.layers, input_size)
    meta = _meta(model, weights, input_size, settings, specs)
    fingerprint = _fingerprint(meta, images)
    keys = file_keys(settings.seed, images.paths)
    data = ImageFolderData(images.root, images.paths, input_size, settings.resize, model.in_channels)
    calibrating = time.perf_counter()
    ranges = group.share(_calibrate(model, data, keys, specs, settings) if group.is_main else None)
    calibration = time.perf_counter() - calibrating
    batches = shard(-(-len(images.paths) // settings.batch_size), group.rank, group.world)
    mine = range(batches.start * settings.batch_size, min(batches.stop * settings.batch_size, len(images.paths)))
    checkpoint = out / CHECKPOINTS / f"{fingerprint}-{mine.start}-{mine.stop}.npz"
    summaries, bad, done = _resume(checkpoint, mine.start, specs, settings, ranges)
    resumed = done - mine.start
    try:
        _run(model, data, keys, specs, summaries, bad, mine, done, settings, checkpoint, progress, should_stop)
    finally:
        release_scratch()
    if settings.featvis:
        render_featvis(model, out, specs, settings.featvis_size, settings.featvis_steps, settings.seed, group=group,
                       progress=progress, should_stop=should_stop)
    gathered = group.gather(([s.state() for s in summaries], bad))
    if group.is_main:
        merged = [LayerSummary.from_state(spec, settings.top, settings.reservoir, state)
                  for spec, state in zip(specs, gathered[0][0])]
        all_bad = [(int(i), str(e)) for _, rank_bad in gathered for i, e in rank_bad]
        for states, _ in gathered[1:]:
            for summary, spec, state in zip(merged, specs, states):
                summary.merge(LayerSummary.from_state(spec, settings.top, settings.reservoir, state))
        index = {"root": str(images.root), "files": [[p, c] for p, c in zip(images.paths, images.classes)],
                 "skipped": sorted(all_bad), "ignored": images.ignored}
        write_atlas(out, meta, index, merged)
        bad = all_bad
    group.barrier()
    for stale in [checkpoint, *checkpoint.parent.glob(f".{checkpoint.name}.*")]:  # and writes cut short by a kill
        stale.unlink(missing_ok=True)
    group.barrier()
    if group.is_main:
        with contextlib.suppress(OSError):
            checkpoint.parent.rmdir()  # only when empty: other builds' checkpoints stay
    return BuildReport(out, len(images.paths) - len(bad), len(mine) - resumed, resumed,
                       time.perf_counter() - started, [(images.paths[i], e) for i, e in sorted(bad)], calibration)


def _meta(model: LoadedModel, weights: str | None, input_size: tuple[int, int], settings: BuildSettings,
          specs: list[LayerSpec]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "model": model.spec, "weights": weights,
            "weights_id": model.weights_id, "input_size": list(input_size), "resize": settings.resize,
            "in_channels": model.in_channels, "pad_colour": list(_pad_colour(model)),
            "preprocessing": model.preprocessing.key(),
            "layers": [{**asdict(s), "grid": list(s.grid)} for s in specs],
            **{k: getattr(settings, k) for k in ("top", "bins", "reservoir", "seed", "batch_size", "calibration")},
            "featvis": {"size": settings.featvis_size, "steps": settings.featvis_steps, "objectives": list(OBJECTIVES)}
            if settings.featvis else None,
            "histogram": f"per unit: {settings.bins} equal bins over the calibration range widened by "
                         f"{_WIDEN:g} of its width each side, plus under- and overflow bins"}


def _fingerprint(meta: dict[str, Any], images: ImageList) -> str:
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    digest.update(str(images.root).encode())
    for path in images.paths:
        digest.update(path.encode() + b"\0")
    return digest.hexdigest()[:16]


def _loader(data: ImageFolderData, indices: list[int], settings: BuildSettings) -> DataLoader:
    subset = torch.utils.data.Subset(data, indices)
    return DataLoader(subset, batch_size=settings.batch_size, num_workers=settings.workers,
                      collate_fn=collate_decoded, shuffle=False)


def _values(model: LoadedModel, batch: torch.Tensor, specs: list[LayerSpec]) -> dict[str, torch.Tensor]:
    return forward_until(model, batch, sorted({s.source for s in specs}))


def _calibrate(model: LoadedModel, data: ImageFolderData, keys: np.ndarray, specs: list[LayerSpec],
               settings: BuildSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer, each unit's histogram range (lo, hi) from the calibration images."""
    chosen = sorted(np.argsort(keys, kind="stable")[:settings.calibration].tolist())
    low = {s.name: None for s in specs}
    high = dict(low)
    for _, batch, _ in _loader(data, chosen, settings):
        if batch is None:
            continue
        found = _values(model, batch, specs)
        for s in specs:
            x = found[s.source].reshape(batch.shape[0], s.channels, -1).double()
            lo, hi = x.amin(dim=(0, 2)).cpu().numpy(), x.amax(dim=(0, 2)).cpu().numpy()
            low[s.name] = lo if low[s.name] is None else np.minimum(low[s.name], lo)
            high[s.name] = hi if high[s.name] is None else np.maximum(high[s.name], hi)
    ranges = []
    for s in specs:
        lo = low[s.name] if low[s.name] is not None else np.zeros(s.channels)
        hi = high[s.name] if high[s.name] is not None else np.ones(s.channels)
        width = np.where(hi > lo, hi - lo, 1.0)
        ranges.append((lo - _WIDEN * width, hi + _WIDEN * width))
    return ranges


def _resume(checkpoint: Path, start: int, specs: list[LayerSpec], settings: BuildSettings,
            ranges: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[LayerSummary], list, int]:
    """The summaries, skipped files and next image from ``checkpoint``, or fresh ones."""
    if checkpoint.is_file():
        with np.load(checkpoint, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
        header = json.loads(str(arrays.pop("header")))
        summaries = [LayerSummary.from_state(spec, settings.top, settings.reservoir,
                                             {k.split("/", 1)[1]: v for k, v in arrays.items()
                                              if k.startswith(spec.name + "/")}) for spec in specs]
        return summaries, [(int(i), str(e)) for i, e in header["bad"]], header["done"]
    return [LayerSummary(spec, settings.top, settings.reservoir, unit_edges(lo, hi, settings.bins))
            for spec, (lo, hi) in zip(specs, ranges)], [], start


def _save_checkpoint(path: Path, summaries: list[LayerSummary], bad: list, done: int) -> None:
    arrays = {f"{s.spec.name}/{k}": v for s in summaries for k, v in s.state().items()}
    arrays["header"] = np.array(json.dumps({"done": done, "bad": bad}))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def _run(model: LoadedModel, data: ImageFolderData, keys: np.ndarray, specs: list[LayerSpec],
         summaries: list[LayerSummary], bad: list, mine: range, done: int, settings: BuildSettings,
         checkpoint: Path, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
    """Run images ``done`` .. ``mine.stop`` (whole batches), checkpointing, and when stopped."""
    indices = list(range(done, mine.stop))
    since = 0
    for files, batch, errors in _loader(data, indices, settings):  # indices into the whole list
        try:
            check_stop(should_stop)
        except Cancelled:
            _save_checkpoint(checkpoint, summaries, bad, done)
            raise
        bad += [(i, error) for i, error, *_ in errors]  # transient read errors count as skipped too
        if batch is not None:
            files = np.array(files, np.int64)
            found = _values(model, batch, specs)
            for summary in summaries:
                summary.update(files, keys[files], found[summary.spec.source])
        step = len(files) + len(errors)
        done += step
        since += step
        if progress is not None:
            progress(done - mine.start, len(mine))
        if since >= settings.checkpoint_every and done < mine.stop:
            _save_checkpoint(checkpoint, summaries, bad, done)
            since = 0

