"""Dataset scanning: decoding every kind of file, the activation cache, receptive fields and statistics."""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from circuitloupe.core import dataset as ds
from circuitloupe.core.activations import capture
from circuitloupe.core.dataset.figures import VIEWS, report_figure
from circuitloupe.core.images import load_image
from circuitloupe.core.jobs import Cancelled
from image_folders import BAD, GOOD, IGNORED, make_mixed_folder, make_plain_folder, pattern

UNIT = "mixed3a:81"
SETTINGS = ds.ScanSettings(size=(64, 64), batch_size=8)


@contextmanager
def counting_forwards(model):
    """Collect the batch size of every forward pass of ``model``."""
    calls: list[int] = []
    handle = model.net.register_forward_pre_hook(lambda _m, inputs: calls.append(int(inputs[0].shape[0])))
    try:
        yield calls
    finally:
        handle.remove()


@pytest.fixture
def mixed(tmp_path):
    return make_mixed_folder(tmp_path / "mixed")


def test_mixed_folder_scans_and_lists_bad_and_ignored_files(inception, mixed):
    result = ds.scan(inception, UNIT, mixed, SETTINGS)
    assert sorted(f for f, _ in result.bad) == sorted(BAD)
    assert all("cannot read image" in error for _, error in result.bad)
    assert result.ignored == sorted(IGNORED)
    assert sorted(r.relpath for r in result.cache.images()) == sorted(GOOD)
    assert (result.scanned, result.reused) == (len(GOOD), 0)
    assert result.cache.values(81).shape == (len(GOOD), 8, 8)


def test_decoding_converts_modes_and_applies_exif_orientation(mixed):
    rgba = load_image(mixed / "rgba.png")
    assert np.allclose(rgba[:, :20], 1.0) and not np.allclose(rgba[:, 20:], 1.0)
    palette = load_image(mixed / "palette.png")
    assert palette.shape == (32, 32, 3) and palette.dtype == np.float32
    sixteen = load_image(mixed / "sixteen.png")
    assert sixteen[0, 0, 0] == 0.0 and sixteen[-1, -1, 0] == 1.0
    assert sixteen[20, 0, 0] == pytest.approx(np.linspace(0, 65535, 1600)[800].astype(np.uint16) / 65535, abs=1e-6)
    cmyk = load_image(mixed / "cmyk.jpg")
    assert np.abs(cmyk - pattern(40, 40, 9) / 255.0).mean() < 0.03
    assert load_image(mixed / "gray.png").shape == (40, 40, 3)
    assert load_image(mixed / "exif.jpg").shape == (40, 20, 3)  # stored 40 wide, 20 high, rotated on display


def test_cached_values_equal_a_direct_forward_pass(inception, mixed):
    cache = ds.scan(inception, UNIT, mixed, SETTINGS).cache
    records = cache.images()
    pixels = [ds.prepare_pixels(load_image(mixed / r.relpath), (64, 64)) for r in records]
    batch = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in pixels])
    direct = capture(inception, batch, ["mixed3a_pre_relu", "mixed3a"])
    pre = direct["mixed3a_pre_relu"][:, 81]
    np.testing.assert_allclose(cache.values(81, "pre"), pre, atol=1e-4)
    np.testing.assert_allclose(cache.values(81, "post"), direct["mixed3a"][:, 81], atol=1e-4)
    summary = cache.summaries(81)
    np.testing.assert_allclose(summary["pre_max"], pre.max(axis=(1, 2)), atol=1e-4)
    np.testing.assert_allclose(summary["pre_mean"], pre.mean(axis=(1, 2)), atol=1e-4)
    np.testing.assert_allclose(summary["pre_centre"], pre[:, 4, 4], atol=1e-4)
    np.testing.assert_allclose(summary["post_max"], np.maximum(pre, 0).max(axis=(1, 2)), atol=1e-4)


def test_second_scan_reuses_the_cache_without_forward_passes(inception, mixed):
    with counting_forwards(inception) as first:
        ds.scan(inception, UNIT, mixed, SETTINGS)
    assert sum(first) == len(GOOD)
    with counting_forwards(inception) as second:
        result = ds.scan(inception, UNIT, mixed, SETTINGS)
    assert second == [] and result.batches == 0
    assert (result.scanned, result.reused, len(result.bad)) == (0, len(GOOD), len(BAD))
    assert ds.open_dataset(inception, UNIT, mixed, SETTINGS) is not None


def test_cache_is_invalidated_by_weights_and_preprocessing(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 3)
    ds.scan(inception, UNIT, folder, SETTINGS)
    other = dataclasses.replace(inception, weights_id="random:1")  # same network, other weights as far as caches go
    other.__dict__["catalogue"] = inception.catalogue
    assert ds.unit_distribution(other, UNIT) is None
    for model, settings in [(other, SETTINGS), (inception, ds.ScanSettings(size=(64, 64), resize="crop")),
                            (inception, ds.ScanSettings(size=(72, 72)))]:
        with counting_forwards(model) as calls:
            ds.scan(model, UNIT, folder, settings)
        assert sum(calls) == 3, (model.weights_id, settings)
    assert ds.unit_distribution(other, UNIT).shape == (3 * 8 * 8,)


def test_changed_folder_rescans_only_new_and_changed_files(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 6)
    ds.scan(inception, UNIT, folder, SETTINGS)
    make_plain_folder(folder / "more", 2, seed=5)
    Image.fromarray(pattern(48, 48, 99)).save(folder / "img001.png")
    stat = os.stat(folder / "img001.png")
    os.utime(folder / "img001.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    (folder / "img002.png").unlink()
    with counting_forwards(inception) as calls:
        result = ds.scan(inception, UNIT, folder, SETTINGS)
    assert sum(calls) == 3 and (result.scanned, result.reused) == (3, 4)
    paths = [r.relpath for r in result.cache.images()]
    assert len(paths) == 7 and "img002.png" not in paths and "more/img001.png" in paths


def test_cancelled_scan_keeps_finished_batches_and_resumes(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 10)
    steps: list[int] = []
    settings = ds.ScanSettings(size=(64, 64), batch_size=4)
    with pytest.raises(Cancelled):
        ds.scan(inception, UNIT, folder, settings, progress=lambda step, total, _p=None: steps.append(step),
                should_stop=lambda: bool(steps))
    assert steps == [4]
    assert len(ds.open_dataset(inception, UNIT, folder, settings)) == 4
    with counting_forwards(inception) as calls:
        result = ds.scan(inception, UNIT, folder, settings)
    assert sum(calls) == 6 and (result.scanned, result.reused) == (6, 4) and len(result.cache) == 10


def test_dataloader_workers_give_the_same_values(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 6)
    serial = ds.scan(inception, UNIT, folder, SETTINGS)
    expected = serial.cache.values(81).copy()
    ds.drop_cache(serial.cache)
    parallel = ds.scan(inception, UNIT, folder, ds.ScanSettings(size=(64, 64), batch_size=4, workers=2))
    assert parallel.scanned == 6
    np.testing.assert_allclose(parallel.cache.values(81), expected, atol=1e-4)


def test_whole_layer_cache_serves_every_unit_of_the_layer(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 3)
    result = ds.scan(inception, "mixed3a", folder, SETTINGS)
    assert result.cache.channels == tuple(range(256))
    with counting_forwards(inception) as calls:
        again = ds.scan(inception, "3a:5", folder, SETTINGS)
    assert calls == [] and again.reused == 3
    np.testing.assert_allclose(ds.unit_distribution(inception, "mixed3a:200"), result.cache.values(200).ravel())


def test_receptive_fields_match_the_architecture(inception):
    # conv2d0 7x7/2; maxpool 3/2 -> 11; conv2d2 3x3 -> 19 (stride 4); maxpool -> 27 (stride 8); 5x5 branch -> 59.
    for layer, size, stride in [("conv2d0", 7, 2), ("conv2d2", 19, 4), ("mixed3a", 59, 8)]:
        field = ds.receptive_field(inception, layer, (64, 64))
        assert field.size == (size, size) and field.stride == (stride, stride), layer
    field = ds.receptive_field(inception, "mixed3a", (64, 64))
    top, left, bottom, right = field.box(4, 4)
    # SAME padding puts conv2d0 position i at pixel 2i + 1, so mixed3a position k centres on 8k + 7.
    assert (bottom - top, right - left) == (59, 59) and (top + bottom - 1) / 2 == 8 * 4 + 7
    pixels = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    corner = ds.crop(pixels, field, 0, 0, fill=(0.25, 0.5, 0.75))
    assert corner.shape == (59, 59, 3)
    assert np.allclose(corner[0, 0], (0.25, 0.5, 0.75))  # outside the image: the fill colour
    t, l, _, _ = field.box(0, 0)
    assert np.allclose(corner[-1, -1], pixels[t + 58, l + 58])


def test_statistics_match_hand_computed_values():
    values = np.array([-1.5, 0.5, 0.5, 1.5])
    stats = ds.describe(values)
    assert stats["count"] == 4 and stats["mean"] == pytest.approx(0.25) and stats["fraction_firing"] == 0.75
    fit = ds.exponential_tail_fit(values)
    assert fit.rate == pytest.approx(1 / (2.5 / 3)) and fit.fraction == 0.75 and fit.count == 3
    assert fit.density(np.array([0.0, 1.0]))[1] == pytest.approx(0.75 * 1.2 * np.exp(-1.2))
    centres, xpx = ds.expected_value_density(values, bins=np.array([-2.0, -1, 0, 1, 2]))
    np.testing.assert_allclose(centres, [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(xpx, [0, 0, 0.25, 0.375])
    assert xpx.sum() * 1.0 == pytest.approx(np.maximum(values, 0).mean())  # bin width 1
    rng = np.random.default_rng(0)
    sample = np.concatenate([-rng.random(5000), rng.exponential(1 / 4.0, 5000)])
    assert ds.exponential_tail_fit(sample).rate == pytest.approx(4.0, rel=0.05)


def test_extreme_and_quilt_positions():
    maps = np.zeros((3, 2, 2), np.float32)
    maps[0, 1, 0], maps[1, 0, 1], maps[2, 1, 1] = 5, 9, -7
    top = ds.extreme_positions(maps, 2)
    assert [(p.image, p.y, p.x, p.value) for p in top] == [(1, 0, 1, 9.0), (0, 1, 0, 5.0)]
    bottom = ds.extreme_positions(maps, 1, bottom=True)
    assert [(p.image, p.y, p.x, p.value) for p in bottom] == [(2, 1, 1, -7.0)]
    rows = ds.quilt_positions(maps, ranges=4, per_range=3)
    assert [round(lo, 3) for lo, _, _ in rows] == [5.0, 1.0, -3.0, -7.0]
    assert sorted(p.value for p in rows[0][2]) == [5.0, 9.0] and [p.value for p in rows[3][2]] == [-7.0]
    assert rows[1][2] == [] and len(rows[2][2]) == 3  # nothing in [1, 5); every image has zeros in [-3, 1)
    for lo, hi, positions in rows:
        assert all(lo <= p.value <= hi for p in positions)
        assert len({p.image for p in positions}) == len(positions)


def test_lookups_and_report(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 5)
    assert ds.unit_distribution(inception, UNIT) is None and ds.top_examples(inception, UNIT) is None
    cache = ds.scan(inception, UNIT, folder, SETTINGS).cache
    values = ds.unit_distribution(inception, "3a:81")
    assert values.shape == (5 * 64,) and values.dtype == np.float32
    examples = ds.top_examples(inception, UNIT, k=3)
    assert len(examples) == 3 and all(c.shape == (59, 59, 3) and 0 <= c.min() <= c.max() <= 1 for c, _ in examples)
    maxima = np.sort(cache.values(81).max(axis=(1, 2)))[::-1][:3]
    np.testing.assert_allclose([v for _, v in examples], maxima, rtol=1e-6)
    report = ds.unit_report(inception, cache, 81, k=4, quilt_ranges=3, quilt_per_range=2)
    data = report.to_json()
    assert data["images"] == 5 and data["positions_per_image"] == 64 and data["receptive_field_px"] == [59, 59]
    assert len(data["top"]) == 4 and data["statistics"]["count"] == 320 and len(data["quilt"]) == 3
    assert {"summary", "quilt", "log-histogram"} <= set(VIEWS)
    assert report_figure(report, "summary", scale=0.5).width > 400  # log histogram, x·p(x) and examples
    quilt = report_figure(report, "quilt", scale=0.5)
    assert quilt.height >= 3 * 32 and quilt.width >= 55 + 2 * 32  # 3 ranges of 2 tiles (32 px) beside labels


def test_readable_batches_skip_files_that_cannot_be_read(tmp_path):
    """How ablate, factors and polysemanticity read a folder: broken files are skipped, a chunk of
    broken files only yields nothing, and a stop request ends the reading."""
    from circuitloupe.core.dataset.folder import readable_batches

    folder = make_mixed_folder(tmp_path / "mixed")
    files = [*BAD, *GOOD]  # the first chunk holds only the broken files
    batches = list(readable_batches(folder, files, len(BAD), channels=1))
    assert [index for index, _, _ in batches] == list(range(1, -(-len(files) // len(BAD))))
    assert [name for _, names, _ in batches for name in names] == list(GOOD)
    assert all(len(arrays) == len(names) and all(a.shape[2] == 1 for a in arrays) for _, names, arrays in batches)
    with pytest.raises(Cancelled):
        next(readable_batches(folder, files, 2, should_stop=lambda: True))
