"""featvis --direction and --attribution-from: directions and attributions as images."""

from __future__ import annotations

import json

import numpy as np
import pytest

import circuitloupe as cl
from circuitloupe.cli import main
from circuitloupe.core.featurevis import objectives as obj
from circuitloupe.core.featurevis.render import objective_values


@pytest.fixture(scope="module")
def bundled():
    return cl.load("bundled")


def test_one_hot_direction_renders_exactly_the_units_direction_objective(bundled, tmp_path):
    vector = np.zeros(64, dtype=np.float32)
    vector[3] = 1.0
    np.save(tmp_path / "v.npy", vector)
    direction = cl.featvis(bundled, "conv4", direction=str(tmp_path / "v.npy"), steps=6, size=32)
    unit = cl.featvis(bundled, "conv4:3", objective="direction", steps=6, size=32, no_cache=True)
    assert np.array_equal(direction.visualisations[0].images, unit.visualisations[0].images)
    assert direction.to_json()["units"][0] | {"images": None} == {"unit": "conv4", "objective": "direction(conv4)",
                                                                   "cached": False, "images": None}


def test_attribution_norm_grows_while_optimised(bundled):
    result = cl.featvis(bundled, "conv4:3,5", attribution_from="conv3", steps=12, size=32)
    assert [v.end_values[0] > v.start_values[0] for v in result.visualisations] == [True, True]
    assert result.names() == ["conv4:3 <- conv3", "conv4:5 <- conv3"]
    assert all(v.start_values[0] > 0 for v in result.visualisations)  # pre-ReLU: never stuck at zero


def test_attribution_pattern_objective_is_the_dot_product_with_the_layer(bundled):
    rng = np.random.default_rng(0)
    image = rng.random((1, 64, 64, 3), dtype=np.float32)
    from circuitloupe.core.activations import capture

    layer = capture(bundled, image.transpose(0, 3, 1, 2), ["conv3"])["conv3"][0]
    pattern = rng.normal(size=layer.shape).astype(np.float32)
    value = objective_values(bundled, obj.attribution_pattern("conv3", pattern), image)[0]
    assert value == pytest.approx(float((layer * pattern).sum()), rel=1e-4)


def test_attribution_on_an_image_via_the_cli(tmp_path):
    assert main(["featvis", "conv4:3", "--attribution-from", "conv3", "--image", "sample:chelsea", "--model", "bundled",
                 "--steps", "4", "--size", "32", "--out", str(tmp_path / "a.png"), "--json", str(tmp_path / "a.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["units"][0]["objective"] == "conv4:3 <- conv3 on image"


@pytest.mark.parametrize("content", ["pickle", "wrong length", "matrix"])
def test_bad_direction_files_are_one_line_errors(tmp_path, capsys, content):
    path = tmp_path / "v.npy"
    if content == "pickle":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        np.save(path, np.ones(5 if content == "wrong length" else (8, 8), dtype=np.float32))
    assert main(["featvis", "conv4", "--direction", str(path), "--model", "bundled", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
