"""The article experiments reached through existing commands: tuning --stimulus morph,
tuning --figure generality and circuit --trace."""

from __future__ import annotations

import json

import numpy as np
import pytest

import circuitloupe as cl
from circuitloupe.cli import main
from circuitloupe.core.errors import UserError
from circuitloupe.tasks import CircuitRequest, TuningRequest


def test_morph_from_the_command_line_ends_at_the_curve(tmp_path):
    out = tmp_path / "morph.json"
    assert main(["tuning", "conv4:26,3", "--model", "bundled", "--stimulus", "morph", "--steps", "4",
                 "--json", str(out), "--out", str(tmp_path / "morph.png")]) == 0
    data = json.loads(out.read_text())
    assert data["experiment"] == "morph" and data["steps"] == 4
    for unit in data["units"]:
        assert unit["responses"][-1] == pytest.approx(unit["curve_response"], rel=0.01)


def test_generality_is_normalised_to_black_on_white(tmp_path):
    result = cl.tuning(cl.load("bundled"), "conv4:26", figure="generality")
    row = result.to_json()["units"][0]
    assert result.to_json()["styles"][0] == "black on white" and row["normalised"][0] == pytest.approx(1.0)
    assert np.allclose(np.array(row["normalised"]) * row["responses"][0], row["responses"])


def test_trace_from_the_command_line(tmp_path):
    out = tmp_path / "trace.json"
    assert main(["circuit", "conv4:26", "--trace", "conv3,conv2", "--top", "3", "--model", "bundled",
                 "--json", str(out), "--out", str(tmp_path / "trace.png")]) == 0
    data = json.loads(out.read_text())
    assert [len(level) for level in data["levels"]] == [1, 3, 3] and data["layers"] == ["conv3", "conv2"]
    assert all(edge["strength"] > 0 for edge in data["edges"])


@pytest.mark.parametrize("bad", [dict(src_units="conv4:1,2", trace=("conv3",)),
                                 dict(src_units="conv4:1", dst_units="conv3:1", trace=("conv3",)),
                                 dict(src_units="conv4:1")])
def test_circuit_requests_need_either_two_lists_or_a_trace(bad):
    with pytest.raises(UserError):
        CircuitRequest(**bad)


def test_morph_steps_are_bounded():
    with pytest.raises(UserError):
        TuningRequest(units=("conv4:1",), stimulus="morph", steps=1)
