"""Handwritten curve detectors: hand-made kernels spliced into a copy recover their designed
orientations."""

from __future__ import annotations

import json

import numpy as np
import pytest

import circuitloupe as cl
from circuitloupe.cli import main
from circuitloupe.core import handwritten as H
from circuitloupe.core.errors import UserError


def test_arc_template_points_each_cell_at_the_arcs_local_orientation():
    phis = np.arange(0, 360, 45.0)
    kernel = H.arc_template(0.0, phis, np.ones(8), (3, 3))
    apex = kernel[:, 1, 1]  # the apex: the arc bulges up (0 degrees) there
    assert int(np.argmax(apex)) == 0 and apex[4] == pytest.approx(-apex[0])  # opposite orientation inhibits
    assert kernel[:, 2, 1].max() < 0.5 * apex.max()  # below the apex, off the arc: less weight
    assert H.orientation_of(np.array([-1.0]), np.array([0.0]))[0] == pytest.approx(90.0)  # left is 90 degrees


def test_eight_hand_made_units_sit_45_degrees_apart_in_the_bundled_model(tmp_path):
    out = tmp_path / "hand.json"
    assert main(["handwritten", "conv4", "--from", "conv3", "--model", "bundled", "--units", "8",
                 "--json", str(out), "--out", str(tmp_path / "hand.png")]) == 0
    units = json.loads(out.read_text())["units"]
    designed = np.array([u["designed_orientation_deg"] for u in units])
    measured = np.array([u["preferred_orientation_deg"] for u in units])
    assert np.allclose(designed, np.arange(8) * 45.0)
    gap = np.abs((measured - designed + 180) % 360 - 180)
    assert gap.max() < 25.0, gap  # each recovers its designed orientation
    assert len({u["unit"] for u in units}) == 8


def test_the_users_model_is_never_changed():
    model = cl.load("bundled")
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    _, spliced = H.handwritten(model, "conv4", "conv3", units=2)
    assert all((model.net.state_dict()[k] == v).all() for k, v in before.items())
    assert not (spliced.net.conv4.weight == model.net.conv4.weight).all()


def test_layers_in_the_wrong_order_are_one_line_errors():
    with pytest.raises(UserError):
        H.handwritten(cl.load("bundled"), "conv3", "conv4")
