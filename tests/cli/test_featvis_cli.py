"""circuitloupe featvis: PNGs per unit or as a grid, and per-unit statistics as JSON."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from circuitloupe.cli import main

MODEL = ["--model", "inceptionv1", "--weights", "random:0"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_featvis_writes_grid_and_statistics_then_reuses_the_cache(tmp_path, capsys):
    out, stats = tmp_path / "grid.png", tmp_path / "stats.json"
    args = ["featvis", "mixed3a:1,2", "conv2d2:3", *MODEL, "--steps", "6", "--size", "32", "--seed", "1",
            "--out", str(out), "--json", str(stats)]
    assert main(args) == 0
    grid = Image.open(out)
    assert grid.width > 2 * 96 and grid.height > 2 * 96  # three units: a 2 x 2 grid
    data = json.loads(stats.read_text())
    assert [u["unit"] for u in data["units"]] == ["mixed3a:1", "mixed3a:2", "conv2d2:3"]
    assert data["settings"]["steps"] == 6 and data["settings"]["size"] == 32
    for unit in data["units"]:
        (image,) = unit["images"]
        assert image["objective_end"] > image["objective_start"]
        # the channel objective is the unit's mean activation on the final image
        assert image["activation_mean"] == pytest.approx(image["objective_end"], rel=0.02, abs=1e-3)
        assert not unit["cached"]
    assert main(args) == 0
    again = json.loads(stats.read_text())
    assert all(u["cached"] for u in again["units"])
    assert [u["images"][0]["objective_end"] for u in again["units"]] == \
        pytest.approx([u["images"][0]["objective_end"] for u in data["units"]])


def test_featvis_diverse_images_into_a_folder(tmp_path):
    folder = tmp_path / "vis"
    assert main(["featvis", "mixed3a:5", *MODEL, "--steps", "3", "--size", "24", "--diversity", "2",
                 "--objective", "neuron", "--scale", "2", "--out", str(folder)]) == 0
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["mixed3a_5_1.png", "mixed3a_5_2.png"]
    assert Image.open(folder / files[0]).size == (48, 48)


def test_featvis_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["featvis", "mixed3a:999", *MODEL, "--steps", "2", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["featvis", "mixed3a:1", *MODEL, "--out", str(tmp_path / "x.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2].startswith("circuitloupe: error: mixed3a has channels 0..255")
    assert err[-1].startswith("circuitloupe featvis: error: argument --out")
