"""Reading image files safely: regular files only, a cap on decoded pixels, large JPEGs drafted."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from circuitloupe.core import dataset as ds
from circuitloupe.core.errors import ImageError
from circuitloupe.core.images import DRAFT_SIDE, load_image
from circuitloupe.core.samples import load_image_or_sample
from image_folders import make_plain_folder


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: outcome.append(pytest.raises(ImageError, load_image, fifo).value),
                              daemon=True)
    started = time.monotonic()
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck reader so the test run can end
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert time.monotonic() - started < 2 and "not a regular file" in str(outcome[0])
    with pytest.raises(ImageError, match="not a regular file"):
        load_image_or_sample(str(tmp_path))  # a folder, too


def test_an_image_over_the_pixel_cap_is_refused_without_decoding(tmp_path, monkeypatch):
    huge = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(huge)  # 144 Mpx in a few kilobytes
    assert huge.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as caught:
            load_image_or_sample(str(huge))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message and "12000x12000" in message and "CIRCUITLOUPE_MAX_PIXELS" in message
    assert peak < 20 * 2**20  # the 144 Mpx were never allocated

    monkeypatch.setenv("CIRCUITLOUPE_MAX_PIXELS", "1000")  # configurable: now a 48 x 48 image is too big
    folder = make_plain_folder(tmp_path / "plain", 1)
    with pytest.raises(ImageError, match="over the 0.001 Mpx limit"):
        load_image(folder / "img000.png")
    monkeypatch.setenv("CIRCUITLOUPE_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="must be a positive number"):
        load_image(folder / "img000.png")


def test_scanning_lists_an_oversized_image_as_skipped(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 1)
    Image.new("P", (10000, 8000)).save(folder / "poster.png")
    result = ds.scan(inception, "mixed3a:81", folder, ds.ScanSettings(size=(64, 64)))
    assert result.scanned == 1 and [f for f, _ in result.bad] == ["poster.png"]
    assert "Mpx limit" in result.bad[0][1]


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    path = tmp_path / "large.jpg"
    gradient = np.linspace(0, 255, 6000, dtype=np.uint8)
    Image.fromarray(np.broadcast_to(gradient[None, :, None], (4400, 6000, 3)).copy()).save(path, quality=80)
    requests = []
    real_draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, mode, size: requests.append(size) or real_draft(self, mode, size))
    pixels = load_image(path)
    assert requests and pixels.shape == (2200, 3000, 3)  # half scale: the long side keeps >= DRAFT_SIDE
    assert max(pixels.shape) >= DRAFT_SIDE
    assert abs(float(pixels[:, -1].mean()) - 1.0) < 0.02 and float(pixels[:, 0].mean()) < 0.02
    small = tmp_path / "small.jpg"
    Image.fromarray(np.zeros((600, 800, 3), np.uint8)).save(small)
    requests.clear()
    assert load_image(small).shape == (600, 800, 3) and requests == []
