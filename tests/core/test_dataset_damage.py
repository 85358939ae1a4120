"""Dataset scans facing damage and hostile folders: damaged caches, full disks, failed reads,
symlink loops and file names that are not UTF-8."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from circuitloupe.core import dataset as ds
from circuitloupe.core import images
from circuitloupe.core.dataset import segments
from circuitloupe.core.dataset.segments import DiskFullError
from image_folders import make_plain_folder

UNIT = "mixed3a:81"
SETTINGS = ds.ScanSettings(size=(64, 64), batch_size=4)


def reference_values(inception, folder: Path, tmp_path: Path, monkeypatch) -> np.ndarray:
    """The unit's values from a clean scan in a data folder of its own."""
    with monkeypatch.context() as patch:
        patch.setenv("CIRCUITLOUPE_DATA_DIR", str(tmp_path / "reference-data"))
        cache = ds.scan(inception, UNIT, folder, SETTINGS).cache
        values = cache.values(81).copy()
        cache.close()
    return values


def test_zeroed_arrays_and_shifted_index_rows_are_rescanned_with_a_warning(inception, tmp_path, monkeypatch, caplog):
    folder = make_plain_folder(tmp_path / "plain", 6)
    expected = reference_values(inception, folder, tmp_path, monkeypatch)
    first = ds.scan(inception, UNIT, folder, SETTINGS)
    assert first.warnings == []
    cache_dir = first.cache.folder
    first.cache.close()

    pre = np.load(cache_dir / "seg1.pre.npy", mmap_mode="r+")
    pre[2] = 0  # one image's maps zeroed on disk
    pre.flush()
    del pre
    with caplog.at_level(logging.WARNING, "circuitloupe"):
        assert ds.open_dataset(inception, UNIT, folder, SETTINGS) is None  # what the app shows without a scan
    assert "damaged (1 images do not match their checksums); scan the folder again" in caplog.text
    zeroed = ds.scan(inception, UNIT, folder, SETTINGS)
    assert (zeroed.scanned, zeroed.reused) == (1, 5)
    assert len(zeroed.warnings) == 1 and "1 cached image(s)" in zeroed.warnings[0]
    np.testing.assert_allclose(zeroed.cache.values(81), expected, atol=1e-5)  # batch makeup moves the last bits
    zeroed.cache.close()

    with sqlite3.connect(cache_dir / "index.sqlite") as db:  # every row of segment 1 points one row further
        db.execute("UPDATE images SET row = row + 1 WHERE segment = 1")
    db.close()
    shifted = ds.scan(inception, UNIT, folder, SETTINGS)
    assert shifted.scanned == 5 and "5 cached image(s)" in shifted.warnings[0]
    np.testing.assert_allclose(shifted.cache.values(81), expected, atol=1e-5)
    again = ds.scan(inception, UNIT, folder, SETTINGS)
    assert again.warnings == [] and again.scanned == 0
    assert len(ds.open_dataset(inception, UNIT, folder, SETTINGS)) == 6


def test_an_index_of_random_bytes_is_moved_aside_and_rebuilt(inception, tmp_path, monkeypatch):
    folder = make_plain_folder(tmp_path / "plain", 3)
    expected = reference_values(inception, folder, tmp_path, monkeypatch)
    cache_dir = ds.scan(inception, UNIT, folder, SETTINGS).cache.folder
    (cache_dir / "index.sqlite").write_bytes(np.random.default_rng(0).bytes(8192))
    for suffix in ("-wal", "-shm"):
        Path(f"{cache_dir}/index.sqlite{suffix}").unlink(missing_ok=True)
    assert ds.open_dataset(inception, UNIT, folder, SETTINGS) is None
    result = ds.scan(inception, UNIT, folder, SETTINGS)
    assert result.scanned == 3 and len(result.warnings) == 1
    aside = [p for p in cache_dir.parent.iterdir() if p.name.startswith(cache_dir.name + ".damaged-")]
    assert len(aside) == 1 and str(aside[0]) in result.warnings[0] and "not a readable database" in result.warnings[0]
    np.testing.assert_allclose(result.cache.values(81), expected, atol=1e-5)


def test_a_cache_index_of_another_program_is_never_switched_to_wal(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 2)
    key = ds.cache_key(inception, ds.resolve_target(inception, UNIT), folder, SETTINGS)
    cache_dir = ds.cache.cache_folder(key)
    cache_dir.mkdir(parents=True)
    foreign = cache_dir / "index.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE photos (name TEXT)")
    db.close()
    before = foreign.read_bytes()
    result = ds.scan(inception, UNIT, folder, SETTINGS)
    assert "another program" in result.warnings[0] and result.scanned == 2
    moved = next(cache_dir.parent.glob(cache_dir.name + ".damaged-*")) / "index.sqlite"
    assert moved.read_bytes() == before  # untouched: still journal_mode=delete, no application id written


def test_too_little_free_space_is_one_line_before_anything_is_written(inception, tmp_path, monkeypatch):
    folder = make_plain_folder(tmp_path / "plain", 4)
    monkeypatch.setattr(segments, "free_bytes", lambda _folder: 5 * 2**20)
    with pytest.raises(DiskFullError, match=r"needs \d+ MB for 4 images .* 5 MB free") as caught:
        ds.scan(inception, UNIT, folder, SETTINGS)
    assert "\n" not in str(caught.value)
    cache = ds.open_dataset(inception, UNIT, folder, SETTINGS)
    assert cache is None or (len(cache) == 0 and not list(cache.folder.glob("seg*.npy")))


def test_a_disk_filling_up_mid_scan_is_one_line_and_the_next_scan_completes(inception, tmp_path, monkeypatch):
    folder = make_plain_folder(tmp_path / "plain", 10)
    expected = reference_values(inception, folder, tmp_path, monkeypatch)
    real_write, calls = segments._write_at, []

    def write_at(file, position, data):
        calls.append(position)
        if len(calls) > 2:  # the first batch's pre and summary rows fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(file, position, data)

    with monkeypatch.context() as patch:
        patch.setattr(segments, "_write_at", write_at)
        with pytest.raises(DiskFullError, match="is full; free some space and scan again"):
            ds.scan(inception, UNIT, folder, SETTINGS)
    assert len(ds.open_dataset(inception, UNIT, folder, SETTINGS)) == 4
    result = ds.scan(inception, UNIT, folder, SETTINGS)
    assert (result.scanned, result.reused, result.warnings) == (6, 4, [])
    np.testing.assert_allclose(result.cache.values(81), expected, atol=1e-5)


def test_failed_reads_are_tried_again_but_undecodable_files_are_not(inception, tmp_path, monkeypatch):
    folder = make_plain_folder(tmp_path / "plain", 3)
    (folder / "broken.png").write_text("not a picture")
    real_open, failures, opened = images.open_regular, {"img001.png": errno.EACCES, "img002.png": errno.EIO}, []

    def open_once(path):
        name = Path(path).name
        opened.append(name)
        if name in failures:
            code = failures.pop(name)
            raise (PermissionError if code == errno.EACCES else OSError)(code, os.strerror(code), str(path))
        return real_open(path)

    monkeypatch.setattr(images, "open_regular", open_once)
    first = ds.scan(inception, UNIT, folder, SETTINGS)
    assert sorted(f for f, _ in first.bad) == ["broken.png", "img001.png", "img002.png"]
    assert "Permission denied" in dict(first.bad)["img001.png"]
    opened.clear()
    second = ds.scan(inception, UNIT, folder, SETTINGS)  # as after chmod 644 / the I/O error passing
    assert sorted(opened) == ["img001.png", "img002.png"]  # the undecodable file is not read again
    assert (second.scanned, second.reused) == (2, 1) and [f for f, _ in second.bad] == ["broken.png"]
    assert len(second.cache) == 3


def test_symlink_loops_and_names_that_are_not_utf8_are_skipped_and_listed(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 2)
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink("b.jpg", folder / "a.jpg")
    os.symlink("a.jpg", folder / "b.jpg")
    os.link(folder / "img000.png", os.path.join(os.fsencode(folder), b"caf\xe9.png"))  # Latin-1 name
    for _ in range(2):  # the same on every rerun
        result = ds.scan(inception, UNIT, folder, SETTINGS)
        skipped = dict(result.bad)
        assert sorted(skipped) == ["a.jpg", "b.jpg", "caf\\xe9.png", "loop.jpg"]
        assert "not valid UTF-8" in skipped["caf\\xe9.png"] and "symbolic links" in skipped["loop.jpg"]
        assert len(result.cache) == 2
