"""Rendered feature visualisations on disk, per model, weights, unit and settings.

Files live under ``data_dir("featurevis", MODEL, WEIGHTS, UNIT)`` as PNGs named after their
settings (``128px-256st-seed0-channel-v2.png``; diverse images add ``-div4.2``), with the
settings and objective values in a PNG text chunk. Writes are atomic, so a crash never leaves
half a file and several processes can share the cache. :func:`visualise_units` is the one entry
point the panes, the browser's thumbnails and the CLI use: it returns cached images at once and
renders the rest in one batch, redirecting the gradient of ReLU / ReLU6 / hardtanh activations
for the first ``REDIRECT_FRACTION`` of the steps, so units that start silent (common behind
ReLU6, e.g. EfficientNet-Lite0's ``head``) do not come out flat grey; units that respond from
the start render exactly as without it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, PngImagePlugin

from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis.objectives import OBJECTIVE_KINDS, for_unit
from circuitloupe.core.featurevis.render import render
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.paths import atomic_write_bytes, data_dir
from circuitloupe.core.units import UnitRef

ENGINE_VERSION = 2  # 2: gradient redirection on for the first REDIRECT_FRACTION of the steps
METADATA_KEY = "circuitloupe-featurevis"
DIVERSITY_WEIGHT = 1e2
REDIRECT_FRACTION = 0.25


@dataclass(frozen=True)
class Settings:
    """How a unit's visualisation is rendered (everything that changes the pixels).

    ``diversity``: images per unit, pushed apart by a diversity term when more than one;
    ``transforms``: ``standard`` or ``none``; ``objective``: channel, neuron or direction.
    """

    size: int = 128
    steps: int = 256
    seed: int = 0
    objective: str = "channel"
    diversity: int = 1
    transforms: str = "standard"
    param: str = "fourier"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVE_KINDS:
            raise UserError(f"unknown objective '{self.objective}'; use one of {', '.join(OBJECTIVE_KINDS)}")
        if self.diversity < 1:
            raise UserError("diversity must be at least 1 image per unit")
        if self.size < 8 or self.steps < 0:
            raise UserError("image size must be at least 8 pixels and steps at least 0")

    def file_name(self, index: int = 0) -> str:
        """The cache file name of image ``index`` (0..diversity-1) with these settings."""
        name = f"{self.size}px-{self.steps}st-seed{self.seed}-{self.objective}"
        if self.diversity > 1:
            name += f"-div{self.diversity}.{index}"
        if self.transforms != "standard":
            name += f"-tf{_slug(self.transforms)}"
        if self.param != "fourier":
            name += f"-{_slug(self.param)}"
        return f"{name}-v{ENGINE_VERSION}.png"


@dataclass
class UnitVis:
    """One unit's visualisations: ``images`` [K, H, W, 3] in [0, 1] and per-image objective
    values at the start and end of optimisation (NaN when unknown); ``cached`` if read from disk."""

    unit: UnitRef
    settings: Settings
    images: np.ndarray
    start_values: np.ndarray
    end_values: np.ndarray
    cached: bool = False


@dataclass(frozen=True)
class CacheEntry:
    """One cached image of a unit: its file and the settings it was rendered with."""

    path: Path
    settings: Settings
    index: int
    start_value: float
    end_value: float

    def load(self) -> np.ndarray:
        return _read_png(self.path)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "_"


def _ref(model: LoadedModel, unit: UnitRef | str) -> UnitRef:
    return model.catalogue.unit(unit)


def model_dir(model: LoadedModel) -> Path:
    """The cache folder of one model with one set of weights."""
    weights = model.weights_id
    short = _slug(weights)[:40] + "-" + hashlib.sha1(weights.encode()).hexdigest()[:8]
    return data_dir("featurevis", _slug(model.name), short)


def unit_dir(model: LoadedModel, unit: UnitRef | str) -> Path:
    ref = _ref(model, unit)
    return model_dir(model) / f"{_slug(ref.layer)}-{ref.channel}"


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _write_png(path: Path, image: np.ndarray, metadata: dict) -> None:
    pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps(metadata))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    atomic_write_bytes(path, buffer.getvalue(), make_parents=True)


def store(model: LoadedModel, unit: UnitRef | str, image: np.ndarray, settings: Settings, index: int = 0,
          start_value: float = float("nan"), end_value: float = float("nan")) -> Path:
    """Write one rendered image ([H, W, 3] in [0, 1]) into the cache; returns its path."""
    ref = _ref(model, unit)
    path = unit_dir(model, ref) / settings.file_name(index)
    metadata = {"unit": str(ref), "index": index, "start_value": float(start_value),
                "end_value": float(end_value), "model": model.name, "weights": model.weights_id,
                **asdict(settings)}
    _write_png(path, image, metadata)
    return path


def lookup(model: LoadedModel, unit: UnitRef | str, size: int, steps: int, seed: int = 0,
           index: int = 0, **options) -> np.ndarray | None:
    """The cached image [H, W, 3] for these settings (``options``: objective, diversity,
    transforms, param), or None."""
    settings = Settings(size=size, steps=steps, seed=seed, **options)
    path = unit_dir(model, unit) / settings.file_name(index)
    if not path.is_file():
        return None
    try:
        return _read_png(path)
    except OSError:
        return None


def entries(model: LoadedModel, unit: UnitRef | str) -> list[CacheEntry]:
    """Every cached image of a unit, best first (most steps, then largest, then newest)."""
    folder = unit_dir(model, unit)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*-v{ENGINE_VERSION}.png"):
        try:
            with Image.open(path) as image:
                meta = json.loads(image.text.get(METADATA_KEY, "{}"))
            fields = {k: meta[k] for k in Settings.__dataclass_fields__ if k in meta}
            entry = CacheEntry(path, Settings(**fields), int(meta.get("index", 0)),
                               float(meta.get("start_value", "nan")), float(meta.get("end_value", "nan")))
        except (OSError, ValueError, TypeError, UserError):
            continue
        found.append((entry, path.stat().st_mtime))
    found.sort(key=lambda item: (item[0].settings.steps, item[0].settings.size, item[1]), reverse=True)
    return [entry for entry, _ in found]


def thumbnail(model: LoadedModel, unit: UnitRef | str) -> np.ndarray | None:
    """Any cached visualisation of the unit ([H, W, 3] in [0, 1]), preferring the plain channel
    objective with the most steps; None when nothing is cached."""
    cached = entries(model, unit)
    plain = [e for e in cached if e.settings.objective == "channel" and e.index == 0]
    for entry in plain + cached:
        try:
            return entry.load()
        except OSError:
            continue
    return None


def cached_visualisations(model: LoadedModel, units: Sequence[UnitRef | str],
                          settings: Settings = Settings()) -> list[UnitVis | None]:
    """Each unit's cached visualisations with these settings (all ``diversity`` images), or None."""
    found: list[UnitVis | None] = []
    k = settings.diversity
    options = {"objective": settings.objective, "diversity": k, "transforms": settings.transforms,
               "param": settings.param}
    for unit in units:
        ref = _ref(model, unit)
        images = [lookup(model, ref, settings.size, settings.steps, settings.seed, index=j, **options)
                  for j in range(k)]
        if any(image is None for image in images):
            found.append(None)
            continue
        values = {e.index: e for e in entries(model, ref) if e.settings == settings}
        start = np.array([values[j].start_value if j in values else np.nan for j in range(k)])
        end = np.array([values[j].end_value if j in values else np.nan for j in range(k)])
        found.append(UnitVis(ref, settings, np.stack(images), start, end, cached=True))
    return found


def redirect_steps(steps: int) -> int:
    """How many of ``steps`` optimisation steps the cache renders with redirected gradients."""
    return int(round(steps * REDIRECT_FRACTION))


def visualise_units(model: LoadedModel, units: Sequence[UnitRef | str], settings: Settings = Settings(), *,
                    progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                    use_cache: bool = True, preview_every: int = 16) -> list[UnitVis]:
    """Visualise each unit (``settings.diversity`` images each), rendering the uncached ones in
    one batch and caching them. Returns one :class:`UnitVis` per unit, in order.

    ``progress`` previews are [n_images, H, W, 3] for the units being rendered.
    """
    refs = [_ref(model, u) for u in units]
    k = settings.diversity
    found = cached_visualisations(model, refs, settings) if use_cache else [None] * len(refs)
    results = {i: vis for i, vis in enumerate(found) if vis is not None}
    missing = [i for i, vis in enumerate(found) if vis is None]
    if missing:
        check_stop(should_stop)
        weight = DIVERSITY_WEIGHT if k > 1 else 0.0
        objectives = []
        for i in missing:
            objective = for_unit(refs[i], settings.objective, weight)
            objectives.extend([objective] * k)
        result = render(model, objectives, size=settings.size, steps=settings.steps, seed=settings.seed,
                        param=settings.param, transforms=settings.transforms, progress=progress,
                        should_stop=should_stop, preview_every=preview_every,
                        redirect_relu_steps=redirect_steps(settings.steps))
        for n, i in enumerate(missing):
            part = slice(n * k, (n + 1) * k)
            vis = UnitVis(refs[i], settings, result.images[part], result.start_values[part], result.end_values[part])
            for j in range(k):
                store(model, refs[i], vis.images[j], settings, j, vis.start_values[j], vis.end_values[j])
            results[i] = vis
    return [results[i] for i in range(len(refs))]


def get_or_render(model: LoadedModel, unit: UnitRef | str, size: int = 128, steps: int = 256, seed: int = 0,
                  progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """The unit's channel-objective visualisation [H, W, 3], from the cache or rendered now."""
    settings = Settings(size=size, steps=steps, seed=seed)
    return visualise_units(model, [unit], settings, progress=progress, should_stop=should_stop)[0].images[0]


def render_thumbnails(model: LoadedModel, units: Iterable[UnitRef | str], size: int = 64, steps: int = 64,
                      progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                      batch_size: int = 16, seed: int = 0) -> dict[UnitRef, np.ndarray]:
    """Thumbnails [H, W, 3] for many units: cached ones as they are, the rest rendered in batches
    of units of nearby layers and cached. ``progress`` counts steps over all batches."""
    refs = list(dict.fromkeys(_ref(model, u) for u in units))
    found: dict[UnitRef, np.ndarray] = {}
    todo = []
    for ref in refs:
        image = thumbnail(model, ref)
        if image is None:
            todo.append(ref)
        else:
            found[ref] = image
    catalogue = model.catalogue
    todo.sort(key=lambda r: (catalogue.position(r.layer), r.channel))
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    total = steps * len(batches)
    settings = Settings(size=size, steps=steps, seed=seed)
    for b, batch in enumerate(batches):
        check_stop(should_stop)
        offset = b * steps

        def report(step: int, _total: int, preview=None, offset=offset) -> None:
            if progress is not None:
                progress(offset + step, total, preview)

        for vis in visualise_units(model, batch, settings, progress=report, should_stop=should_stop,
                                   use_cache=False):
            found[vis.unit] = vis.images[0]
    return {ref: found[ref] for ref in refs}

