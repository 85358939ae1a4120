"""Joint tuning: each unit's best stimuli (synthetic or from the dataset) rotated through every
orientation, measured on the whole family."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from circuitloupe.core import stimuli
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.resample import affine_resample, rotation_thetas
from circuitloupe.core.tuning.sweeps import (JointTuning, family_radial_tuning, model_batch, resolve_units,
                                            response_maps, stimulus_centre, sweep)
from circuitloupe.core.units import UnitRef

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
                 curvatures: int = 6, should_stop: StopFn | None = None, **style) -> list[np.ndarray]:
    """Each unit's ``count`` strongest synthetic curves -> list of [count, S, S, 3], drawn in
    ``style`` (renderer arguments)."""
    maps = response_maps(model, units, "curve", orientations, curvatures, pre_relu=False,
                         should_stop=should_stop, **style)
    rendered = []
    for rmap in maps:
        picks = rmap.best_stimuli(count)
        rendered.append(stimuli.curves([p[0] for p in picks], [p[1] for p in picks], rmap.size, center=rmap.center,
                                       **style))
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
                 progress: ProgressFn = no_progress, should_stop: StopFn | None = None, **style) -> JointTuning:
    """Joint tuning curves of a family.

    ``images[i]`` ([K, H, W, 3] in [0, 1]) are the examples that drive ``units[i]``; by default
    its top dataset examples when a dataset cache exists, else its best synthetic curves, both
    centred on unit i's receptive-field centre (:func:`stimulus_centre`). Each set is rotated
    0-360 degrees in ``step``-degree steps (counter-clockwise) about that centre and every
    member's centre value recorded. ``style`` (renderer arguments) draws the synthetic curves,
    the ones that find the preferred orientations too. Set ``i`` is anchored at
    ``preferred[i]`` (default: unit i's radial-tuning preferred orientation) at the rotation
    where unit i itself peaks; member curves are averaged over the aligned sets.
    """
    refs = resolve_units(model, units, pre_relu)
    source = "given images"
    if images is None:
        images, source = dataset_examples(model, refs), "top dataset examples"
    if images is None:
        images, source = best_stimuli(model, refs, should_stop=should_stop, **style), "best synthetic curves"
    if len(images) != len(refs):
        raise UserError(f"joint tuning needs one image set per unit ({len(refs)}), got {len(images)}")
    if preferred is None:
        tunings = family_radial_tuning(model, refs, orientations=72, curvatures=6, pre_relu=pre_relu,
                                       should_stop=should_stop, **style)
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
