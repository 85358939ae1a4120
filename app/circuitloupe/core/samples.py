"""Sample photographs shipped with scikit-image, for trying the app without any files.

Each sample is a [H, W, 3] float32 array in [0, 1] (grayscale photos are repeated over the
three channels). On the command line a sample is written ``sample:NAME`` wherever an image
path is accepted by :func:`load_image_or_sample`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from circuitloupe.core.errors import ImageError
from circuitloupe.core.images import load_image

SAMPLE_PREFIX = "sample:"


@dataclass(frozen=True)
class Sample:
    """A scikit-image photo: ``name`` is the ``skimage.data`` function, ``description`` a caption."""

    name: str
    description: str

    @property
    def spec(self) -> str:
        """How an image argument names it: ``sample:chelsea``."""
        return SAMPLE_PREFIX + self.name


SAMPLES: tuple[Sample, ...] = (
    Sample("chelsea", "Chelsea the cat (ImageNet: Egyptian cat)"),
    Sample("coffee", "a cup of coffee (ImageNet: espresso)"),
    Sample("astronaut", "astronaut Eileen Collins"),
    Sample("rocket", "a rocket on its launch pad"),
    Sample("camera", "the cameraman (grayscale)"),
    Sample("coins", "Greek coins (grayscale)"),
    Sample("clock", "a wall clock (grayscale)"),
    Sample("hubble_deep_field", "Hubble eXtreme Deep Field"),
)


def sample_names() -> list[str]:
    """Names of the sample photos, in menu order."""
    return [sample.name for sample in SAMPLES]


def load_sample(name: str) -> np.ndarray:
    """The sample photo ``name`` (``chelsea`` or ``sample:chelsea``): [H, W, 3] float32 in [0, 1]."""
    name = name.removeprefix(SAMPLE_PREFIX)
    if name not in sample_names():
        raise ImageError(f"there is no sample image '{name}'; samples are {', '.join(sample_names())}")
    try:
        import skimage.data

        pixels = np.asarray(getattr(skimage.data, name)())
    except (ImportError, OSError, ValueError) as error:  # scikit-image or its data files missing
        raise ImageError(f"the sample image '{name}' cannot be loaded ({error})") from None
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.float32) / 255.0


def load_image_or_sample(path_or_sample: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """An image file, or a sample photo written ``sample:NAME``: [H, W, channels] float32 in [0, 1]."""
    text = str(path_or_sample)
    if not text.startswith(SAMPLE_PREFIX):
        return load_image(text, channels)
    pixels = load_sample(text)
    if channels == 1:
        return (pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    return pixels
