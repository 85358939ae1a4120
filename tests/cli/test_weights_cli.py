"""circuitloupe weights / expanded / circuit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from circuitloupe.cli import common, expanded_cmd, main, weights_cmd

MODEL = ["--model", "inceptionv1", "--weights", "random:0"]


@pytest.fixture
def shared_model(monkeypatch, inception):
    """The commands reuse the session's InceptionV1 instead of loading their own."""
    for module in (common, expanded_cmd, weights_cmd):  # common: the commands run by cli.common.run_request
        monkeypatch.setattr(module, "open_model", lambda _args: inception)


def test_weights_writes_the_first_layer_grid(tmp_path, capsys):
    out = tmp_path / "filters.png"
    assert main(["weights", "conv2d0", *MODEL, "--out", str(out), "--columns", "16", "--shared-scale"]) == 0
    assert "64 filters of 7x7" in capsys.readouterr().out
    assert Image.open(out).size[0] == 16 * (48 + 4) + 4


def test_expanded_json_ranks_inputs_by_norm(tmp_path, shared_model):
    png, data = tmp_path / "e.png", tmp_path / "e.json"
    assert main(["expanded", "mixed3a", "3b:379", *MODEL, "--top", "4", "--out", str(png), "--json", str(data)]) == 0
    result = json.loads(data.read_text())
    assert result["unit"] == "mixed3b:379" and result["method"] == "product"
    assert result["kernel_shape"] == [5, 5]
    norms = [entry["norm"] for entry in result["inputs"]]
    assert norms == sorted(norms, reverse=True) and len(norms) == 4
    kernel = np.array(result["inputs"][0]["kernel"])
    assert abs(np.linalg.norm(kernel) - norms[0]) < 1e-5
    assert Image.open(png).size[0] > 400


def test_circuit_json_has_rows_for_later_units(tmp_path, shared_model):
    data = tmp_path / "c.json"
    assert main(["circuit", "mixed3a:81,147,145,71", "mixed3b:342,385,379,330", *MODEL,
                 "--json", str(data), "--out", str(tmp_path / "c.png"), "--magnitude"]) == 0
    result = json.loads(data.read_text())
    assert result["shape"] == [4, 4, 5, 5] and result["rows"][2] == "mixed3b:379"
    assert abs(np.abs(np.array(result["weights"])).max() - result["max_abs"]) < 1e-6


def test_mistakes_are_one_line_errors(capsys, shared_model):
    assert main(["expanded", "mixed3b", "mixed3a:1", *MODEL, "--json", "-"]) == 2
    assert "does not come before" in capsys.readouterr().err
    assert main(["weights", "conv2d2", *MODEL, "--out", "x.png"]) == 2
    assert "3 input channels" in capsys.readouterr().err


def test_weights_of_a_group_layer_are_rotated_copies(tmp_path, capsys):
    from circuitloupe.core.weights import copies_layout

    png, data = tmp_path / "c2.png", tmp_path / "c2.json"
    assert main(["weights", "c2", "--model", "p4cnn", "--input-channel", "3", "--out", str(png),
                 "--json", str(data)]) == 0
    assert "10 filters x 4 rotations of 3x3 x 4 input rotations (input channel 3)" in capsys.readouterr().out
    result = json.loads(data.read_text())
    copies = np.array(result["copies"])
    assert result["shape"] == [10, 4, 4, 3, 3] == list(copies.shape) and result["input_channel"] == 3
    assert np.allclose(copies[:, 1], np.roll(np.rot90(copies[:, 0], 1, axes=(-2, -1)), 1, axis=1))
    grid = copies_layout(10, 4)
    assert Image.open(png).size[1] == grid.origin_y + 10 * grid.row_step + 22
    assert Image.open(png).size[0] >= grid.origin_x + 4 * grid.column_step
    assert main(["weights", "--model", "p4cnn", "--out", str(png)]) == 0  # default: the lifting layer
    assert "10 filters x 4 rotations of 3x3 -> " in capsys.readouterr().out
    assert main(["weights", "logits", "--model", "p4cnn", "--out", str(png)]) == 2
    assert main(["weights", "c2", "--model", "p4cnn", "--input-channel", "10", "--out", str(png)]) == 2
    assert "input channels 0..9" in capsys.readouterr().err
