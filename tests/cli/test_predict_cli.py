"""circuitloupe predict on sample photos and files; readable errors."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from circuitloupe.cli import main


def test_predict_samples_to_json(tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["predict", "sample:chelsea", "sample:coffee", "--top", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["model"] == "efficientnet_lite0"
    assert [d["top"][0]["index"] for d in data["images"]] == [285, 967]
    assert len(data["images"][0]["top"]) == 2
    printed = capsys.readouterr().out
    assert "Egyptian cat" in printed and "espresso" in printed


def test_predict_file_json_to_stdout(tmp_path, capsys):
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(path)
    assert main(["predict", str(path), "--top", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images"][0]["image"] == str(path) and len(data["images"][0]["top"]) == 1


def test_predict_errors_are_one_line(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "missing.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["predict", "sample:dog"]) == 2
    assert main(["predict", "sample:chelsea", "--model", "inceptionv1", "--weights", "random"]) == 2
    assert "no class labels" in capsys.readouterr().err
