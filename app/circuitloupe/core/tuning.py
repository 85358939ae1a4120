"""Tuning of units to synthetic stimuli: response maps, radial and joint tuning curves.

* :func:`response_maps` sweeps curves (orientation x radius) or angles (orientation x opening)
  through a model and records each unit's value at the centre position: a grid [M, N] with
  orientations along N. Stimuli are drawn on the receptive-field centre of that position
  (:func:`~circuitloupe.core.dataset.receptive_field_centre`), which with TensorFlow "same"
  padding lies several pixels off the image centre. Values are optionally expressed in standard deviations of the unit's
  dataset distribution when a dataset cache exists.
* :func:`radial_tuning` takes the positive part of a response map, averages it over curvature
  and wraps it around the circle (720 samples, 0.5-degree steps), giving each unit's preferred
  orientation and tuning width (full width at half maximum).
* :func:`joint_tuning` rotates images (by default each unit's best synthetic stimuli) through
  0-360 degrees about the source unit's receptive-field centre, records every family member,
  aligns the sources by their preferred orientations and averages: one bump per member over
  absolute orientation.

Curve-detector families are found by :mod:`circuitloupe.core.curve_finder`.

Orientations follow :mod:`circuitloupe.core.stimuli`: degrees, 0 = a curve bulging upward,
counter-clockwise positive. Long functions take ``progress(step, total, preview)`` and
``should_stop()``; figures (matplotlib, imported lazily) take ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from circuitloupe.core import stimuli
from circuitloupe.core.activations import unit_values
from circuitloupe.core.dataset.receptive import receptive_field_centre
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.resample import affine_resample, rotation_thetas
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


# --------------------------------------------------------------------------- joint tuning

def rotate_images(images: torch.Tensor, angles_deg: np.ndarray,
                  center: tuple[float, float] | None = None) -> torch.Tensor:
    """Rotate each of [B, C, H, W] images counter-clockwise by each angle -> [B * A, C, H, W].

    The turn is about ``center`` ((x, y) pixels from the top-left corner; default the image
    centre). Inside a circular aperture (the largest circle about it that fits in the image)
    pixels are rotated with bilinear sampling; outside it every image shows its own mean
    colour, so corners never move.
    """
    b, c, h, w = images.shape
    a = len(angles_deg)
    cx, cy = (w / 2, h / 2) if center is None else center
    thetas = rotation_thetas(angles_deg, (h, w), (cx, cy))
    rotated = affine_resample(images.repeat_interleave(a, dim=0), thetas.repeat(b, 1, 1))
    ys = torch.arange(h, device=images.device) + 0.5 - cy
    xs = torch.arange(w, device=images.device) + 0.5 - cx
    distance = torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    radius = min(cx, w - cx, cy, h - cy)
    aperture = torch.clamp(radius - distance + 0.5, 0, 1)[None, None]
    mean = images.mean(dim=(2, 3), keepdim=True).repeat_interleave(a, dim=0)
    return rotated * aperture + mean * (1 - aperture)


def best_stimuli(model: LoadedModel, units: Sequence[UnitRef | str], count: int = 3, orientations: int = 36,
                 curvatures: int = 6, should_stop: StopFn | None = None) -> list[np.ndarray]:
    """Each unit's ``count`` strongest synthetic curves -> list of [count, S, S, 3]."""
    maps = response_maps(model, units, "curve", orientations, curvatures, pre_relu=False,
                         should_stop=should_stop)
    rendered = []
    for rmap in maps:
        picks = rmap.best_stimuli(count)
        rendered.append(stimuli.curves([p[0] for p in picks], [p[1] for p in picks], rmap.size, center=rmap.center))
    return rendered


def dataset_examples(model: LoadedModel, units: Sequence[UnitRef], count: int = 3) -> list[np.ndarray] | None:
    """Each unit's top dataset examples placed on a model-sized canvas, centred where the unit
    looks (:func:`stimulus_centre`) -> list of [count, H, W, 3], or None unless a dataset cache
    covers every unit."""
    try:
        from circuitloupe.core.dataset import top_examples
    except ImportError:
        return None
    h, w = model.input_size
    sets = []
    for unit in units:
        found = top_examples(model, unit.post_relu(), k=count)
        if not found:
            return None
        where = stimulus_centre(model, unit)
        sets.append(np.stack([_centred(crop, h, w, where) for crop, _value in found]))
    return sets


def _centred(crop: np.ndarray, h: int, w: int, center: tuple[float, float]) -> np.ndarray:
    """A receptive-field crop on an [h, w, 3] canvas of its mean colour, its centre on ``center``
    ((x, y) pixels from the top-left corner)."""
    crop = np.asarray(crop, dtype=np.float32)
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = crop.mean(axis=(0, 1))
    ch, cw = crop.shape[:2]
    top, left = int(round(center[1] - ch / 2)), int(round(center[0] - cw / 2))
    src = crop[max(0, -top):max(0, -top) + min(h, ch), max(0, -left):max(0, -left) + min(w, cw)]
    canvas[max(0, top):max(0, top) + src.shape[0], max(0, left):max(0, left) + src.shape[1]] = src
    return canvas


def joint_tuning(model: LoadedModel, units: Sequence[UnitRef | str],
                 images: Sequence[np.ndarray] | None = None, step: float = 1.0,
                 preferred: Sequence[float] | None = None, pre_relu: bool = False,
                 progress: ProgressFn = no_progress, should_stop: StopFn | None = None) -> JointTuning:
    """Joint tuning curves of a family.

    ``images[i]`` ([K, H, W, 3] in [0, 1]) are the examples that drive ``units[i]``; by default
    its top dataset examples when a dataset cache exists, else its best synthetic curves, both
    centred on unit i's receptive-field centre (:func:`stimulus_centre`). Each set is rotated
    0-360 degrees in ``step``-degree steps (counter-clockwise) about that centre and every
    member's centre value recorded. Set ``i`` is anchored at
    ``preferred[i]`` (default: unit i's radial-tuning preferred orientation) at the rotation
    where unit i itself peaks; member curves are averaged over the aligned sets.
    """
    refs = resolve_units(model, units, pre_relu)
    source = "given images"
    if images is None:
        images, source = dataset_examples(model, refs), "top dataset examples"
    if images is None:
        images, source = best_stimuli(model, refs, should_stop=should_stop), "best synthetic curves"
    if len(images) != len(refs):
        raise UserError(f"joint tuning needs one image set per unit ({len(refs)}), got {len(images)}")
    if preferred is None:
        tunings = family_radial_tuning(model, refs, orientations=72, curvatures=6, pre_relu=pre_relu,
                                       should_stop=should_stop)
        preferred = [0.0 if np.isnan(t.preferred) else t.preferred for t in tunings]
    rotations = np.arange(0.0, 360.0, step)
    per_source = np.zeros((len(refs), len(rotations), len(refs)), np.float32)
    for i, examples in enumerate(images):
        check_stop(should_stop)
        batch = model_batch(model, np.asarray(examples, dtype=np.float32).reshape(-1, *np.shape(examples)[-3:]))
        rotated = rotate_images(batch, rotations, stimulus_centre(model, refs[i]))  # [K * A, C, H, W], angle fastest
        values = sweep(model, refs, lambda a, b: rotated[a:b].permute(0, 2, 3, 1).numpy(), len(rotated),
                       should_stop=should_stop)
        per_source[i] = values.reshape(len(batch), len(rotations), len(refs)).mean(axis=0)
        progress(i + 1, len(refs))
    curves = np.zeros((len(refs), len(rotations)), np.float32)
    for i in range(len(refs)):
        anchor = rotations[int(np.argmax(per_source[i, :, i]))]
        shift = int(round((preferred[i] - anchor) / step))  # rotation r shows orientation r + shift*step
        curves += np.roll(per_source[i].T, shift, axis=1)
    return JointTuning([str(r) for r in refs], rotations, curves / len(refs), np.asarray(preferred, float),
                       per_source, source)


# --------------------------------------------------------------------------- figures

def hue_colour(orientation: float) -> tuple[float, float, float]:
    """The colour for a preferred orientation: hue = orientation / 360."""
    import colorsys

    if np.isnan(orientation):
        return (0.5, 0.5, 0.5)
    return colorsys.hsv_to_rgb((orientation % 360.0) / 360.0, 0.85, 0.85)


def response_map_figure(maps: ResponseMap | Sequence[ResponseMap], scale: float = 1.0,
                        use_sigma: bool | None = None, columns: int | None = None) -> Image.Image:
    """Heatmaps of response maps (orientation across, curvature down), red/white/blue around 0.

    ``use_sigma`` (default: when every map has it) shows standard deviations of the dataset
    distribution instead of raw activations. Each panel is titled with the unit and its peak.
    """
    from matplotlib.colors import LinearSegmentedColormap

    from circuitloupe.core.figures import DIVERGING_STOPS, new_plot, plot_to_image

    maps = [maps] if isinstance(maps, ResponseMap) else list(maps)
    if not maps:
        raise UserError("no response maps to draw")
    use_sigma = all(m.sigma is not None for m in maps) if use_sigma is None else use_sigma
    columns = columns or min(len(maps), 4)
    rows = -(-len(maps) // columns)
    fig, first = new_plot(4.2 * columns, 3.2 * rows, scale)
    first.remove()
    cmap = LinearSegmentedColormap.from_list("circuits", DIVERGING_STOPS)
    for k, rmap in enumerate(maps):
        ax = fig.add_subplot(rows, columns, k + 1)
        grid = rmap.sigma if use_sigma and rmap.sigma is not None else rmap.values
        limit = float(np.abs(grid).max()) or 1.0
        step = 360.0 / len(rmap.orientations) if len(rmap.orientations) > 1 else 360.0
        image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit, origin="upper",
                          extent=(rmap.orientations[0] - step / 2, rmap.orientations[-1] + step / 2,
                                  len(rmap.parameters) - 0.5, -0.5), interpolation="nearest")
        ax.set_yticks(range(len(rmap.parameters)))
        ax.set_yticklabels([param_label(p) for p in rmap.parameters], fontsize=7)
        ax.set_xticks(np.arange(0, 361, 90))
        ax.set_xlabel("orientation (deg, 0 = bulging up, CCW)", fontsize=7)
        ax.set_ylabel(rmap.parameter_name, fontsize=8)
        value, theta, param = rmap.peak
        kind = "pre-ReLU" if rmap.pre_relu else "post-ReLU"
        ax.set_title(f"{rmap.unit} ({kind})\npeak {value:.3g} at {theta:.0f} deg, {param_label(param)}",
                     fontsize=8)
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label("sigma (dataset)" if use_sigma and rmap.sigma is not None else "activation", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    fig.tight_layout()
    return plot_to_image(fig)


def param_label(value: float) -> str:
    """A radius or opening for an axis label: 'inf', '9.2', '16'."""
    return "inf" if not np.isfinite(value) else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def radial_tuning_figure(tunings: Sequence[RadialTuning], scale: float = 1.0, normalise: bool = True,
                         title: str | None = None) -> Image.Image:
    """A family's radial tuning curves on one circle, each coloured by its preferred orientation.

    The polar angle is the stimulus orientation (0 up, counter-clockwise), so each bump points
    the way its preferred curve bulges. ``normalise`` scales each curve to its own peak.
    """
    from circuitloupe.core.figures import new_plot, plot_to_image

    fig, ax = new_plot(5.2, 5.2, scale, polar=True)
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(1)
    for tuning in tunings:
        peak = tuning.peak if tuning.peak > 0 else 1.0
        profile = tuning.profile / peak if normalise else tuning.profile
        theta = np.deg2rad(np.append(tuning.angles, tuning.angles[0]))
        colour = hue_colour(tuning.preferred)
        ax.plot(theta, np.append(profile, profile[0]), color=colour, linewidth=1.6)
        ax.fill(theta, np.append(profile, profile[0]), color=colour, alpha=0.08)
        if not np.isnan(tuning.preferred):
            radius = 1.08 * (1.0 if normalise else tuning.peak)
            ax.text(np.deg2rad(tuning.preferred), radius, tuning.unit.split(":")[-1], color=colour,
                    fontsize=7, ha="center", va="center")
    ax.set_yticklabels([])
    ax.tick_params(labelsize=7)
    layers = sorted({t.unit.split(":")[0] for t in tunings})
    default = f"radial tuning of {len(tunings)} units, {', '.join(layers)}"
    default += " (each curve / its peak)" if normalise else ""
    ax.set_title(title or default, fontsize=9, pad=14)
    return plot_to_image(fig)


def joint_tuning_figure(joint: JointTuning, scale: float = 1.0, normalise: bool = True,
                        title: str | None = None) -> Image.Image:
    """Each family member's response over stimulus orientation (rotated images), hue by its peak."""
    from circuitloupe.core.figures import new_plot, plot_to_image

    fig, ax = new_plot(7.0, 3.2, scale)
    for unit, curve in zip(joint.units, joint.curves):
        peak = float(curve.max())
        values = curve / peak if normalise and peak > 0 else curve
        where = float(joint.angles[int(np.argmax(curve))]) if peak > 0 else float("nan")
        ax.plot(joint.angles, values, color=hue_colour(where), linewidth=1.4, label=unit)
    ax.set_xlim(0, 360)
    ax.set_xticks(np.arange(0, 361, 45))
    ax.set_xlabel("orientation (deg, 0 = bulging up, CCW)", fontsize=8)
    ax.set_ylabel("response / peak" if normalise else "activation", fontsize=8)
    ax.tick_params(labelsize=7)
    if len(joint.units) <= 24:
        ax.legend(fontsize=6, ncol=1 if len(joint.units) <= 12 else 2, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or f"joint tuning ({joint.source} rotated 0-360, aligned, averaged)", fontsize=9)
    fig.tight_layout()
    return plot_to_image(fig)


def summary_figure(maps: Sequence[ResponseMap], scale: float = 1.0) -> Image.Image:
    """The response maps beside the units' radial tuning curves on one circle."""
    from circuitloupe.core.figures import side_by_side

    left = response_map_figure(maps, scale)
    right = radial_tuning_figure([radial_from_map(m) for m in maps], scale)
    return side_by_side([left, right], height=max(left.height, right.height), scale=1.0)


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
