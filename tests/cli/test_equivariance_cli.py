"""circuitloupe equivariance: JSON with mapping, score and baselines; PNG; readable mistakes."""

from __future__ import annotations

import json

from PIL import Image

from circuitloupe.cli import main


def test_p4cnn_rotation_family_json_and_png(tmp_path):
    out_json, out_png = tmp_path / "eq.json", tmp_path / "eq.png"
    code = main(["equivariance", "c2:0,1,2,3", "--model", "p4cnn", "--transform", "rotate", "--steps", "4",
                 "--weights-to", "c3:0,1,2,3", "--json", str(out_json), "--out", str(out_png), "--scale", "0.7"])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["mapping"] == {"c2:0": "c2:1", "c2:1": "c2:2", "c2:2": "c2:3", "c2:3": "c2:0"}
    assert data["score"] < 1e-5
    assert data["baselines"]["identity"] > 0.5 and data["baselines"]["random"] > 0.5
    assert data["direction"] == "counter-clockwise" and data["values"] == [0, 90, 180, 270]
    assert data["weight_symmetry"]["overall"] < 1e-5
    assert Image.open(out_png).width > 300


def test_discover_lists_candidate_families(tmp_path):
    out_json = tmp_path / "found.json"
    assert main(["equivariance", "c1", "--model", "p4cnn", "--transform", "rotate", "--steps", "4",
                 "--discover", "--json", str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    cycles = [c for c in data["candidates"] if c["cyclic"] and len(c["units"]) == 4]
    assert cycles, data["candidates"]
    channels = sorted(int(u.split(":")[1]) for u in cycles[0]["units"])
    assert len({c // 4 for c in channels}) == 1  # the four rotations of one channel


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    out_json = tmp_path / "x.json"
    assert main(["equivariance", "c2:0,1", "--model", "p4cnn", "--transform", "hue", "--json", str(out_json)]) == 2
    assert "colour" in capsys.readouterr().err
    assert main(["equivariance", "c2:99", "--model", "p4cnn", "--transform", "flip", "--json", str(out_json)]) == 2
    assert "channels 0..39" in capsys.readouterr().err
    assert main(["equivariance", "c2:0,1", "--model", "p4cnn", "--transform", "flip", "--stimuli",
                 str(tmp_path / "missing"), "--json", str(out_json)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out_json.exists()
