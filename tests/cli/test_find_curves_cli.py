"""circuitloupe find-curves on the handmade curve-template model (a file.py:factory spec)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from circuitloupe.cli import main
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.models import load_model
from circuitloupe.core.units import UnitRef

SPEC = f"{Path(__file__).resolve().parents[1] / 'curve_templates.py'}:build"


def test_find_curves_writes_json_png_and_saves_the_family(tmp_path, capsys):
    out, data_file = tmp_path / "curves.png", tmp_path / "curves.json"
    code = main(["find-curves", "curves", "--model", SPEC, "--orientations", "36", "--radii", "2",
                 "--json", str(data_file), "--out", str(out), "--scale", "0.6", "--save-family", "templates"])
    assert code == 0
    data = json.loads(data_file.read_text())
    assert data["family"] == ["curves:0", "curves:1", "curves:2", "curves:3"] and data["candidates"] == 4
    assert [round(s["preferred"]) % 360 for s in data["family_scores"]] == [0, 90, 180, 270]
    assert data["measured"] == "curves_pre_relu" and len(data["units"]) == 6
    assert Image.open(out).width > 300
    printed = capsys.readouterr().out
    assert "4 of 6 units are curve-selective" in printed and "saved family 'templates'" in printed
    store = AnnotationStore.for_model(load_model(SPEC))
    assert store.families()["templates"] == [UnitRef("curves", c) for c in range(4)]


def test_find_curves_errors_are_one_line(capsys):
    assert main(["find-curves", "curvez", "--model", SPEC]) == 2
    assert "no layer 'curvez'" in capsys.readouterr().err
    assert main(["find-curves", "curves", "--model", SPEC, "--top", "0"]) == 2
