"""Scanning an image folder through a model into the activation cache.

:func:`scan` walks the folder, finds (or makes) the cache for the (model, weights, layer,
folder, preprocessing) key, and runs only the files the cache does not hold yet (new or
changed since their scan) through the network, with a torch DataLoader whose workers decode
and resize the images. Progress is reported per batch; ``should_stop`` cancels between
batches, keeping every finished batch, so the next scan resumes. Files whose read failed in
a way that may pass (permissions, I/O) are tried again by the next scan.

Every scan first verifies the cache (:meth:`DatasetCache.verify`): damaged rows are scanned
again and an unreadable index is moved aside; each repair is one line in
:attr:`ScanResult.warnings`, also logged (the app's log pane shows it). A full disk is one
:class:`~circuitloupe.core.dataset.segments.DiskFullError` line, with finished batches kept.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from circuitloupe.core.activations import forward_until
from circuitloupe.core.dataset.cache import (CacheKey, CacheWriter, DatasetCache, cache_folder, create_cache,
                                            find_cache)
from circuitloupe.core.dataset.folder import RESIZE_MODES, ImageFolderData, collate_decoded, walk_folder
from circuitloupe.core.dataset.segments import DiskFullError, is_disk_full
from circuitloupe.core.dbfiles import DatabaseFileError, move_aside
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import PRE_RELU_SUFFIX, UnitRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanSettings:
    """How images are fed to the model. ``size`` None means the model's input size.

    ``resize`` is ``squash`` (whole image resized) or ``crop`` (shorter side fitted, centre cut).
    ``batch_size`` and ``workers`` (DataLoader processes; 0 decodes in the calling thread)
    change speed only, never the cache key.
    """

    size: tuple[int, int] | None = None
    resize: str = "squash"
    batch_size: int = 16
    workers: int = 0

    def input_size(self, model: LoadedModel) -> tuple[int, int]:
        return tuple(self.size) if self.size is not None else tuple(model.input_size)

    def preprocessing_key(self, model: LoadedModel) -> str:
        """Everything about the input that changes activations, as one string."""
        h, w = self.input_size(model)
        return f"{model.preprocessing.key()};in={model.in_channels};size={h}x{w};resize={self.resize}"


@dataclass(frozen=True)
class ScanTarget:
    """A layer to scan: its post-ReLU name, its pre-ReLU name (or None) and the channels
    (None = all). ``unit`` is set when a single unit was asked for."""

    layer: str
    pre_layer: str | None
    channels: tuple[int, ...] | None
    unit: UnitRef | None = None


@dataclass
class ScanResult:
    """What a scan did: the cache, how many files it ran and reused, what it skipped (files it
    could not read or list, with why) and ``warnings`` (one line per repair of a damaged cache)."""

    cache: DatasetCache
    target: ScanTarget
    scanned: int
    reused: int
    bad: list[tuple[str, str]]
    ignored: list[str]
    batches: int
    seconds: float
    new_bad: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.scanned / self.seconds if self.seconds > 0 and self.scanned else 0.0


def resolve_target(model: LoadedModel, target: str | UnitRef, whole_layer: bool = False) -> ScanTarget:
    """``mixed3b:379``, ``3b:379``, ``mixed3b_pre_relu:379`` or a layer name -> a :class:`ScanTarget`.

    With ``whole_layer`` a unit's entire layer is scanned (so every unit of it is cached).
    """
    catalogue = model.catalogue
    text = str(target)
    unit = catalogue.unit(target) if ":" in text else None
    layer = catalogue.layer(unit.layer if unit else text).name
    if layer.endswith(PRE_RELU_SUFFIX) and layer[: -len(PRE_RELU_SUFFIX)] in catalogue:
        layer = catalogue.layer(layer[: -len(PRE_RELU_SUFFIX)]).name
    pre_layer = catalogue.pre_relu_of(layer)
    if unit is not None:
        unit = UnitRef(layer, unit.channel)
    channels = (unit.channel,) if unit is not None and not whole_layer else None
    return ScanTarget(layer, pre_layer, channels, unit)


def cache_key(model: LoadedModel, target: ScanTarget, root: str | Path, settings: ScanSettings) -> CacheKey:
    """The cache key of scanning ``root`` for ``target`` with ``settings``."""
    return CacheKey(model.spec, model.weights_id, target.layer, str(Path(root).resolve()),
                    settings.preprocessing_key(model), target.channels)


def open_dataset(model: LoadedModel, target: str | UnitRef | ScanTarget, root: str | Path,
                 settings: ScanSettings = ScanSettings()) -> DatasetCache | None:
    """The existing cache for this scan (without scanning or walking), or None."""
    target = target if isinstance(target, ScanTarget) else resolve_target(model, target)
    key = cache_key(model, target, root, settings)
    return find_cache(key.model, key.weights_id, key.layer, dataset=key.dataset,
                      preprocessing=key.preprocessing, channels=target.channels)


def scan(model: LoadedModel, target: str | UnitRef | ScanTarget, root: str | Path,
         settings: ScanSettings = ScanSettings(), progress: ProgressFn | None = None,
         should_stop: StopFn | None = None) -> ScanResult:
    """Scan ``root`` for ``target``, reusing the cache; returns a :class:`ScanResult`.

    Raises :class:`~circuitloupe.core.jobs.Cancelled` when stopped (finished batches are kept).
    """
    started = time.perf_counter()
    if settings.resize not in RESIZE_MODES:
        raise UserError(f"resize must be one of {', '.join(RESIZE_MODES)}, not '{settings.resize}'")
    if settings.batch_size < 1 or settings.workers < 0:
        raise UserError("batch size must be at least 1 and workers at least 0")
    target = target if isinstance(target, ScanTarget) else resolve_target(model, target)
    root = Path(root).resolve()
    listing = walk_folder(root)
    key = cache_key(model, target, root, settings)
    warnings: list[str] = []
    with _full_disk_as_error(cache_folder(key)):
        cache = _verified_cache(model, target, key, settings, warnings)
        known = cache.known()
        current = {entry.relpath: entry for entry in listing.images}
        stale = [r for r, (size, mtime, status) in known.items() if status == "retry"
                 or r not in current or (current[r].size, current[r].mtime_ns) != (size, mtime)]
        cache.forget(stale)
        todo = [e for e in listing.images if e.relpath not in known or e.relpath in stale]
        reused = sum(1 for r, (_, _, status) in known.items() if status == "ok" and r in current and r not in stale)
        batches, new_bad = _run(model, target, cache, root, todo, settings, progress, should_stop)
    bad = sorted(cache.bad() + listing.skipped)
    return ScanResult(cache, target, len(todo) - len(new_bad), reused, bad, listing.ignored, batches,
                      time.perf_counter() - started, new_bad, warnings)


def _verified_cache(model: LoadedModel, target: ScanTarget, key: CacheKey, settings: ScanSettings,
                    warnings: list[str]) -> DatasetCache:
    """The cache for ``key``, checked: rows that do not verify are forgotten (so rescanned) and
    an unreadable index moves the cache folder aside; each repair adds a line to ``warnings``."""
    cache = find_cache(key.model, key.weights_id, key.layer, dataset=key.dataset,
                       preprocessing=key.preprocessing, channels=target.channels, nonempty=False, verify=False)
    info = model.catalogue.layer(target.layer)

    def create() -> DatasetCache:
        return create_cache(key, has_pre_relu=target.pre_layer is not None, input_size=settings.input_size(model),
                            resize=settings.resize, pad_colour=_pad_colour(model), layer_channels=info.channels)

    try:
        cache = cache if cache is not None else create()
        failed = cache.verify()
    except DatabaseFileError as error:
        folder = cache.folder if cache is not None else cache_folder(key)
        if cache is not None:
            cache.close()
        aside = move_aside(folder)
        _warn(warnings, f"{error}; moved that cache to {aside} and rebuilt it")
        return create()
    if failed:
        _warn(warnings, f"{len(failed)} cached image(s) in {cache.folder} did not match their checksums "
                        f"(a damaged cache, or one made before checksums); scanning them again")
    return cache


@contextmanager
def _full_disk_as_error(folder: Path) -> Iterator[None]:
    """Turn a full disk met while writing the cache (arrays or index) into one DiskFullError line."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as error:
        if not is_disk_full(error):
            raise
        raise DiskFullError(f"the disk holding the activation cache {folder} is full; free some space and scan "
                            f"again (the images already scanned are kept)") from None


def _warn(warnings: list[str], text: str) -> None:
    warnings.append(text)
    log.warning("%s", text)


def _run(model: LoadedModel, target: ScanTarget, cache: DatasetCache, root: Path, todo: list,
         settings: ScanSettings, progress: ProgressFn | None, should_stop: StopFn | None) -> tuple[int, list]:
    if not todo:
        return 0, []
    data = ImageFolderData(root, [e.relpath for e in todo], settings.input_size(model), settings.resize,
                           model.in_channels)
    loader = DataLoader(data, batch_size=settings.batch_size, num_workers=settings.workers,
                        collate_fn=collate_decoded, shuffle=False)
    layers = [target.layer] + ([target.pre_layer] if target.pre_layer else [])
    channels = list(target.channels) if target.channels is not None else None
    writer: CacheWriter | None = None
    done = batches = 0
    new_bad: list[tuple[str, str]] = []
    iterator = iter(loader)
    try:
        for indices, batch, bad in iterator:
            check_stop(should_stop)
            for transient in (False, True):
                rows = [(todo[i].relpath, todo[i].size, todo[i].mtime_ns, error)
                        for i, error, flag in bad if flag == transient]
                if rows:
                    cache.record_bad(rows, transient)
                    new_bad += [(r[0], r[3]) for r in rows]
            if batch is not None:
                found = forward_until(model, batch, layers)
                batches += 1
                post = _maps(found[target.layer], channels)
                pre = _maps(found[target.pre_layer], channels) if target.pre_layer else post
                if writer is None:
                    has_post = target.pre_layer is not None and not np.allclose(np.maximum(pre, 0), post, atol=1e-5)
                    writer = cache.new_segment(len(todo), pre.shape[1:], has_post)
                writer.write([(todo[i].relpath, todo[i].size, todo[i].mtime_ns) for i in indices], pre, post)
            done += len(indices) + len(bad)
            if progress is not None:
                progress(done, len(todo))
            check_stop(should_stop)
    finally:
        del iterator
        if writer is not None:
            writer.close()
    return batches, new_bad


def _maps(value: torch.Tensor, channels: list[int] | None) -> np.ndarray:
    value = value if value.dim() == 4 else value.reshape(value.shape[0], -1, 1, 1)
    if channels is not None:
        value = value[:, channels]
    return value.float().cpu().numpy()


def _pad_colour(model: LoadedModel) -> tuple[float, ...]:
    """The [0, 1] colour that preprocesses to zero: what the network's zero padding stands for."""
    mean = tuple(float(m) for m in model.preprocessing.mean)
    return (mean * model.in_channels)[: model.in_channels] if len(mean) == 1 else mean
