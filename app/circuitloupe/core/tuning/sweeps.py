"""Response maps of units to synthetic curves or angles swept over orientation and curvature, and
the radial tuning read from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from circuitloupe.core import stimuli
from circuitloupe.core.activations import unit_values
from circuitloupe.core.dataset.receptive import receptive_field_centre
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

STIMULI = ("curve", "angle")
RADIAL_SAMPLES = 720  # 0.5-degree steps around the circle
#: Default curve radii as fractions of the image side, tight "C" to nearly straight.
RADIUS_RANGE = (0.05, 2.0)
#: Default angle openings in degrees, sharp to nearly straight.
OPENING_RANGE = (30.0, 170.0)


# --------------------------------------------------------------------------- results

@dataclass
class ResponseMap:
    """One unit's response over a stimulus sweep.

    ``values`` is [M, N]: rows follow ``parameters`` (curve radius in pixels at the model's
    input size, or angle opening in degrees), columns follow ``orientations`` (degrees).
    ``sigma`` is the same grid in standard deviations of the dataset distribution,
    ``(values - dataset_mean) / dataset_std``, when a dataset cache exists. ``center`` is where
    the stimuli were centred: (x, y) in input pixels, origin at the top-left corner.
    """

    unit: str
    stimulus: str
    orientations: np.ndarray
    parameters: np.ndarray
    values: np.ndarray
    pre_relu: bool
    size: int
    sigma: np.ndarray | None = None
    dataset_mean: float | None = None
    dataset_std: float | None = None
    center: tuple[float, float] | None = None

    @property
    def parameter_name(self) -> str:
        return "radius (px)" if self.stimulus == "curve" else "opening (deg)"

    @property
    def peak(self) -> tuple[float, float, float]:
        """(response, orientation, parameter) of the strongest cell."""
        row, col = np.unravel_index(int(np.argmax(self.values)), self.values.shape)
        return float(self.values[row, col]), float(self.orientations[col]), float(self.parameters[row])

    def best_stimuli(self, count: int = 3) -> list[tuple[float, float]]:
        """The ``count`` strongest (orientation, parameter) cells, strongest first."""
        order = np.argsort(self.values, axis=None)[::-1][:count]
        rows, cols = np.unravel_index(order, self.values.shape)
        return [(float(self.orientations[c]), float(self.parameters[r])) for r, c in zip(rows, cols)]


@dataclass
class RadialTuning:
    """A unit's positive response averaged over curvature, around the circle.

    ``angles`` are ``RADIAL_SAMPLES`` orientations in degrees (0.5-degree steps) and
    ``profile`` the response at each. ``preferred`` (degrees) is the circular mean of the
    profile within 90 degrees of its peak; ``width`` the full width at half maximum in degrees
    (360 when the profile never falls to half); ``selectivity`` the resultant vector length of
    the profile above its minimum (0 = untuned or symmetric like a line detector, 1 = a spike).
    """

    unit: str
    angles: np.ndarray
    profile: np.ndarray
    preferred: float
    width: float
    selectivity: float
    peak: float


@dataclass
class JointTuning:
    """Family members' responses over absolute orientation, from rotated images.

    ``curves`` is [members, 360 / step]: each member's response (averaged over the aligned
    sources) at each orientation in ``angles`` (degrees). ``preferred`` holds each source's
    anchor orientation in degrees; ``per_source`` is [sources, rotations, members] before
    alignment; ``source`` says which images were rotated.
    """

    units: list[str]
    angles: np.ndarray
    curves: np.ndarray
    preferred: np.ndarray
    per_source: np.ndarray | None = field(repr=False, default=None)
    source: str = "given images"


# --------------------------------------------------------------------------- sweeps

def default_parameters(stimulus: str, count: int, size: int) -> np.ndarray:
    """``count`` radii (px, log-spaced, tight to near-straight) or openings (degrees)."""
    if stimulus == "curve":
        lo, hi = RADIUS_RANGE
        return np.geomspace(lo * size, hi * size, count)
    if stimulus == "angle":
        return np.linspace(*OPENING_RANGE, count)
    raise UserError(f"unknown stimulus '{stimulus}'; use one of {', '.join(STIMULI)}")


def render(stimulus: str, orientations: np.ndarray, parameters: np.ndarray, size: int,
           **style) -> np.ndarray:
    """Render curves or angles for paired orientation / parameter arrays -> [K, size, size, 3]."""
    if stimulus == "curve":
        return stimuli.curves(orientations, parameters, size, **style)
    return stimuli.angles(orientations, parameters, size, **style)


def model_batch(model: LoadedModel, images: np.ndarray) -> torch.Tensor:
    """[K, S, S, 3] renders -> [K, C, H, W] model input in [0, 1] (centre-cropped, grey for C=1)."""
    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    h, w = model.input_size
    top, left = (batch.shape[2] - h) // 2, (batch.shape[3] - w) // 2
    batch = batch[:, :, top:top + h, left:left + w]
    if model.in_channels == 1:
        batch = batch.mean(dim=1, keepdim=True)
    elif model.in_channels != 3:
        raise UserError(f"tuning needs a model with 1 or 3 input channels, not {model.in_channels}")
    return batch.contiguous()


def resolve_units(model: LoadedModel, units: Sequence[UnitRef | str], pre_relu: bool) -> list[UnitRef]:
    """Validate units; with ``pre_relu`` use each layer's pre-ReLU value where it has one."""
    catalogue = model.catalogue
    resolved = []
    for unit in units:
        ref = catalogue.unit(unit)
        if pre_relu and not ref.is_pre_relu:
            name = catalogue.pre_relu_of(ref.layer)
            ref = UnitRef(name, ref.channel) if name else ref
        elif not pre_relu and ref.is_pre_relu:
            ref = catalogue.unit(ref.post_relu())
        resolved.append(ref)
    return resolved


def sweep(model: LoadedModel, units: Sequence[UnitRef], images_fn, count: int, batch_size: int = 64,
          progress: ProgressFn = no_progress, should_stop: StopFn | None = None) -> np.ndarray:
    """Run ``count`` images made by ``images_fn(start, stop) -> [k, S, S, 3]`` -> values [count, units]."""
    out = np.empty((count, len(units)), np.float32)
    batches = max(1, -(-count // batch_size))
    for b, start in enumerate(range(0, count, batch_size)):
        check_stop(should_stop)
        stop = min(count, start + batch_size)
        batch = model_batch(model, images_fn(start, stop)).to(model.device)
        out[start:stop] = unit_values(model, batch, units).cpu().numpy()
        progress(b + 1, batches)
    return out


def stimulus_centre(model: LoadedModel, unit: UnitRef | str) -> tuple[float, float]:
    """Where stimuli for ``unit`` are drawn: the receptive-field centre of its layer's centre
    position, (x, y) in input pixels from the top-left corner."""
    return receptive_field_centre(model, model.catalogue.unit(unit).layer)


def response_maps(model: LoadedModel, units: Sequence[UnitRef | str], stimulus: str = "curve",
                  orientations: int | Sequence[float] = 72, curvatures: int | Sequence[float] = 8,
                  pre_relu: bool = True, batch_size: int = 64, progress: ProgressFn = no_progress,
                  should_stop: StopFn | None = None, center: tuple[float, float] | None = None,
                  **style) -> list[ResponseMap]:
    """Sweep orientation x curvature (or opening) once and return one :class:`ResponseMap` per unit.

    ``orientations``: a count (evenly spaced over 0-360, starting at 0) or degrees.
    ``curvatures``: a count (see :func:`default_parameters`) or radii in pixels at the model's
    input size (for ``stimulus="angle"``: openings in degrees). ``pre_relu`` records each unit's
    pre-ReLU value where the layer has one. ``center`` ((x, y) input pixels) is where the curve's
    apex or the angle's vertex sits; by default the receptive-field centre of each unit's centre
    position (:func:`stimulus_centre`; units of layers with different centres get a sweep each).
    ``style`` goes to the renderer (``fg``, ``bg``, ``width``, ``arc_length``, ``filled``...).
    """
    if stimulus not in STIMULI:
        raise UserError(f"unknown stimulus '{stimulus}'; use one of {', '.join(STIMULI)}")
    size = max(model.input_size)
    thetas = _orientation_axis(orientations)
    params = (default_parameters(stimulus, int(curvatures), size) if np.isscalar(curvatures)
              else np.asarray(curvatures, dtype=np.float64))
    if len(thetas) < 1 or len(params) < 1:
        raise UserError("a response map needs at least one orientation and one curvature")
    refs = resolve_units(model, units, pre_relu)
    centres = [tuple(center) if center is not None else stimulus_centre(model, ref) for ref in refs]
    grid_theta = np.tile(thetas, len(params))
    grid_param = np.repeat(params, len(thetas))
    values = np.empty((len(grid_theta), len(refs)), np.float32)
    groups = {c: [i for i, other in enumerate(centres) if other == c] for c in dict.fromkeys(centres)}
    for g, (where, members) in enumerate(groups.items()):
        def images(a: int, b: int, where=where) -> np.ndarray:
            return render(stimulus, grid_theta[a:b], grid_param[a:b], size, center=where, **style)

        def report(step: int, total: int, preview=None, g=g) -> None:
            progress(g * total + step, len(groups) * total, preview)

        values[:, members] = sweep(model, [refs[i] for i in members], images, len(grid_theta), batch_size,
                                   report, should_stop)
    maps = []
    for i, ref in enumerate(refs):
        grid = values[:, i].reshape(len(params), len(thetas))
        rmap = ResponseMap(str(ref), stimulus, thetas, params, grid, ref.is_pre_relu, size, center=centres[i])
        _attach_sigma(model, ref, rmap)
        maps.append(rmap)
    return maps


def response_map(model: LoadedModel, unit: UnitRef | str, stimulus: str = "curve",
                 orientations: int | Sequence[float] = 72, curvatures: int | Sequence[float] = 8,
                 pre_relu: bool = True, progress: ProgressFn = no_progress,
                 should_stop: StopFn | None = None, **style) -> ResponseMap:
    """One unit's response map; see :func:`response_maps`."""
    return response_maps(model, [unit], stimulus, orientations, curvatures, pre_relu,
                         progress=progress, should_stop=should_stop, **style)[0]


def _orientation_axis(orientations: int | Sequence[float]) -> np.ndarray:
    if np.isscalar(orientations):
        count = int(orientations)
        if count < 1:
            raise UserError("--orientations must be at least 1")
        return np.arange(count) * (360.0 / count)
    return np.asarray(orientations, dtype=np.float64) % 360


def _attach_sigma(model: LoadedModel, unit: UnitRef, rmap: ResponseMap) -> None:
    """Fill ``rmap.sigma`` from the dataset distribution when a dataset cache holds one."""
    try:
        from circuitloupe.core.dataset import unit_distribution
    except ImportError:
        return
    values = unit_distribution(model, unit.post_relu())  # pre-ReLU values over the dataset
    if values is None or len(values) < 2:
        return
    values = np.asarray(values, dtype=np.float64)
    if not unit.is_pre_relu and model.catalogue.pre_relu_of(unit.layer) not in (None, unit.layer):
        values = np.maximum(values, 0.0)  # the map holds post-ReLU values of a layer with a ReLU
    std = float(values.std())
    if std <= 0:
        return
    rmap.dataset_mean, rmap.dataset_std = float(values.mean()), std
    rmap.sigma = (rmap.values - rmap.dataset_mean) / std


# --------------------------------------------------------------------------- radial tuning

def radial_from_map(rmap: ResponseMap) -> RadialTuning:
    """Positive responses averaged over curvature, resampled to 720 orientations (0.5 deg)."""
    profile = np.clip(rmap.values, 0, None).mean(axis=0)
    angles = np.arange(RADIAL_SAMPLES) * (360.0 / RADIAL_SAMPLES)
    order = np.argsort(rmap.orientations)
    xs, ys = rmap.orientations[order], profile[order]
    resampled = np.interp(angles, xs, ys, period=360.0) if len(xs) > 1 else np.full_like(angles, ys[0])
    return _summarise(rmap.unit, angles, resampled)


def _summarise(unit: str, angles: np.ndarray, profile: np.ndarray) -> RadialTuning:
    peak = float(profile.max())
    rad = np.deg2rad(angles)
    tuned = profile - profile.min()
    total = float(tuned.sum())
    if peak <= 0 or total <= 0:
        return RadialTuning(unit, angles, profile, float("nan"), 360.0, 0.0, peak)
    selectivity = float(np.hypot((tuned * np.cos(rad)).sum(), (tuned * np.sin(rad)).sum()) / total)
    top = int(np.argmax(profile))
    offsets = (angles - angles[top] + 180.0) % 360.0 - 180.0
    near = np.abs(offsets) <= 90.0
    weights = profile[near]
    mean_offset = float(np.rad2deg(np.arctan2((weights * np.sin(np.deg2rad(offsets[near]))).sum(),
                                              (weights * np.cos(np.deg2rad(offsets[near]))).sum())))
    preferred = (angles[top] + mean_offset) % 360.0
    return RadialTuning(unit, angles, profile, float(preferred), _fwhm(profile, top, angles), selectivity, peak)


def _fwhm(profile: np.ndarray, top: int, angles: np.ndarray) -> float:
    """Full width at half maximum around index ``top`` on a circular profile, in degrees."""
    n = len(profile)
    half = profile[top] / 2
    step = 360.0 / n
    widths = []
    for direction in (1, -1):
        for k in range(1, n):
            value = profile[(top + direction * k) % n]
            if value < half:
                previous = profile[(top + direction * (k - 1)) % n]
                fraction = (previous - half) / max(previous - value, 1e-12)
                widths.append((k - 1 + fraction) * step)
                break
        else:
            return 360.0
    return float(min(360.0, sum(widths)))


def radial_tuning(model: LoadedModel, unit: UnitRef | str, stimulus: str = "curve",
                  orientations: int = RADIAL_SAMPLES, curvatures: int | Sequence[float] = 8,
                  pre_relu: bool = True, progress: ProgressFn = no_progress,
                  should_stop: StopFn | None = None, **style) -> RadialTuning:
    """One unit's radial tuning curve; by default measured at 720 orientations (0.5 degrees)."""
    return family_radial_tuning(model, [unit], stimulus, orientations, curvatures, pre_relu,
                                progress, should_stop, **style)[0]


def family_radial_tuning(model: LoadedModel, units: Sequence[UnitRef | str], stimulus: str = "curve",
                         orientations: int = RADIAL_SAMPLES, curvatures: int | Sequence[float] = 8,
                         pre_relu: bool = True, progress: ProgressFn = no_progress,
                         should_stop: StopFn | None = None, **style) -> list[RadialTuning]:
    """Radial tuning of several units from one shared sweep (fewer orientations are interpolated)."""
    maps = response_maps(model, units, stimulus, orientations, curvatures, pre_relu,
                         progress=progress, should_stop=should_stop, **style)
    return [radial_from_map(m) for m in maps]


def unit_summary(rmap: ResponseMap) -> dict:
    """JSON-ready numbers for one unit: preferred orientation, width, peak and the grid."""
    radial = radial_from_map(rmap)
    value, orientation, parameter = rmap.peak
    key = "radius_px" if rmap.stimulus == "curve" else "opening_deg"
    summary = {
        "unit": rmap.unit,
        "pre_relu": rmap.pre_relu,
        "preferred_orientation_deg": None if np.isnan(radial.preferred) else round(radial.preferred, 2),
        "tuning_width_deg": round(radial.width, 2),
        "selectivity": round(radial.selectivity, 4),
        "peak_response": value,
        "peak_orientation_deg": orientation,
        f"peak_{key}": parameter,
        "response_grid": rmap.values,
        "stimulus_centre_xy": None if rmap.center is None else [round(float(v), 2) for v in rmap.center],
    }
    if rmap.sigma is not None:
        summary.update(dataset_mean=rmap.dataset_mean, dataset_std=rmap.dataset_std, sigma_grid=rmap.sigma)
    return summary
