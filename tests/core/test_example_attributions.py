"""Dataset examples beside their attributions (scan --view quilt --attributions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from circuitloupe.cli import main
from circuitloupe.core.dataset.receptive import receptive_field
from circuitloupe.core.dataset.report import position_attribution
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel
from circuitloupe.core.units import UnitRef


def test_attribution_of_a_linear_unit_sums_to_its_value_less_the_bias():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 5, padding=2)
    model = LoadedModel("linear", nn.Sequential(conv), (16, 16), UNIT_RANGE, {"c": conv}, "test", "hand-made")
    pixels = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    heat = position_attribution(model, UnitRef("c", 1), receptive_field(model, "c", (16, 16)), pixels, 8, 8)
    with torch.no_grad():
        value = conv(torch.as_tensor(pixels).permute(2, 0, 1)[None])[0, 1, 8, 8]
    assert heat.shape == (5, 5) and heat.sum() == pytest.approx(float(value - conv.bias[1]), rel=1e-4)


def test_quilt_with_attributions_from_the_command_line(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for k in range(4):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "photos" / f"{k}.png")
    with_, without = tmp_path / "with.png", tmp_path / "without.png"
    for out, extra in ((with_, ["--attributions"]), (without, [])):
        assert main(["scan", "conv4:26", str(tmp_path / "photos"), "--model", "bundled", "--view", "quilt",
                     "--out", str(out), *extra]) == 0
    assert Image.open(with_).width > Image.open(without).width  # each crop gains its attribution beside it
