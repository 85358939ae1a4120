"""The sample photos are read from scikit-image's data files directly (no skimage.io import at
start-up), pixel for pixel what ``skimage.data`` gives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import skimage.data

from circuitloupe.core.errors import ImageError
from circuitloupe.core.samples import SAMPLES, load_sample


@pytest.mark.parametrize("name", [sample.name for sample in SAMPLES])
def test_each_sample_equals_skimage_data(name):
    reference = np.asarray(getattr(skimage.data, name)())
    if reference.ndim == 2:
        reference = np.repeat(reference[..., None], 3, axis=2)
    assert np.array_equal(load_sample(f"sample:{name}"), reference[..., :3].astype(np.float32) / 255.0)


def test_loading_a_sample_imports_neither_skimage_io_nor_scipy():
    code = ("import sys; from circuitloupe.core.samples import load_sample; load_sample('chelsea'); "
            "print(sorted(m for m in ('skimage.io', 'scipy') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_an_unknown_sample_is_one_clear_error():
    with pytest.raises(ImageError, match="no sample image 'dog'; samples are chelsea"):
        load_sample("dog")
