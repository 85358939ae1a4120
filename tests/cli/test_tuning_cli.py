"""circuitloupe tuning on the bundled model: JSON numbers, figures, readable errors."""

from __future__ import annotations

import json

from PIL import Image

from circuitloupe.cli import main
from circuitloupe.core.models import load_model
from circuitloupe.core.models.bundled import card_data


def test_tuning_writes_json_and_png(tmp_path, capsys):
    family = card_data()["families"]["curve detectors"][:2]
    png, report = tmp_path / "t.png", tmp_path / "t.json"
    code = main(["tuning", *family, "--model", "bundled", "--stimulus", "curve", "--orientations", "36",
                 "--curvatures", "4", "--out", str(png), "--json", str(report)])
    assert code == 0
    assert "preferred" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["stimulus"] == "curve" and len(data["orientations_deg"]) == 36 and len(data["radii_px"]) == 4
    assert [u["unit"] for u in data["units"]] == [f.replace(":", "_pre_relu:") for f in family]
    for unit in data["units"]:
        grid = unit["response_grid"]
        assert len(grid) == 4 and len(grid[0]) == 36
        assert 0 <= unit["preferred_orientation_deg"] < 360 and 0 < unit["tuning_width_deg"] <= 360
        assert unit["peak_response"] == max(max(row) for row in grid)
    # The numbers equal the core API's on the same model.
    from circuitloupe.core import tuning

    rmap = tuning.response_map(load_model("bundled"), family[0], orientations=36, curvatures=4)
    assert abs(data["units"][0]["peak_response"] - rmap.peak[0]) < 1e-5
    assert Image.open(png).width > 600


def test_angle_stimulus_family_and_radial_figure(tmp_path):
    png = tmp_path / "radial.png"
    assert main(["tuning", "--family", "curve detectors", "--model", "bundled", "--stimulus", "angle",
                 "--orientations", "24", "--curvatures", "3", "--figure", "radial", "--out", str(png),
                 "--json", str(tmp_path / "a.json")]) == 0
    data = json.loads((tmp_path / "a.json").read_text())
    assert len(data["openings_deg"]) == 3 and "peak_opening_deg" in data["units"][0]
    assert Image.open(png).width > 300


def test_mistakes_are_one_line_errors(capsys):
    assert main(["tuning", "conv9:1", "--model", "bundled"]) == 2
    assert main(["tuning", "--model", "bundled"]) == 2
    assert main(["tuning", "--family", "nope", "--model", "bundled"]) == 2
    assert main(["tuning", "conv4:1", "--model", "bundled", "--orientations", "0"]) == 2
    assert main(["tuning", "conv4:1", "--model", "bundled", "--fg", "reddish"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5 and "unknown colour 'reddish'" in lines[-1] and all(line.startswith(("circuitloupe: error:", "circuitloupe tuning: error:"))
                                   for line in lines)
