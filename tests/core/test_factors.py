"""Factors: NMF of a layer's activations recovers directions known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from circuitloupe.cli import main
from circuitloupe.core import factors as F
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel


def two_colour_model() -> LoadedModel:
    """``a`` = (R, R, G, G): its activations are exactly R * (1,1,0,0) + G * (0,0,1,1).
    ``b`` = (a0 + a1, 2 (a2 + a3)): a 1x1 layer whose factor circuit is known."""
    first, second = nn.Conv2d(3, 4, 1, bias=False), nn.Conv2d(4, 2, 1, bias=False)
    with torch.no_grad():
        first.weight.zero_()
        first.weight[0, 0] = first.weight[1, 0] = 1.0
        first.weight[2, 1] = first.weight[3, 1] = 1.0
        second.weight.zero_()
        second.weight[0, :2] = 1.0
        second.weight[1, 2:] = 2.0
    net = nn.Sequential(first, nn.ReLU(), second, nn.ReLU())
    return LoadedModel("colours", net, (8, 8), UNIT_RANGE, {"a": net[1], "b": net[3]}, "test", "hand-made")


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(6):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    return tmp_path


def test_nmf_recovers_the_two_colour_directions(folder):
    found = F.factorise(two_colour_model(), "a", str(folder), k=2)
    expected = np.array([[1, 1, 0, 0], [0, 0, 1, 1]]) / np.sqrt(2)
    matched = sorted(found.directions.tolist(), key=lambda d: -d[0])
    assert np.allclose(matched, expected, atol=1e-3)
    assert found.explained == pytest.approx(1.0, abs=1e-4) and found.positions == 6 * 64
    assert len(found.examples[0]) == 6 and found.examples[0][0][3] >= found.examples[0][-1][3]


def test_factor_circuit_is_the_expanded_weights_projected_on_both_factors(folder):
    model = two_colour_model()
    source = F.factorise(model, "a", str(folder), k=2)
    target = F.factorise(model, "b", str(folder), k=2)
    circuit = F.factor_circuit(model, source, target)
    weights = model.net[2].weight[:, :, 0, 0].double().numpy()  # [2, 4]
    expected = target.directions @ weights @ source.directions.T
    assert circuit.shape[:2] == (2, 2) and np.allclose(circuit.sum(axis=(2, 3)), expected, atol=1e-5)
    assert F.transpose_similarity(circuit, circuit.transpose(1, 0, 2, 3)) == pytest.approx(1.0)


def test_cli_on_the_bundled_model(tmp_path, folder):
    out = tmp_path / "factors.json"
    assert main(["factors", "conv3", str(folder), "--model", "bundled", "--k", "3", "--to", "conv4", "--steps", "4",
                 "--size", "32", "--json", str(out), "--out", str(tmp_path / "factors.png")]) == 0
    data = json.loads(out.read_text())
    assert data["k"] == 3 and len(data["factors"][0]["channel_weights"]) == 48 and 0 < data["explained"] <= 1
    assert np.array(data["circuit"]["totals"]).shape == (3, 3)
    assert (tmp_path / "factors.png").read_bytes().startswith(b"\x89PNG")


def test_a_circuit_compared_with_its_own_transpose_scores_as_the_closed_form_says(folder):
    from circuitloupe.tasks import FactorsRequest, TaskContext, run

    model = two_colour_model()
    result = run(TaskContext(model), FactorsRequest("a", str(folder), k=2, to="b", steps=0, size=16,
                                                    compare_transpose=("a", "b")))
    source, target = result.factors, result.target
    totals = target.directions @ model.net[2].weight[:, :, 0, 0].double().numpy() @ source.directions.T
    expected = float(totals.ravel() @ totals.T.ravel() / (totals ** 2).sum())
    assert result.transpose_similarity == pytest.approx(expected, abs=1e-5)
    assert result.to_json()["compare_transpose"]["layers"] == ["a", "b"]
    assert "against the transpose of a -> b" in result.lines()[-1]
    with pytest.raises(UserError, match="two layers"):
        FactorsRequest("a", str(folder), to="b", compare_transpose=("a",))
    with pytest.raises(UserError, match="needs --to"):
        FactorsRequest("a", str(folder), compare_transpose=("a", "b"))


def test_compare_transpose_on_the_command_line(tmp_path, folder):
    out = tmp_path / "factors.json"
    assert main(["factors", "conv3", str(folder), "--model", "bundled", "--k", "2", "--to", "conv4", "--steps", "0",
                 "--size", "16", "--compare-transpose", "conv2,conv3", "--json", str(out)]) == 0
    compared = json.loads(out.read_text())["compare_transpose"]
    assert compared["layers"] == ["conv2", "conv3"] and -1 <= compared["transpose_similarity"] <= 1
