"""Natural equivariance: do a network's units form families that a transformation permutes?

After "Naturally Occurring Equivariance in Neural Networks" (Olah et al., Distill 2020). For a
list of units and a transformation family g^0, g^1, ..., g^{S-1} (rotation by 360/S degrees,
hue rotation by 360/S degrees, horizontal flip, or zoom), the stimuli are transformed by every
step and each unit's response is measured: ``F[s, n, u]`` (step, stimulus, unit).

Convention: the transformation maps unit i to unit π(i) when unit π(i) responds to ``g x``
as unit i responds to ``x``: ``F[s+1, :, π(i)] ≈ F[s, :, i]``. Responses are first
standardised per unit over all measurements (mean 0, standard deviation 1), so gains and
offsets do not matter. The **equivariance score** is the relative error
``||F(g x) - P_π F(x)|| / ||F(g x)||`` summed over consecutive step pairs (wrapping for cyclic
families), reported beside two baselines: the identity permutation and random permutations.
The best π is a Hungarian assignment that minimises exactly that error, in which a unit may
instead map to nothing, a **hole** (it then predicts zero, and the unit nobody maps to costs
``hole_threshold``² of its energy): so one missing member does not force a wrong permutation
on the others. With the default threshold of 1 a match is kept only when it predicts better
than nothing, and the score is never worse than the identity baseline.

Angles are in degrees, counter-clockwise on screen (``torch.rot90`` turns by +90). Images are
``[B, C, H, W]`` tensors in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.activations import forward_until
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.resample import affine_resample, rotation_thetas, zoom_theta
from circuitloupe.core.units import UnitRef

TRANSFORMS = ("rotate", "hue", "flip", "scale")
DEFAULT_STEPS = {"rotate": 8, "hue": 6, "flip": 2, "scale": 4}
CYCLIC = {"rotate", "hue", "flip"}
REDUCTIONS = ("centre", "mean", "max")
#: Largest zoom of the scale family (the last step), as a factor.
MAX_SCALE = 2.0


# --------------------------------------------------------------------------- transformations

def transform_values(kind: str, steps: int | None = None) -> list[float]:
    """The transformation of each step: degrees for rotate/hue, 0/1 for flip, zoom factors for scale."""
    if kind not in TRANSFORMS:
        raise UserError(f"unknown transformation '{kind}'; choose one of {', '.join(TRANSFORMS)}")
    steps = DEFAULT_STEPS[kind] if steps is None else int(steps)
    if kind == "flip":
        return [0.0, 1.0]
    if steps < 2:
        raise UserError(f"a {kind} family needs at least 2 steps, not {steps}")
    if kind == "scale":
        return [float(MAX_SCALE ** (k / (steps - 1))) for k in range(steps)]
    return [360.0 * k / steps for k in range(steps)]


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate ``[B, C, H, W]`` counter-clockwise about the image centre; exact for multiples of 90.

    Other angles resample bilinearly; pixels from beyond the image repeat the border.
    """
    quarter = degrees / 90.0
    if abs(quarter - round(quarter)) < 1e-9:
        return torch.rot90(images, int(round(quarter)) % 4, dims=(-2, -1))
    return affine_resample(images, rotation_thetas(degrees, images.shape[-2:])[0])


def zoom(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Enlarge ``[B, C, H, W]`` about its centre by ``factor`` (< 1 shrinks; the border repeats)."""
    return affine_resample(images, zoom_theta(factor))


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def hue_rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Turn the hue of RGB ``[B, 3, H, W]`` by ``degrees``: a rotation of the YIQ chroma plane
    (luma kept), clipped to [0, 1]."""
    if images.shape[1] != 3:
        raise UserError("hue rotation needs colour (RGB) images and a colour model")
    a = math.radians(degrees)
    turn = torch.tensor([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    matrix = (torch.linalg.inv(_RGB_TO_YIQ) @ turn @ _RGB_TO_YIQ).to(images.dtype).to(images.device)
    return torch.einsum("ij,bjhw->bihw", matrix, images).clamp(0.0, 1.0)


def transform(images: torch.Tensor, kind: str, value: float) -> torch.Tensor:
    """Apply one step of a family: ``rotate``/``hue`` by degrees, ``flip`` (1 = mirror
    left-right), ``scale`` by a zoom factor."""
    if kind == "rotate":
        return rotate(images, value)
    if kind == "hue":
        return images if value % 360 == 0 else hue_rotate(images, value)
    if kind == "flip":
        return torch.flip(images, dims=(-1,)) if round(value) % 2 else images
    if kind == "scale":
        return images if value == 1 else zoom(images, value)
    raise UserError(f"unknown transformation '{kind}'; choose one of {', '.join(TRANSFORMS)}")


# --------------------------------------------------------------------------- stimuli

def synthetic_stimuli(size: int, colour: bool = True) -> torch.Tensor:
    """Curves, lines, edges and gratings at 8 orientations from :mod:`circuitloupe.core.stimuli`
    -> ``[N, 3, size, size]``; with ``colour``, also coloured edges and gratings of 6 hues.

    Shapes are dark on white; a single-channel model sees them inverted (white on black, like
    MNIST digits) through :func:`prepare`.
    """
    from circuitloupe.core import stimuli

    orientations = np.arange(8) * 45.0
    images = [stimuli.curves(orientations, radius, size, width=max(1.5, size / 14)) for radius in (size / 5, size / 3)]
    images.append(np.stack([stimuli.line(o, size, width=max(1.5, size / 14)) for o in orientations[:4]]))
    images.append(np.stack([stimuli.edge(o, size) for o in orientations]))
    images.append(np.stack([stimuli.grating(o, f, size) for o in orientations[:4] for f in (2.0, 4.0)]))
    if colour:
        hues = [_hue_rgb(h) for h in range(0, 360, 60)]
        images.append(np.stack([stimuli.edge(o, size, fg=c, bg=0.5) for c in hues for o in (0.0, 90.0)]))
        images.append(np.stack([stimuli.grating(0.0, 3.0, size, fg=c, bg=0.5) for c in hues]))
    return torch.from_numpy(np.concatenate(images)).permute(0, 3, 1, 2).contiguous()


def _hue_rgb(degrees: float) -> np.ndarray:
    """A saturated colour of hue ``degrees`` (HSV hue, value 1, saturation 0.8)."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb((degrees % 360) / 360.0, 0.8, 1.0), dtype=np.float32)


def folder_stimuli(folder: str | Path, size: tuple[int, int], limit: int = 64) -> torch.Tensor:
    """Up to ``limit`` images of a folder (sorted by name), resized -> ``[N, 3, H, W]``.

    Unreadable files are skipped; a folder with no readable image is a :class:`UserError`.
    """
    from circuitloupe.core.images import IMAGE_SUFFIXES, load_image, to_batch

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"stimulus folder {folder} does not exist")
    arrays = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            arrays.append(load_image(path))
        except ImageError:
            continue
        if len(arrays) >= limit:
            break
    if not arrays:
        raise UserError(f"no readable images in {folder}")
    return to_batch(arrays, size)


def featurevis_stimuli(model: LoadedModel, units: Sequence[UnitRef | str], steps: int = 128,
                       progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> torch.Tensor:
    """Each unit's feature visualisation (cached or rendered now) -> ``[U, C, H, W]``."""
    try:
        from circuitloupe.core.featurevis.cache import get_or_render
    except ImportError:
        raise UserError("feature visualisation is not available in this build; use synthetic stimuli") from None
    size = model.input_size[0]
    images = [get_or_render(model, unit, size=size, steps=steps, should_stop=should_stop) for unit in units]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().contiguous()


def prepare(model: LoadedModel, images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Stimuli as the model's input: ``[N, C, H, W]`` (or ``[N, H, W, C]`` numpy) in [0, 1] ->
    the model's channel count (RGB to grey, inverted: light shapes on dark) and input size."""
    tensor = torch.as_tensor(images, dtype=torch.float32)
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.shape[-1] in (1, 3) and tensor.shape[1] not in (1, 3):
        tensor = tensor.permute(0, 3, 1, 2)
    if model.in_channels == 1 and tensor.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        tensor = 1.0 - (tensor * weights).sum(1, keepdim=True)
    elif model.in_channels == 3 and tensor.shape[1] == 1:
        tensor = tensor.expand(-1, 3, -1, -1)
    if tuple(tensor.shape[-2:]) != tuple(model.input_size):
        tensor = F.interpolate(tensor, size=model.input_size, mode="bilinear", antialias=True, align_corners=False)
    return tensor.clamp(0, 1).contiguous()


# --------------------------------------------------------------------------- responses

def reduce_maps(maps: torch.Tensor, reduce: str = "centre") -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, C]``: the centre (mean of the central 1 or 2 pixels per axis, so
    it is unchanged by 90-degree rotations and flips), the spatial mean or the max."""
    if maps.dim() == 2:
        return maps
    if reduce == "mean":
        return maps.mean(dim=(-2, -1))
    if reduce == "max":
        return maps.amax(dim=(-2, -1))
    if reduce != "centre":
        raise UserError(f"reduce must be one of {', '.join(REDUCTIONS)}, not '{reduce}'")
    h, w = maps.shape[-2:]
    rows = slice((h - 1) // 2, h // 2 + 1)
    cols = slice((w - 1) // 2, w // 2 + 1)
    return maps[:, :, rows, cols].mean(dim=(-2, -1))


def unit_responses(model: LoadedModel, images: torch.Tensor, units: Sequence[UnitRef],
                   reduce: str = "centre") -> torch.Tensor:
    """Responses ``[B, U]`` of model-ready images ``[B, C, H, W]`` (see :func:`prepare`)."""
    layers = sorted({unit.layer for unit in units})
    found = forward_until(model, images, layers)
    reduced = {name: reduce_maps(value, reduce) for name, value in found.items()}
    return torch.stack([reduced[unit.layer][:, unit.channel] for unit in units], dim=1)


def measure(model: LoadedModel, units: Sequence[UnitRef | str], stimuli: torch.Tensor, kind: str,
            values: Sequence[float], reduce: str = "centre", batch_size: int = 64,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """Responses ``F[s, n, u]`` of ``units`` to every stimulus transformed by every step.

    ``stimuli`` are model-ready (:func:`prepare`). Returns float64 ``[S, N, U]``.
    """
    refs = [model.catalogue.unit(u) for u in units]
    stimuli = stimuli.to(model.device)
    batches = [stimuli[i:i + batch_size] for i in range(0, stimuli.shape[0], batch_size)]
    total, done = len(values) * len(batches), 0
    out = np.zeros((len(values), stimuli.shape[0], len(refs)))
    for s, value in enumerate(values):
        start = 0
        for batch in batches:
            check_stop(should_stop)
            moved = transform(batch, kind, value)
            out[s, start:start + batch.shape[0]] = unit_responses(model, moved, refs, reduce).double().cpu().numpy()
            start += batch.shape[0]
            done += 1
            if progress is not None:
                progress(done, total)
    return out


# --------------------------------------------------------------------------- analysis

@dataclass
class EquivarianceResult:
    """The outcome of one family x transformation analysis (see the module docstring).

    ``mapping[i]`` is the index (into ``units``) unit i maps to under one step, or None for a
    hole; ``assignment`` completes it to a full permutation (each hole gets the cheapest unused
    unit); ``unit_errors[i]`` is unit i's match error (for a hole, its best possible one).
    ``score`` and ``baseline_*`` are relative errors (0 = perfect). ``wraps_at`` (rotation only)
    is 90, 180 or 360 degrees, or None when the steps do not include 90 and 180. ``shift`` is the
    common index step of the mapping (+1: each unit maps to the next in the list) and
    ``direction`` says what that means for this family. ``responses`` is ``F[s, n, u]``.
    """

    units: list[str]
    kind: str
    values: list[float]
    mapping: list[int | None]
    assignment: list[int]
    unit_errors: list[float]
    score: float
    baseline_identity: float
    baseline_random: float
    baseline_random_std: float
    wraps_at: int | None
    shift: int | None
    direction: str | None
    holes: list[int]
    flip_pairs: list[tuple[int, int]]
    probe: int
    responses: np.ndarray = field(repr=False)
    cost: np.ndarray = field(repr=False)

    @property
    def step(self) -> float:
        """The transformation of one step (degrees, flip, or zoom factor)."""
        return self.values[1]

    def mapped_units(self) -> dict[str, str | None]:
        """``{unit: unit it maps to (or None)}`` by name."""
        return {self.units[i]: (None if j is None else self.units[j]) for i, j in enumerate(self.mapping)}

    def response_matrix(self) -> np.ndarray:
        """``[U, S]``: each unit's normalised response to the probe stimulus at every step."""
        return _normalise(self.responses)[:, self.probe, :].T

    def to_json(self) -> dict:
        """A JSON-ready summary: mapping, score, baselines and the per-unit errors."""
        return {
            "units": self.units, "transform": self.kind, "values": self.values,
            "mapping": self.mapped_units(),
            "permutation": [self.units[j] for j in self.assignment],
            "score": self.score,
            "baselines": {"identity": self.baseline_identity, "random": self.baseline_random,
                          "random_std": self.baseline_random_std},
            "unit_errors": dict(zip(self.units, self.unit_errors)),
            "holes": [self.units[i] for i in self.holes],
            "wraps_at_degrees": self.wraps_at, "shift": self.shift, "direction": self.direction,
            "flip_pairs": [[self.units[i], self.units[j]] for i, j in self.flip_pairs],
            "response_matrix": self.response_matrix().round(6).tolist(),
        }


def _normalise(responses: np.ndarray) -> np.ndarray:
    """Standardise each unit over all steps and stimuli: subtract its mean, divide by its standard
    deviation (dead units become 0), so gains and offsets do not matter, only tuning."""
    centred = responses - responses.mean(axis=(0, 1), keepdims=True)
    std = np.sqrt((centred ** 2).mean(axis=(0, 1), keepdims=True))
    return np.where(std > 1e-12, centred / np.where(std > 1e-12, std, 1.0), 0.0)


def _pairs(kind: str, steps: int) -> list[tuple[int, int]]:
    """(from step, to step) pairs one generator apart; cyclic families wrap around."""
    pairs = [(s, s + 1) for s in range(steps - 1)]
    if kind in CYCLIC and steps > 2:
        pairs.append((steps - 1, 0))
    return pairs


def _relative_error(norm: np.ndarray, pairs, mapping: Sequence[int | None]) -> float:
    """``||F(g x) - P F(x)|| / ||F(g x)||`` summed over the step pairs for the (partial)
    permutation ``mapping`` (unit i -> mapping[i]; a hole predicts nothing, i.e. zero)."""
    num = den = 0.0
    for a, b in pairs:
        predicted = np.zeros_like(norm[b])
        for i, j in enumerate(mapping):
            if j is not None:
                predicted[:, j] = norm[a][:, i]
        num += float(((norm[b] - predicted) ** 2).sum())
        den += float((norm[b] ** 2).sum())
    return math.sqrt(num / den) if den > 0 else float("nan")


def analyse(responses: np.ndarray, units: Sequence[str], kind: str, values: Sequence[float],
            hole_threshold: float = 1.0, random_trials: int = 200, seed: int = 0) -> EquivarianceResult:
    """Infer the permutation and the equivariance score from responses ``F[s, n, u]``."""
    from scipy.optimize import linear_sum_assignment

    units = [str(u) for u in units]
    n_units = len(units)
    if responses.shape[0] != len(values) or responses.shape[2] != n_units:
        raise ValueError("responses must be [steps, stimuli, units]")
    norm = _normalise(responses)
    pairs = _pairs(kind, len(values))
    cost = np.zeros((n_units, n_units))
    energy = np.zeros(n_units)
    for a, b in pairs:
        diff = norm[b][:, None, :] - norm[a][:, :, None]  # [N, i, j]: F_j(g x) - F_i(x)
        cost += (diff ** 2).sum(axis=0)
        energy += (norm[b] ** 2).sum(axis=0)
    relative = np.sqrt(cost / np.where(energy > 0, energy, np.inf)[None, :])  # [i, j] match error
    # Holes: a unit may map to nothing (a dummy column, free); then some unit j is predicted by
    # nobody (matched to a dummy row) at the price hole_threshold² * energy[j], which at the
    # threshold 1 is exactly its share of the score's error. So the assignment minimises the score.
    augmented = np.zeros((2 * n_units, 2 * n_units))
    augmented[:n_units, :n_units] = cost
    augmented[n_units:, :n_units] = hole_threshold ** 2 * energy[None, :]
    rows, cols = linear_sum_assignment(augmented)
    mapping: list[int | None] = [None] * n_units
    for i, j in zip(rows, cols):
        if i < n_units and j < n_units and relative[i, j] <= hole_threshold:
            mapping[i] = int(j)
    unit_errors = [float(relative[i, mapping[i]] if mapping[i] is not None else relative[i].min())
                   for i in range(n_units)]
    assignment = _complete(mapping, cost)
    rng = np.random.default_rng(seed)
    randoms = [_relative_error(norm, pairs, list(rng.permutation(n_units))) for _ in range(random_trials)]
    shift, direction = _shift(mapping, kind)
    wraps = _wraps_at(norm, values) if kind == "rotate" else None
    flips = sorted({tuple(sorted((i, j))) for i, j in enumerate(mapping) if j is not None and j != i
                    and mapping[j] == i}) if kind == "flip" else []
    # The probe: the stimulus with the sharpest peaks across the steps (so the response
    # matrix shows how the response travels from unit to unit).
    probe = int(np.argmax((norm.max(axis=0) - norm.mean(axis=0)).sum(axis=1)))
    return EquivarianceResult(
        units=units, kind=kind, values=[float(v) for v in values], mapping=mapping,
        assignment=assignment, unit_errors=unit_errors,
        score=_relative_error(norm, pairs, mapping),
        baseline_identity=_relative_error(norm, pairs, list(range(n_units))),
        baseline_random=float(np.mean(randoms)), baseline_random_std=float(np.std(randoms)),
        wraps_at=wraps, shift=shift, direction=direction,
        holes=[i for i, j in enumerate(mapping) if j is None], flip_pairs=[tuple(p) for p in flips],
        probe=probe, responses=responses, cost=cost,
    )


def _complete(mapping: list[int | None], cost: np.ndarray) -> list[int]:
    """A full permutation that agrees with ``mapping`` and gives each hole the cheapest unused unit."""
    from scipy.optimize import linear_sum_assignment

    holes = [i for i, j in enumerate(mapping) if j is None]
    free = sorted(set(range(len(mapping))) - {j for j in mapping if j is not None})
    full = [j if j is not None else -1 for j in mapping]
    if holes:
        rows, cols = linear_sum_assignment(cost[np.ix_(holes, free)])
        for r, c in zip(rows, cols):
            full[holes[r]] = free[c]
    return full


_DIRECTIONS = {
    "rotate": ("counter-clockwise", "clockwise"),
    "hue": ("hue increasing along the list", "hue decreasing along the list"),
    "scale": ("larger along the list", "smaller along the list"),
}


def _shift(mapping: list[int | None], kind: str) -> tuple[int | None, str | None]:
    """The most common index step π(i) - i (mod U) if at least half the units share it."""
    n = len(mapping)
    steps = [(j - i) % n for i, j in enumerate(mapping) if j is not None]
    if not steps or kind == "flip":
        return None, None
    values, counts = np.unique(steps, return_counts=True)
    best = int(values[np.argmax(counts)])
    if counts.max() * 2 <= n or best == 0:
        return None, None
    if kind in CYCLIC:
        best = best if best <= n // 2 else best - n
    positive, negative = _DIRECTIONS[kind]
    return best, (positive if best > 0 else negative)


def _wraps_at(norm: np.ndarray, values: Sequence[float], tolerance: float = 0.3) -> int | None:
    """90 or 180 if rotating by that angle maps every unit to itself: the best assignment between
    responses at 0 and at that angle is the identity, with relative error below ``tolerance``.
    360 if neither does; None if the steps do not include 90 and 180 degrees."""
    from scipy.optimize import linear_sum_assignment

    index = {round(v % 360, 6): s for s, v in enumerate(values)}
    if any(float(angle) not in index for angle in (90, 180)):
        return None
    n_units = norm.shape[2]
    for angle in (90, 180):
        turned = norm[index[float(angle)]]
        cost = ((turned[:, None, :] - norm[0][:, :, None]) ** 2).sum(axis=0)
        _, cols = linear_sum_assignment(cost)
        den = float((turned ** 2).sum())
        if den > 0 and np.array_equal(cols, np.arange(n_units)) and math.sqrt(float(np.trace(cost)) / den) < tolerance:
            return angle
    return 360


def equivariance(model: LoadedModel, units: Sequence[UnitRef | str], kind: str, steps: int | None = None,
                 stimuli: torch.Tensor | np.ndarray | None = None, reduce: str = "centre",
                 hole_threshold: float = 1.0, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> EquivarianceResult:
    """Measure ``units`` under a transformation family and analyse it (see :func:`analyse`).

    ``stimuli``: images in [0, 1] (any size and channel count, see :func:`prepare`); default
    :func:`synthetic_stimuli` at the model's input size.
    """
    refs = [model.catalogue.unit(u) for u in units]
    if len(refs) < 2:
        raise UserError("an equivariance analysis needs at least two units")
    values = transform_values(kind, steps)
    if kind == "hue" and model.in_channels != 3:
        raise UserError("hue rotation needs a colour model; this one takes grey images")
    if stimuli is None:
        stimuli = synthetic_stimuli(model.input_size[0], colour=model.in_channels == 3)
    ready = prepare(model, stimuli)
    responses = measure(model, refs, ready, kind, values, reduce, progress=progress, should_stop=should_stop)
    return analyse(responses, [str(r) for r in refs], kind, values, hole_threshold)


# --------------------------------------------------------------------------- weight symmetry

@dataclass
class WeightSymmetry:
    """Do the weights between two families transform with their units?

    For source units i and target units j mapped by π_src and π_dst, the expanded weight
    ``W[π_dst(j), π_src(i)]`` (actual) is compared with ``g(W[j, i])`` (predicted: the kernel
    rotated/flipped/zoomed by one step; unchanged for hue). ``errors[j, i]`` is their relative
    error (NaN where a unit is a hole); ``overall`` pools all pairs; ``baseline`` is the same
    error without transforming the kernel.
    """

    src_units: list[str]
    dst_units: list[str]
    kind: str
    step: float
    weights: np.ndarray = field(repr=False)  # [D, S, kh, kw]
    actual: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    errors: np.ndarray = field(repr=False)
    overall: float = float("nan")
    baseline: float = float("nan")

    def to_json(self) -> dict:
        return {"src_units": self.src_units, "dst_units": self.dst_units, "transform": self.kind,
                "step": self.step, "overall": self.overall, "baseline_untransformed": self.baseline,
                "pair_errors": [[None if math.isnan(e) else float(e) for e in row] for row in self.errors]}


def transform_kernel(kernel: np.ndarray, kind: str, value: float) -> np.ndarray:
    """One step of ``kind`` applied to a spatial kernel ``[..., kh, kw]`` (zero beyond it)."""
    if kind == "hue":
        return kernel
    tensor = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32)).reshape(-1, 1, *kernel.shape[-2:])
    if kind == "rotate" and abs(value / 90 - round(value / 90)) > 1e-9:
        padded = F.pad(tensor, (1, 1, 1, 1))
        out = affine_resample(padded, rotation_thetas(value, padded.shape[-2:])[0], padding="zeros")[..., 1:-1, 1:-1]
    elif kind == "scale":
        out = affine_resample(tensor, zoom_theta(value), padding="zeros") / value ** 2
    else:
        out = transform(tensor, kind, value)
    return out.reshape(kernel.shape).numpy()


def weight_symmetry(model: LoadedModel, src: EquivarianceResult, dst: EquivarianceResult,
                    progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> WeightSymmetry:
    """Compare the expanded weights between two analysed families (same transformation) with
    their transformed copies; see :class:`WeightSymmetry`."""
    from circuitloupe.core.weights import circuit_weights

    if src.kind != dst.kind or src.step != dst.step:
        raise UserError("weight symmetry needs two families analysed with the same transformation and steps")
    weights = circuit_weights(model, src.units, dst.units, progress=progress, should_stop=should_stop)
    return symmetry_of_weights(weights, src, dst)


def symmetry_of_weights(weights: np.ndarray, src: EquivarianceResult, dst: EquivarianceResult) -> WeightSymmetry:
    """:class:`WeightSymmetry` from a circuit grid ``weights[j, i]`` = kernel from src i into dst j."""
    d, s = weights.shape[:2]
    actual = np.zeros_like(weights)
    predicted = np.zeros_like(weights)
    errors = np.full((d, s), np.nan)
    num = den = base = 0.0
    for j in range(d):
        for i in range(s):
            pj, pi = dst.mapping[j], src.mapping[i]
            if pj is None or pi is None:
                continue
            actual[j, i] = weights[pj, pi]
            predicted[j, i] = transform_kernel(weights[j, i], src.kind, src.step)
            diff = float(((actual[j, i] - predicted[j, i]) ** 2).sum())
            scale = max(float((actual[j, i] ** 2).sum()), float((predicted[j, i] ** 2).sum()), 1e-24)
            errors[j, i] = math.sqrt(diff / scale)
            num += diff
            den += float((actual[j, i] ** 2).sum())
            base += float(((actual[j, i] - weights[j, i]) ** 2).sum())
    return WeightSymmetry(list(src.units), list(dst.units), src.kind, src.step, weights, actual, predicted, errors,
                          overall=math.sqrt(num / den) if den > 0 else float("nan"),
                          baseline=math.sqrt(base / den) if den > 0 else float("nan"))


# --------------------------------------------------------------------------- discovery

@dataclass
class Candidate:
    """A candidate family found in a layer: units in mapping order, and the mean correlation
    of each unit's responses with its successor's on transformed stimuli (1 = perfect)."""

    kind: str
    units: list[str]
    strength: float
    cyclic: bool

    @property
    def name(self) -> str:
        shape = "pair" if self.kind == "flip" else ("cycle" if self.cyclic else "chain")
        return f"{self.kind} {shape}: {', '.join(self.units)} (r = {self.strength:.2f})"


def discover(model: LoadedModel, layer: str, kind: str, steps: int | None = None,
             stimuli: torch.Tensor | np.ndarray | None = None, reduce: str = "centre",
             min_correlation: float = 0.8, progress: ProgressFn | None = None,
             should_stop: StopFn | None = None) -> list[Candidate]:
    """Candidate flip pairs or rotation/hue/scale families among all units of ``layer``.

    Unit j follows unit i when j's responses to transformed stimuli correlate best with i's
    responses to the originals, and i is also j's best predecessor (mutual best match) with a
    correlation of at least ``min_correlation``; a unit that follows itself is left out.
    Chains of followers of at least two units (flip: mutual pairs) are returned, strongest first.
    """
    info = model.catalogue.layer(layer)
    units = [UnitRef(info.name, c) for c in range(info.channels)]
    values = transform_values(kind, steps)
    if stimuli is None:
        stimuli = synthetic_stimuli(model.input_size[0], colour=model.in_channels == 3)
    responses = measure(model, units, prepare(model, stimuli), kind, values[:2], reduce,
                        progress=progress, should_stop=should_stop)
    corr = _cross_correlation(responses[0], responses[1])  # corr[i, j] = corr(F_i(x), F_j(g x))
    follower = np.argmax(corr, axis=1)
    leader = np.argmax(corr, axis=0)
    links = {i: int(follower[i]) for i in range(len(units))
             if leader[follower[i]] == i and corr[i, follower[i]] >= min_correlation and follower[i] != i}
    names = [str(u) for u in units]
    found: list[Candidate] = []
    if kind == "flip":
        for i, j in links.items():
            if i < j and links.get(j) == i:
                found.append(Candidate(kind, [names[i], names[j]], float((corr[i, j] + corr[j, i]) / 2), True))
    else:
        starts = set(links) - set(links.values())
        seen: set[int] = set()
        for start in sorted(starts) + sorted(set(links) - starts):
            if start in seen:
                continue
            chain, node = [start], start
            while node in links and links[node] not in chain and links[node] not in seen:
                node = links[node]
                chain.append(node)
            seen.update(chain)
            cyclic = links.get(chain[-1]) == chain[0]
            if len(chain) >= 2:
                strength = float(np.mean([corr[a, links[a]] for a in chain if a in links]))
                found.append(Candidate(kind, [names[c] for c in chain], strength, cyclic))
    return sorted(found, key=lambda c: (-len(c.units) if kind != "flip" else 0, -c.strength))


def _cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``a`` [N, U] with every column of ``b`` [N, U]."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    na = np.sqrt((a ** 2).sum(axis=0))
    nb = np.sqrt((b ** 2).sum(axis=0))
    denom = np.outer(na, nb)
    return np.where(denom > 1e-12, (a.T @ b) / np.where(denom > 1e-12, denom, 1.0), 0.0)


def saved_families(model: LoadedModel) -> dict[str, list[str]]:
    """The families the user saved for this model, from its annotation store (the one the browser
    and the curve finder use): ``{name: ["layer:ch", ...]}``."""
    return {name: [str(u) for u in units] for name, units in AnnotationStore.for_model(model).families().items()}


def save_family(model: LoadedModel, name: str, units: Sequence[UnitRef | str]) -> Path:
    """Add (or replace) a named family in the model's annotation store; returns the store's file."""
    store = AnnotationStore.for_model(model)
    store.save_family(name, [model.catalogue.unit(u) for u in units])
    return store.path


# --------------------------------------------------------------------------- figures

def _short(unit: str) -> str:
    return unit if len(unit) <= 14 else unit.split(":")[-1]


def _step_label(kind: str, value: float) -> str:
    if kind == "flip":
        return "mirror" if value else "orig"
    if kind == "scale":
        return f"×{value:.2g}"
    return f"{value:g}°"


def response_matrix_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Units x steps heat map of each unit's normalised response to the probe stimulus."""
    matrix = result.response_matrix()
    fig, ax = figures.new_plot(max(3.0, 0.45 * len(result.values) + 2), max(2.2, 0.3 * len(result.units) + 1.2), scale)
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(result.values)), [_step_label(result.kind, v) for v in result.values], fontsize=7)
    ax.set_yticks(range(len(result.units)), [_short(u) for u in result.units], fontsize=7)
    ax.set_xlabel(f"{result.kind} step")
    ax.set_title("responses to the probe stimulus", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.05)
    return figures.plot_to_image(fig)


def permutation_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Match error of every (unit, image-unit) pair, the inferred mapping circled, holes crossed."""
    n = len(result.units)
    errors = np.sqrt(result.cost / np.maximum(result.cost.max(), 1e-12))
    fig, ax = figures.new_plot(max(2.6, 0.35 * n + 1.6), max(2.4, 0.35 * n + 1.2), scale)
    ax.imshow(errors, cmap="viridis_r", vmin=0, vmax=1)
    for i, j in enumerate(result.assignment):
        hole = result.mapping[i] is None
        ax.scatter([j], [i], s=60 * scale, facecolors="none", edgecolors="red" if hole else "white", linewidths=1.5)
        if hole:
            ax.scatter([j], [i], s=40 * scale, marker="x", color="red")
    labels = [_short(u) for u in result.units]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("maps to (unit responding to g·x)")
    ax.set_ylabel("unit (on x)")
    ax.set_title("inferred permutation" + (f" (shift {result.shift:+d})" if result.shift else ""), fontsize=9)
    return figures.plot_to_image(fig)


def score_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """Bars: relative error after the best permutation versus identity and random permutations."""
    fig, ax = figures.new_plot(3.2, 2.6, scale)
    names = ["best π", "identity", "random"]
    values = [result.score, result.baseline_identity, result.baseline_random]
    ax.bar(names, values, color=["#ca0020", "#999999", "#0571b0"],
           yerr=[0, 0, result.baseline_random_std], capsize=4)
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("relative error ||f(gx) − P f(x)|| / ||f(gx)||", fontsize=7)
    title = f"{result.kind} by {_step_label(result.kind, result.step)}"
    if result.wraps_at:
        title += f", wraps at {result.wraps_at}°"
    ax.set_title(title, fontsize=9)
    return figures.plot_to_image(fig)


def summary_figure(result: EquivarianceResult, scale: float = 1.0) -> Image.Image:
    """The response matrix, the permutation and the score side by side (the CLI's ``--out``)."""
    parts = [response_matrix_figure(result, scale), permutation_figure(result, scale), score_figure(result, scale)]
    return figures.side_by_side(parts, height=int(max(p.height for p in parts) / scale), scale=scale)


def weight_symmetry_figure(symmetry: WeightSymmetry, scale: float = 1.0, tile: int = 48) -> Image.Image:
    """Three grids (dst rows x src columns): actual W[π(j), π(i)], predicted g·W[j, i], and the
    relative error of each pair (the title gives the overall error and, as "raw", the error
    without transforming the kernels)."""
    d, s = symmetry.errors.shape
    limit = float(max(np.abs(symmetry.actual).max(), np.abs(symmetry.predicted).max())) or 1.0
    grids = []
    for title, kernels in (("actual W[p(j), p(i)]", symmetry.actual), ("predicted g(W[j, i])", symmetry.predicted)):
        tiles = [figures.diverging_rgb(kernels[j, i], limit) for j in range(d) for i in range(s)]
        grids.append(figures.tile_grid(tiles, columns=s, tile_size=tile, scale=scale, pad=2, title=title))
    error_tiles = [np.full((2, 2, 3), 0.85) if math.isnan(e)
                   else figures.sequential_rgb(np.full((2, 2), min(e, 1.0)), 0, 1, cmap="Reds")
                   for e in symmetry.errors.ravel()]
    labels = ["hole" if math.isnan(e) else f"{e:.2f}" for e in symmetry.errors.ravel()]
    grids.append(figures.tile_grid(error_tiles, labels, columns=s, tile_size=tile, scale=scale, pad=2,
                                   title=f"error {symmetry.overall:.3f} (raw {symmetry.baseline:.2f})"))
    return figures.side_by_side(grids, height=int(max(g.height for g in grids) / scale), scale=scale)


@dataclass
class AttentionView:
    """An attentive G-CNN's overall attention over an input and over the input rotated.

    ``images`` are ``[2, H, W]`` grey inputs (original, rotated by ``quarter_turns`` x 90
    degrees), ``maps`` the model's overall spatial attention ``[2, H, W]`` in [0, 1]
    (``LoadedModel.overall_attention``) and ``error`` the relative error
    between the second map and the first map rotated (0 for an exactly equivariant model).
    """

    images: np.ndarray
    maps: np.ndarray
    quarter_turns: int
    error: float


def attention_view(model: LoadedModel, image: torch.Tensor | np.ndarray, quarter_turns: int = 1) -> AttentionView:
    """Run an attentive p4 CNN (``a_p4cnn``, ``fa_p4cnn``) on ``image`` and on it rotated."""
    if model.overall_attention is None:
        raise UserError(f"{model.name} has no attention maps; open a_p4cnn or fa_p4cnn")
    x = prepare(model, image)[:1]
    batch = torch.cat([x, torch.rot90(x, quarter_turns, dims=(-2, -1))])
    with torch.no_grad():
        maps = model.overall_attention(batch.to(model.device)).cpu()
    error = float((maps[1] - torch.rot90(maps[0], quarter_turns)).norm() / maps[0].norm())
    return AttentionView(batch[:, 0].cpu().numpy(), maps.cpu().numpy(), quarter_turns, error)


def attention_figure(view: AttentionView, scale: float = 1.0) -> Image.Image:
    """Input and its attention overlay, then the rotated input and its overlay."""
    pictures, labels = [], []
    titles = ("input", f"rotated {90 * view.quarter_turns}°")
    for title, grey, heat in zip(titles, view.images, view.maps):
        rgb = np.repeat(grey[..., None], 3, axis=2)
        pictures += [figures.to_pil(rgb), figures.to_pil(figures.heat_overlay(rgb, heat, signed=False))]
        labels += [title, "attention"]
    labels[-1] += f", err {view.error:.0e}"
    return figures.side_by_side(pictures, labels, height=140, scale=scale)
