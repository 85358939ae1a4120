"""Polysemanticity: a unit that answers to two separate things scores higher than one that
answers to one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from circuitloupe.cli import main
from circuitloupe.core import polysemanticity as P
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel


def colour_model() -> LoadedModel:
    """``a:0`` = R + G (fires for red and for green), ``a:1`` = R, ``a:2`` = G."""
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = conv.weight[0, 1] = 1.0
        conv.weight[1, 0] = 1.0
        conv.weight[2, 1] = 1.0
    net = nn.Sequential(conv, nn.ReLU())
    return LoadedModel("colours", net, (16, 16), UNIT_RANGE, {"a": net[1]}, "test", "hand-made")


@pytest.fixture
def red_and_green(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(12):
        image = np.zeros((16, 16, 3), np.uint8)
        image[..., k % 2] = int(rng.integers(120, 255))  # red or green, of several brightnesses
        Image.fromarray(image).save(tmp_path / f"{k}.png")
    return tmp_path


def test_examples_of_an_or_unit_fall_into_two_clusters(red_and_green):
    model = colour_model()
    both = P.polysemanticity(model, "a:0", str(red_and_green), diverse=2, examples=12, size=16, steps=2)
    red = P.polysemanticity(model, "a:1", str(red_and_green), diverse=2, examples=6, size=16, steps=2)
    assert both.examples_score > 0.9 and len(both.clusters) == 2
    colours = [{int(both.examples[i][0].split(".")[0]) % 2 for i in members} for members in both.clusters]
    assert sorted(map(sorted, colours)) == [[0], [1]]  # one cluster red, one green
    assert red.examples_score < 0.2
    assert 0.0 <= both.featvis_score <= 1.0 and both.score == pytest.approx((both.featvis_score + both.examples_score) / 2)


def test_cli_on_the_bundled_model(tmp_path, red_and_green):
    out = tmp_path / "poly.json"
    assert main(["polysemanticity", "conv4:26", "--model", "bundled", "--images", str(red_and_green), "--diverse", "2",
                 "--examples", "6", "--size", "32", "--steps", "4", "--json", str(out), "--out", str(tmp_path / "p.png")]) == 0
    data = json.loads(out.read_text())
    assert data["unit"] == "conv4:26" and 0 <= data["score"] <= 1 and len(data["examples"]) == 6
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
