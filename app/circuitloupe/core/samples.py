"""Sample photographs shipped with scikit-image, for trying the app without any files.

Each sample is a [H, W, 3] float32 array in [0, 1] (grayscale photos are repeated over the
three channels). On the command line a sample is written ``sample:NAME`` wherever an image
path is accepted by :func:`load_image_or_sample`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitloupe.core.errors import ImageError
from circuitloupe.core.images import load_image

SAMPLE_PREFIX = "sample:"


@dataclass(frozen=True)
class Sample:
    """A scikit-image photo: ``name`` is the ``skimage.data`` function, ``description`` a caption,
    ``file`` its file in scikit-image's data folder."""

    name: str
    description: str
    file: str

    @property
    def spec(self) -> str:
        """How an image argument names it: ``sample:chelsea``."""
        return SAMPLE_PREFIX + self.name


SAMPLES: tuple[Sample, ...] = (
    Sample("chelsea", "Chelsea the cat (ImageNet: Egyptian cat)", "chelsea.png"),
    Sample("coffee", "a cup of coffee (ImageNet: espresso)", "coffee.png"),
    Sample("astronaut", "astronaut Eileen Collins", "astronaut.png"),
    Sample("rocket", "a rocket on its launch pad", "rocket.jpg"),
    Sample("camera", "the cameraman (grayscale)", "camera.png"),
    Sample("coins", "Greek coins (grayscale)", "coins.png"),
    Sample("clock", "a wall clock (grayscale)", "clock_motion.png"),
    Sample("hubble_deep_field", "Hubble eXtreme Deep Field", "hubble_deep_field.jpg"),
)


def sample_names() -> list[str]:
    """Names of the sample photos, in menu order."""
    return [sample.name for sample in SAMPLES]


def load_sample(name: str) -> np.ndarray:
    """The sample photo ``name`` (``chelsea`` or ``sample:chelsea``): [H, W, 3] float32 in [0, 1]."""
    name = name.removeprefix(SAMPLE_PREFIX)
    sample = next((s for s in SAMPLES if s.name == name), None)
    if sample is None:
        raise ImageError(f"there is no sample image '{name}'; samples are {', '.join(sample_names())}")
    # Read the file itself: skimage.data's loaders import skimage.io and scipy (a third of a
    # second at start-up, when the app opens its first sample).
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImageError(f"the sample image '{name}' cannot be loaded (scikit-image is not installed)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / sample.file
    try:
        return load_image(path, 3)
    except ImageError as error:
        raise ImageError(f"the sample image '{name}' cannot be loaded ({error})") from None


def load_image_or_sample(path_or_sample: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """An image file, or a sample photo written ``sample:NAME``: [H, W, channels] float32 in [0, 1]."""
    text = str(path_or_sample)
    if not text.startswith(SAMPLE_PREFIX):
        return load_image(text, channels)
    pixels = load_sample(text)
    if channels == 1:
        return (pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    return pixels
