"""Transformation robustness: random pad, jitter, scale and rotate, as one affine resampling.

Each transform maps a canvas to a new canvas and contributes a random affine map (per image,
drawn from a seeded generator) from output pixel offsets (about the canvas centre) to input
pixel offsets. A list is composed into a single matrix per image and applied with one
``affine_grid`` + ``grid_sample``, so the whole list costs one bilinear resampling. Lucid's
standard list is :data:`STANDARD`: pad 12 (grey), jitter 8, scale 0.9..1.1, rotate -10..10
degrees, jitter 4. Sizes are (height, width) in pixels; angles are in degrees.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import torch

from circuitloupe.core.errors import UserError
from circuitloupe.core.resample import affine_resample

Size = tuple[int, int]


def _identities(batch: int) -> torch.Tensor:
    """``batch`` identity maps [batch, 3, 3]."""
    return torch.eye(3).repeat(batch, 1, 1)


def _draw(values: Sequence[float], batch: int, generator: torch.Generator) -> torch.Tensor:
    """One of ``values`` per image, drawn uniformly: [batch] float32."""
    choice = torch.randint(0, len(values), (batch,), generator=generator)
    return torch.tensor(values, dtype=torch.float32)[choice]


@dataclass(frozen=True)
class Pad:
    """Grow the canvas by ``pixels`` on every side, filled with ``value`` (or reflected)."""

    pixels: int
    mode: str = "constant"  # or "reflect"
    value: float = 0.5

    def output_size(self, size: Size) -> Size:
        return size[0] + 2 * self.pixels, size[1] + 2 * self.pixels

    def matrices(self, batch: int, generator: torch.Generator) -> torch.Tensor | None:
        return None


@dataclass(frozen=True)
class Jitter:
    """Crop ``pixels`` off the canvas at a random integer offset (a random shift of 0..pixels)."""

    pixels: int

    def output_size(self, size: Size) -> Size:
        return size[0] - self.pixels, size[1] - self.pixels

    def matrices(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        offsets = torch.randint(0, self.pixels + 1, (batch, 2), generator=generator).float() - self.pixels / 2
        m = _identities(batch)
        m[:, :2, 2] = offsets
        return m


class _AboutCentre(ABC):
    """A transform that keeps the canvas size and maps output offsets to input offsets linearly,
    about the centre, by a 2x2 matrix drawn per image (:meth:`linear`, [batch, 2, 2])."""

    def output_size(self, size: Size) -> Size:
        return size

    def matrices(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        m = _identities(batch)
        m[:, :2, :2] = self.linear(batch, generator)
        return m

    @abstractmethod
    def linear(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """[batch, 2, 2] maps of output offsets (x, y) to input offsets."""


@dataclass(frozen=True)
class RandomScale(_AboutCentre):
    """Zoom about the centre by a factor drawn from ``scales`` (the canvas keeps its size)."""

    scales: tuple[float, ...]

    def linear(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.diag_embed((1.0 / _draw(self.scales, batch, generator))[:, None].expand(batch, 2))


@dataclass(frozen=True)
class RandomRotate(_AboutCentre):
    """Rotate about the centre by an angle (degrees) drawn from ``angles``."""

    angles: tuple[float, ...]

    def linear(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        theta = _draw(self.angles, batch, generator) * (math.pi / 180.0)
        cos, sin = torch.cos(theta), torch.sin(theta)
        # Output offset -> input offset is the inverse rotation; y points down in images.
        return torch.stack([torch.stack([cos, -sin], dim=1), torch.stack([sin, cos], dim=1)], dim=1)


Transform = Pad | Jitter | RandomScale | RandomRotate

STANDARD: tuple[Transform, ...] = (
    Pad(12, "constant", 0.5),
    Jitter(8),
    RandomScale(tuple(1 + (i - 5) / 50.0 for i in range(11))),
    RandomRotate(tuple(range(-10, 11)) + (0,) * 5),
    Jitter(4),
)


class Transforms:
    """A composed list of random transforms: ``transforms(images, generator)``.

    images: [B, C, H, W]; the result has :meth:`output_size` spatial size.
    """

    def __init__(self, items: Sequence[Transform] = ()) -> None:
        self.items = tuple(items)
        pads = [t for t in self.items if isinstance(t, Pad)]
        self.mode = pads[0].mode if pads else "constant"
        self.fill = pads[0].value if pads else 0.5

    def __bool__(self) -> bool:
        return bool(self.items)

    def output_size(self, size: Size) -> Size:
        for item in self.items:
            size = item.output_size(size)
        if min(size) < 1:
            raise UserError("the transforms crop away the whole image; use a larger image size")
        return size

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.items:
            return images
        batch = images.shape[0]
        in_size = tuple(images.shape[-2:])
        out_size = self.output_size(in_size)
        total = _identities(batch)
        for item in self.items:
            m = item.matrices(batch, generator)
            if m is not None:
                total = total @ m
        theta = _to_normalised(total, in_size, out_size)
        if self.mode == "reflect":
            return affine_resample(images, theta, out_size, padding="reflection")
        return affine_resample(images, theta, out_size, fill=self.fill)


def _to_normalised(matrix: torch.Tensor, in_size: Size, out_size: Size) -> torch.Tensor:
    """Pixel-offset affine maps [B, 3, 3] in (x, y) order -> ``affine_grid`` thetas [B, 2, 3]."""
    d_out = torch.diag(torch.tensor([out_size[1] / 2, out_size[0] / 2, 1.0]))
    d_in_inv = torch.diag(torch.tensor([2 / in_size[1], 2 / in_size[0], 1.0]))
    return (d_in_inv @ matrix @ d_out)[:, :2, :]


def parse_transforms(spec: str | Sequence[Transform] | Transforms | None) -> Transforms:
    """``"standard"`` (Lucid's list), ``"none"``, a list of transforms, or a comma list such as
    ``"pad=12,jitter=8,scale=0.9:1.1,rotate=10,jitter=4"`` (rotate=D draws from -D..D degrees)."""
    if isinstance(spec, Transforms):
        return spec
    if spec is None or spec == "none" or spec == "":
        return Transforms(())
    if spec == "standard":
        return Transforms(STANDARD)
    if not isinstance(spec, str):
        return Transforms(tuple(spec))
    items: list[Transform] = []
    for token in spec.split(","):
        name, _, value = token.strip().partition("=")
        try:
            if name == "pad":
                items.append(Pad(int(value or 12)))
            elif name == "jitter":
                items.append(Jitter(int(value or 8)))
            elif name == "scale":
                lo, _, hi = (value or "0.9:1.1").partition(":")
                lo_f, hi_f = float(lo), float(hi or lo)
                items.append(RandomScale(tuple(lo_f + (hi_f - lo_f) * i / 10 for i in range(11))))
            elif name == "rotate":
                degrees = int(value or 10)
                items.append(RandomRotate(tuple(range(-degrees, degrees + 1))))
            else:
                raise ValueError(name)
        except ValueError:
            raise UserError(f"'{token.strip()}' is not a transform; use pad=N, jitter=N, scale=LO:HI, "
                            "rotate=DEG, 'standard' or 'none'") from None
    return Transforms(items)
