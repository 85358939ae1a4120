"""circuitloupe scan: statistics JSON, skipped files, cache reuse, figures and readable errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from PIL import Image

from circuitloupe.cli import main
from image_folders import BAD, GOOD, IGNORED, make_mixed_folder, make_plain_folder

MODEL = ["--model", "inceptionv1", "--weights", "random:0", "--size", "64", "--workers", "0"]


pytestmark = pytest.mark.usefixtures("shared_inception")


def test_scan_writes_statistics_examples_and_skipped_files(tmp_path, capsys):
    folder = make_mixed_folder(tmp_path / "mixed")
    stats, figure = tmp_path / "stats.json", tmp_path / "summary.png"
    assert main(["scan", "3a:81", str(folder), *MODEL, "--json", str(stats), "--out", str(figure), "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert f"{len(GOOD)} images scanned" in out and f"{len(BAD)} skipped" in out
    data = json.loads(stats.read_text())
    assert data["unit"] == "mixed3a:81" and data["images"] == len(GOOD) and data["scanned"] == len(GOOD)
    assert sorted(s["file"] for s in data["skipped"]) == sorted(BAD) and data["ignored"] == sorted(IGNORED)
    assert data["statistics"]["count"] == len(GOOD) * 64 and data["receptive_field_px"] == [59, 59]
    assert len(data["top"]) == 4 and data["top"][0]["value"] == data["statistics"]["max"]
    assert data["bottom"][0]["value"] == data["statistics"]["min"]
    assert 0 < data["exponential_fit"]["rate"] and Image.open(figure).width > 500

    assert main(["scan", "mixed3a:81", str(folder), *MODEL, "--json", "-"]) == 0
    again = capsys.readouterr()
    assert again.err.startswith(f"0 images scanned, {len(GOOD)} from the cache")
    assert json.loads(again.out)["statistics"] == data["statistics"]


def test_scan_of_a_whole_layer_reports_every_channel(tmp_path, capsys):
    folder = make_plain_folder(tmp_path / "plain", 2)
    assert main(["scan", "conv2d1", str(folder), *MODEL, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layer"] == "conv2d1" and [c["channel"] for c in data["channels"]] == list(range(64))
    assert all(0 <= c["fraction_firing"] <= 1 for c in data["channels"])


def test_scan_errors_are_one_readable_line(tmp_path, capsys):
    folder = make_plain_folder(tmp_path / "plain", 1)
    assert main(["scan", "mixed3a:9999", str(folder), *MODEL]) == 2
    assert "mixed3a has channels 0..255" in capsys.readouterr().err
    assert main(["scan", "mixed3a:1", str(tmp_path / "missing"), *MODEL]) == 2
    assert "argument DIR: " in capsys.readouterr().err
    assert main(["scan", "mixed3a", str(folder), *MODEL, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need a unit" in err


def test_a_damaged_cache_is_rebuilt_with_one_warning_line(tmp_path, capsys):
    folder = make_plain_folder(tmp_path / "plain", 3)
    stats = tmp_path / "stats.json"
    assert main(["scan", "3a:81", str(folder), *MODEL, "--json", str(stats)]) == 0
    expected = json.loads(stats.read_text())["statistics"]
    cache = Path(json.loads(stats.read_text())["cache"])
    assert capsys.readouterr().err.count("warning") == 0
    for rescan in ([], ["--rescan"]):
        (cache / "index.sqlite").write_bytes(b"\x13" * 10000)
        assert main(["scan", "3a:81", str(folder), *MODEL, "--json", str(stats), *rescan]) == 0
        captured = capsys.readouterr()
        warnings = [line for line in captured.err.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "moved that cache to" in warnings[0] and "3 images scanned" in captured.out
        assert json.loads(stats.read_text())["statistics"] == pytest.approx(expected, rel=1e-5)
    pre = np.load(cache / "seg1.pre.npy", mmap_mode="r+")
    pre[:] = 0
    pre.flush()
    del pre
    assert main(["scan", "3a:81", str(folder), *MODEL, "--json", str(stats)]) == 0
    assert "3 cached image(s)" in capsys.readouterr().err
    assert json.loads(stats.read_text())["statistics"] == pytest.approx(expected, rel=1e-5)


def test_symlink_loops_and_undecodable_names_are_listed_as_skipped(tmp_path, capsys):
    folder = make_plain_folder(tmp_path / "plain", 2)
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.link(folder / "img000.png", os.path.join(os.fsencode(folder), b"\xff.png"))
    stats = tmp_path / "stats.json"
    for _ in range(2):
        assert main(["scan", "3a:81", str(folder), *MODEL, "--json", str(stats)]) == 0
        assert "2 skipped" in capsys.readouterr().out
        assert [s["file"] for s in json.loads(stats.read_text())["skipped"]] == ["\\xff.png", "loop.jpg"]
