"""The transformation families (rotation, hue, flip, zoom, and hue with rotation jointly) and the
stimuli they act on."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.resample import affine_resample, rotation_thetas, zoom_theta
from circuitloupe.core.units import UnitRef

TRANSFORMS = ("rotate", "hue", "flip", "scale")
#: The joint family: every rotation step combined with every hue step (:mod:`.hue_rotation`).
HUE_ROTATION = "hue_rotation"
DEFAULT_STEPS = {"rotate": 8, "hue": 6, "flip": 2, "scale": 4}
#: Rotation steps x hue steps of the joint family; both even, so that 180 degrees is a step.
DEFAULT_GRID = (8, 8)
CYCLIC = {"rotate", "hue", "flip"}
REDUCTIONS = ("centre", "mean", "max")
#: Default zoom of the scale family's last step, and the largest allowed (a family spanning layers).
MAX_SCALE = 2.0
LARGEST_SCALE = 8.0


# --------------------------------------------------------------------------- transformations

def transform_values(kind: str, steps: int | None = None, max_scale: float = MAX_SCALE) -> list[float]:
    """The transformation of each step: degrees for rotate/hue, 0/1 for flip, zoom factors for
    scale (geometric from 1 to ``max_scale``)."""
    if kind not in TRANSFORMS:
        raise UserError(f"unknown transformation '{kind}'; choose one of {', '.join(TRANSFORMS)}")
    steps = DEFAULT_STEPS[kind] if steps is None else int(steps)
    if kind == "flip":
        return [0.0, 1.0]
    if steps < 2:
        raise UserError(f"a {kind} family needs at least 2 steps, not {steps}")
    if kind == "scale":
        if not 1.0 < max_scale <= LARGEST_SCALE:
            raise UserError(f"the largest zoom must be above 1 and at most {LARGEST_SCALE:g}, not {max_scale:g}")
        return [round(float(max_scale ** (k / (steps - 1))), 12) for k in range(steps)]
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


def transform(images: torch.Tensor, kind: str, value: float | tuple[float, float]) -> torch.Tensor:
    """Apply one step of a family: ``rotate``/``hue`` by degrees, ``flip`` (1 = mirror
    left-right), ``scale`` by a zoom factor, ``hue_rotation`` by ``(degrees, hue degrees)``."""
    if kind == HUE_ROTATION:
        angle, hue = value  # type: ignore[misc]
        return rotate(transform(images, "hue", hue), angle)
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

def synthetic_stimuli(size: int, colour: bool = True, kind: str | None = None) -> torch.Tensor:
    """Curves, lines, edges and gratings at 8 orientations from :mod:`circuitloupe.core.stimuli`
    -> ``[N, 3, size, size]``; with ``colour``, also coloured edges and gratings of 6 hues. For
    ``scale``, also small discs and rings that zooming grows; for ``hue_rotation``, also
    faint colour edges (see :func:`opponent_edges`).

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
    if kind == "scale":
        images.append(_small_discs(size))
    if kind == HUE_ROTATION:
        images.append(opponent_edges(size))
    return torch.from_numpy(np.concatenate(images)).permute(0, 3, 1, 2).contiguous()


def _small_discs(size: int) -> np.ndarray:
    """Dark discs and rings at the centre, 1/32 to 1/8 of the image across -> ``[N, size, size, 3]``."""
    grid = np.arange(size) - (size - 1) / 2
    distance = np.hypot(*np.meshgrid(grid, grid))
    shapes = []
    for radius in size / np.array([64.0, 40.0, 24.0, 16.0]):
        shapes.append(np.clip(radius + 0.5 - distance, 0, 1))  # disc, anti-aliased edge
        shapes.append(np.clip(0.75 - np.abs(distance - radius), 0, 1))  # ring of width 1.5 px
    return np.repeat(1.0 - np.stack(shapes)[..., None], 3, axis=3).astype(np.float32)


def opponent_edges(size: int, chroma: float = 0.12) -> np.ndarray:
    """Colour edges on mid grey at 8 orientations x 4 hues -> ``[64, size, size, 3]``: opposite hues
    on either side of a line through the centre (colour-opponent: turning their hue by 180° is
    rotating them by 180°), and one hue on one side only (where the two differ). The chroma is
    small enough that no hue turn clips."""
    grid = np.arange(size) - (size - 1) / 2
    x, y = np.meshgrid(grid, -grid)
    to_rgb = torch.linalg.inv(_RGB_TO_YIQ).numpy()
    images = []
    for orientation in np.radians(np.arange(8) * 45.0):
        side = np.clip(x * np.cos(orientation) + y * np.sin(orientation), -1, 1)  # -1 .. 1 across the edge
        for hue in np.radians(np.arange(4) * 90.0):
            for amount in (side, np.clip(side, 0, 1)):
                yiq = np.stack([np.full_like(side, 0.5), chroma * np.cos(hue) * amount,
                                chroma * np.sin(hue) * amount], -1)
                images.append(yiq @ to_rgb.T)
    return np.clip(np.stack(images), 0, 1).astype(np.float32)


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
