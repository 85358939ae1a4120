"""Reading a Request's IMAGE arguments (files or ``sample:NAME``)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from circuitloupe.core.samples import load_image_or_sample


def read_images(images: Iterable[str], channels: int = 3) -> list[np.ndarray]:
    """Each image as [H, W, channels] float32 in [0, 1]; a bad one raises a one-line ImageError."""
    return [load_image_or_sample(image, channels) for image in images]

