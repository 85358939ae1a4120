"""Receptive fields measured numerically, and receptive-field-sized crops.

The receptive field of a layer is the support of the gradient of its centre position (summed
over channels) with respect to the input, unioned over a few random inputs so max pooling and
ReLUs cannot hide part of it. Where it reaches the image border the measurement is repeated
on a larger input. Results are cached per (model, weights, layer, input size) in memory and in
the user's data folder. :func:`receptive_field_centre` says where the centre unit of a layer
looks, which is where tuning stimuli and the curve finder draw.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from circuitloupe.core.activations import forward_until
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.paths import atomic_write_text, data_dir

_MEMORY: dict[str, "ReceptiveField"] = {}
_PROBES = 2
_MAX_GROWTH = 4


@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer position looks in the input, in input pixels.

    ``size`` is (height, width) of the field; ``stride`` the input pixels per layer position;
    ``offset`` the field centre's shift from the position's nominal centre
    ``(i + 0.5) * stride - 0.5``; ``grid`` the layer's (H, W) at ``input_size``.
    """

    size: tuple[int, int]
    stride: tuple[float, float]
    offset: tuple[float, float]
    grid: tuple[int, int]
    input_size: tuple[int, int]

    def centre(self, y: int, x: int) -> tuple[float, float]:
        """(row, column) pixel index at the middle of position (y, x)'s field (may be fractional)."""
        return ((y + 0.5) * self.stride[0] - 0.5 + self.offset[0],
                (x + 0.5) * self.stride[1] - 0.5 + self.offset[1])

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of position (y, x)'s field; may lie partly outside the image."""
        cy, cx = self.centre(y, x)
        top = int(round(cy - (self.size[0] - 1) / 2))
        left = int(round(cx - (self.size[1] - 1) / 2))
        return top, left, top + self.size[0], left + self.size[1]


def receptive_field(model: LoadedModel, layer: str, input_size: tuple[int, int]) -> ReceptiveField:
    """The receptive field of ``layer`` at ``input_size`` (cached per model, weights and layer)."""
    layer = model.catalogue.pre_relu_of(layer) or model.catalogue.layer(layer).name
    key = f"{model.spec}|{model.weights_id}|{layer}|{input_size[0]}x{input_size[1]}"
    if key in _MEMORY:
        return _MEMORY[key]
    path = data_dir("receptive-fields") / (_slug(key) + ".json")
    field = _read(path)
    if field is None:
        field = _measure(model, layer, tuple(input_size))
        atomic_write_text(path, json.dumps({"key": key, **asdict(field)}))
    _MEMORY[key] = field
    return field


def receptive_field_centre(model: LoadedModel, layer: str) -> tuple[float, float]:
    """Where the centre position of ``layer`` looks, at the model's input size: (x, y) in
    continuous pixels, origin at the image's top-left corner (the image centre is (W/2, H/2)).

    Stimuli meant for "the centre unit" belong here, not at the image centre: with TensorFlow
    "same" padding the two differ by several pixels (EfficientNet-Lite0: 1.5-15.5 px below and
    right; InceptionV1 mixed3b: 7.5 px). Layers without spatial positions give the image centre.
    """
    h, w = model.input_size
    info = model.catalogue.layer(layer)
    if info.shape[1] == 1 and info.shape[2] == 1:
        return w / 2, h / 2
    field = receptive_field(model, info.name, (h, w))
    row, col = field.centre(field.grid[0] // 2, field.grid[1] // 2)
    return round(col + 0.5, 4), round(row + 0.5, 4)


def crop(pixels: np.ndarray, field: ReceptiveField, y: int, x: int,
         fill: tuple[float, ...] | None = None) -> np.ndarray:
    """The receptive-field-sized crop [h, w, C] of ``pixels`` (prepared at the field's input size).

    Parts of the field outside the image are filled with ``fill`` (per channel, default mid
    grey); pass the preprocessing mean to show what the network's zero padding stands for.
    """
    h, w, channels = pixels.shape
    top, left, bottom, right = field.box(y, x)
    colour = np.asarray(fill if fill is not None else (0.5,) * channels, dtype=np.float32)[:channels]
    out = np.empty((bottom - top, right - left, channels), dtype=np.float32)
    out[...] = colour
    sy0, sx0 = max(top, 0), max(left, 0)
    sy1, sx1 = min(bottom, h), min(right, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = pixels[sy0:sy1, sx0:sx1]
    return out


def _measure(model: LoadedModel, layer: str, input_size: tuple[int, int]) -> ReceptiveField:
    grid, support = _support(model, layer, input_size)
    size = input_size
    growth = 1
    while _touches_border(support) and growth < _MAX_GROWTH:
        bigger = (input_size[0] * growth * 2, input_size[1] * growth * 2)
        try:
            _, support = _support(model, layer, bigger)
        except RuntimeError:  # a network that only runs at its own input size: keep what we have
            break
        growth, size = growth * 2, bigger
    rows = np.flatnonzero(support.any(axis=1))
    cols = np.flatnonzero(support.any(axis=0))
    if rows.size == 0:  # no gradient at all: treat the whole input as the field
        rows, cols = np.array([0, size[0] - 1]), np.array([0, size[1] - 1])
    field_size = (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))
    stride = (input_size[0] / grid[0], input_size[1] / grid[1])
    big_grid = (grid[0] * growth, grid[1] * growth) if growth > 1 else grid
    big_stride = (size[0] / big_grid[0], size[1] / big_grid[1])
    centre = ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2)
    nominal = ((big_grid[0] // 2 + 0.5) * big_stride[0] - 0.5, (big_grid[1] // 2 + 0.5) * big_stride[1] - 0.5)
    offset = (float(centre[0] - nominal[0]), float(centre[1] - nominal[1]))
    return ReceptiveField(field_size, stride, offset, grid, tuple(input_size))


def _support(model: LoadedModel, layer: str, size: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(_PROBES, model.in_channels, *size, generator=generator).to(model.device)
    images.requires_grad_(True)
    out = forward_until(model, images, [layer], detach=False)[layer]
    if out.dim() == 2:
        out = out[:, :, None, None]
    grid = (int(out.shape[2]), int(out.shape[3]))
    out[:, :, grid[0] // 2, grid[1] // 2].sum().backward()
    support = (images.grad.abs().sum(dim=(0, 1)) > 0).cpu().numpy()
    return grid, support


def _touches_border(support: np.ndarray) -> bool:
    return bool(support[0].any() or support[-1].any() or support[:, 0].any() or support[:, -1].any())


def _read(path) -> ReceptiveField | None:
    try:
        data = json.loads(path.read_text())
        return ReceptiveField(tuple(data["size"]), tuple(data["stride"]), tuple(data["offset"]),
                              tuple(data["grid"]), tuple(data["input_size"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _slug(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:20]

