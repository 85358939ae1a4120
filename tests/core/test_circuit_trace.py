"""Multi-layer circuits: tracing a unit's strongest contributors back through several layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import circuitloupe as cl
from circuitloupe.core import circuit_trace as ct
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel


def chain() -> LoadedModel:
    """Three linear 1x1 layers whose strongest paths are known: c:0 <- b:1 <- a:2."""
    net = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.Conv2d(3, 3, 1, bias=False), nn.Conv2d(3, 2, 1, bias=False))
    with torch.no_grad():
        for conv in net:
            conv.weight.fill_(0.01)
        net[1].weight[1, 2] = 3.0  # b:1 <- a:2, strong and positive
        net[1].weight[0, 0] = -2.0  # b:0 <- a:0, inhibitory
        net[2].weight[0, 1] = 5.0  # c:0 <- b:1
        net[2].weight[0, 0] = 1.0  # c:0 <- b:0
    points = {"a": net[0], "b": net[1], "c": net[2]}
    return LoadedModel("chain", net, (9, 9), UNIT_RANGE, points, "test", "hand-made")


def test_trace_follows_the_strongest_weights_layer_by_layer():
    result = ct.trace(chain(), "c:0", ["b", "a"], top=2)
    assert [[str(u) for u in level] for level in result.levels] == [["c:0"], ["b:1", "b:0"], ["a:2", "a:0"]]
    edges = {(str(e.src), str(e.dst)): e for e in result.edges}
    assert edges[("b:1", "c:0")].strength == pytest.approx(5.0, rel=1e-5)
    assert edges[("a:0", "b:0")].total == pytest.approx(-2.0, rel=1e-5)  # inhibitory keeps its sign
    assert ("a:2", "b:1") in edges


@pytest.mark.parametrize("layers", [[], ["a", "b"], ["c"]])
def test_trace_layers_must_run_backwards_from_the_unit(layers):
    with pytest.raises(UserError):
        ct.trace(chain(), "c:0", layers)


def test_trace_figure_on_the_bundled_model():
    model = cl.load("bundled")
    result = ct.trace(model, "conv4:26", ["conv3", "conv2"], top=3)
    assert [len(level) for level in result.levels] == [1, 3, 3]
    image = np.asarray(ct.trace_figure(result))
    assert image.shape[1] > 3 * 72 and image.std() > 10


def test_outputs_ranks_the_units_a_unit_feeds(tmp_path):
    import json

    from circuitloupe.cli import main

    model = chain()
    result = cl.outputs(model, "b:1", top=2)
    assert [(str(u), round(n, 4)) for u, n in result.ranked] == [("c:0", 5.0), ("c:1", 0.01)]
    out = tmp_path / "outputs.json"
    assert main(["outputs", "conv3:5", "--model", "bundled", "--top", "3", "--json", str(out),
                 "--out", str(tmp_path / "outputs.png")]) == 0
    data = json.loads(out.read_text())
    assert data["layer"] == "conv4" and len(data["outputs"]) == 3
    assert data["outputs"][0]["norm"] >= data["outputs"][-1]["norm"] > 0


def test_among_keeps_an_articles_units_and_must_name_traced_layers():
    result = ct.trace(chain(), "c:0", ["b", "a"], top=2, among="b:0")
    assert [str(u) for u in result.levels[1]] == ["b:0"]  # b:1 is stronger, but not asked for
    assert str(result.levels[2][0]) == "a:0" and all(str(e.dst) != "b:1" for e in result.edges)
    with pytest.raises(UserError, match="does not list"):
        ct.trace(chain(), "c:0", ["b"], among="a:2")


def test_default_layers_are_the_ones_before_as_the_articles_expand():
    model = cl.load("bundled")
    assert ct.default_layers(model, "conv4", 2) == ["conv3", "conv2"]
    assert ct.default_layers(model, "conv2", 5) == ["conv1"]  # no more earlier layers
