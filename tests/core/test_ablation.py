"""Circuit editing: ablating units and edges in a copy of a model, with answers known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from circuitloupe.cli import main
from circuitloupe.core.ablation import ablation_report, edited_copy, parse_edits
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel


class Tiny(nn.Module):
    """conv1 (1x1, 3->4) -> ReLU -> max pool -> conv2 (1x1, 4->3) -> ReLU -> mean -> linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.relu1, self.pool = nn.Conv2d(3, 4, 1), nn.ReLU(), nn.MaxPool2d(2)
        self.conv2, self.relu2 = nn.Conv2d(4, 3, 1), nn.ReLU()
        self.head = nn.Linear(3, 5)
        with torch.no_grad():
            self.conv1.bias.fill_(0.5)  # every conv1 unit fires on images in [0, 1]
            self.conv2.weight.abs_()
            self.conv2.bias.fill_(0.1)
            self.head.weight[:, 1] = 0.0  # conv2:1 feeds nothing

    def forward(self, x):
        x = self.relu2(self.conv2(self.pool(self.relu1(self.conv1(x)))))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture
def tiny() -> LoadedModel:
    net = Tiny()
    points = {"conv1": net.relu1, "conv2_pre_relu": net.conv2, "conv2": net.relu2, "logits": net.head}
    return LoadedModel("tiny", net, (8, 8), UNIT_RANGE, points, "test", "hand-made")


def images(count: int = 4) -> torch.Tensor:
    return torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_unit_feeding_a_linear_head_changes_each_logit_by_weight_times_pooled_activation(tiny):
    x = images()
    with torch.no_grad():
        pooled = tiny.net.relu2(tiny.net.conv2(tiny.net.pool(tiny.net.relu1(tiny.net.conv1(x))))).mean(dim=(2, 3))
        change = edited_copy(tiny, parse_edits(tiny, ["conv2:2"])).forward(x) - tiny.forward(x)
    expected = -pooled[:, 2:3] * tiny.net.head.weight[:, 2]
    assert torch.allclose(change, expected, atol=1e-6)


def test_unit_with_zero_outgoing_weights_changes_no_logit(tiny):
    x = images()
    with torch.no_grad():
        assert torch.equal(edited_copy(tiny, parse_edits(tiny, ["conv2:1"])).forward(x), tiny.forward(x))


def test_edge_is_one_weight_of_one_convolution_and_the_original_is_untouched(tiny):
    before = tiny.net.conv2.weight.clone()
    edited = edited_copy(tiny, parse_edits(tiny, ["conv1:3->conv2:0"], scale=0.5))
    assert torch.equal(tiny.net.conv2.weight, before)
    expected = before.clone()
    expected[0, 3] *= 0.5
    assert torch.equal(edited.net.conv2.weight, expected)
    assert torch.equal(edited.net.conv1.weight, tiny.net.conv1.weight)


@pytest.mark.parametrize("text", ["conv2:0->conv1:1", "conv1:0->logits:1", "conv1:9", "conv1:0->"])
def test_impossible_edits_are_one_line_errors(tiny, text):
    with pytest.raises(UserError):
        edited_copy(tiny, parse_edits(tiny, [text]))


def test_report_over_class_folders(tiny, tmp_path):
    rng = np.random.default_rng(0)
    for label in ("0", "3"):
        (tmp_path / label).mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / label / f"{k}.png")
    report = ablation_report(tiny, parse_edits(tiny, ["conv2:1"]), str(tmp_path), batch_size=4)
    assert len(report.files) == 6 and report.labelled == 6
    assert report.logit_change_mean == [0.0] * 5 and report.accuracy["original"] == report.accuracy["ablated"]


def test_cli_on_the_bundled_model(tmp_path):
    from circuitloupe.core import stimuli

    for k in (0, 2):  # class folders named by index: "curve 0°", "curve 90°"
        (tmp_path / "images" / str(k)).mkdir(parents=True)
        Image.fromarray((stimuli.curve(k * 45, 12, 64) * 255).astype(np.uint8)).save(tmp_path / "images" / str(k) / "a.png")
    out = tmp_path / "ablate.json"
    assert main(["ablate", "conv4:3,5", "--model", "bundled", "--images", str(tmp_path / "images"),
                 "--json", str(out), "--out", str(tmp_path / "ablate.png")]) == 0
    data = json.loads(out.read_text())
    assert data["edits"] == ["conv4:3", "conv4:5"] and data["labelled"] == 2
    assert len(data["logit_change_mean"]) == 20 and data["top_changes"][0]["label"].split()[0].isdigit()
    assert (tmp_path / "ablate.png").read_bytes().startswith(b"\x89PNG")
