"""circuitloupe equivariance: JSON with mapping, score and baselines; PNG; readable mistakes."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from circuitloupe.cli import main
from support import REPO


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


MODELS = REPO / "docs" / "equivariance_models.py"


def test_hue_rotation_of_colour_opponent_edges_json_and_png(tmp_path, capsys):
    out_json, out_png = tmp_path / "hue.json", tmp_path / "hue.png"
    assert main(["equivariance", "edges:0,1,2,3,4,5,6,7", "--model", f"{MODELS}:colour_opponent_edges",
                 "--transform", "hue_rotation", "--steps", "4,4", "--json", str(out_json), "--out", str(out_png)]) == 0
    data = json.loads(out_json.read_text())
    assert data["angles"] == data["hues"] == [0, 90, 180, 270]
    assert data["half_turns"]["matches"] and data["half_turns"]["same_permutation"]
    assert data["half_turns"]["rotation_180"]["edges:0"] == "edges:2"  # hue+180 = the edge turned by 180
    assert data["score"] < 1e-5 and data["baselines"]["identity"] > 1
    assert data["rotation"]["mapping"]["edges:0"] == "edges:1" and data["hue"]["mapping"]["edges:0"] == "edges:4"
    assert data["request"]["steps"] == [4, 4]
    assert Image.open(out_png).width > 500
    assert "matches: yes" in capsys.readouterr().err


def test_scale_family_across_layers_zooms_8x_and_names_the_unit_fitting_each_zoom(tmp_path):
    out_json = tmp_path / "scale.json"
    assert main(["equivariance", "small:0,medium:0,1,large:0", "--model", f"{MODELS}:blob_pyramid",
                 "--transform", "scale", "--max-scale", "8", "--json", str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    assert data["values"] == [1, 2, 4, 8]
    fits = [f["unit"] for f in data["scale_fits"]]
    order = data["units"]
    assert [f["factor"] for f in data["scale_fits"]] == [1, 2, 4, 8]
    assert [order.index(u) for u in fits] == sorted(order.index(u) for u in fits) and fits[-1] == "large:0"
    assert data["mapping"]["medium:0"] == "medium:1" and data["mapping"]["medium:1"] == "large:0"


@pytest.mark.parametrize("extra, message", [
    (["--transform", "hue_rotation", "--steps", "3,4"], "even"),
    (["--transform", "rotate", "--steps", "4,4"], "one number"),
    (["--transform", "scale", "--max-scale", "9"], "--max-scale"),
    (["--transform", "hue_rotation", "--weights-to", "edges:2,3"], "one family"),
])
def test_joint_and_zoom_mistakes_are_one_line_errors(extra, message, tmp_path, capsys):
    out_json = tmp_path / "x.json"
    assert main(["equivariance", "edges:0,1", "--model", f"{MODELS}:colour_opponent_edges", *extra,
                 "--json", str(out_json)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out_json.exists()
