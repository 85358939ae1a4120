"""Equivariance pane: P4CNN's exact cyclic shift, Z2CNN's large error, hue x rotation and scale across
layers on hand-made families, discovery, attention; Copy as CLI reproduces the export."""

from __future__ import annotations

import os


import numpy as np
import pytest
from PIL import Image

from circuitloupe.core import equivariance as eq
from circuitloupe.core.models import load_model
from circuitloupe.service import InferenceService
from circuitloupe.ui.panes.equivariance import EquivariancePane
from circuitloupe.ui.state import AppState, OpenImage
from cli_reproduces import assert_cli_reproduces
from support import REPO

SCREENSHOTS = os.environ.get("CIRCUITLOUPE_SCREENSHOTS")  # set to a folder to keep screenshots
MODELS = REPO / "docs" / "equivariance_models.py"


@pytest.fixture
def setup(qtbot):
    service = InferenceService("cpu")
    state = AppState()
    pane = EquivariancePane(service, state)
    qtbot.addWidget(pane)
    pane.resize(1100, 700)
    pane.show()

    def open_model(spec: str):
        model = load_model(spec)
        service.model = model
        state.set_model(model)
        return model

    yield pane, state, open_model
    service.shutdown()


def finish(qtbot, job, timeout=120_000):
    assert job is not None
    with qtbot.waitSignal(job.sigFinished, timeout=timeout):
        pass


def analyse(qtbot, pane, units: str, kind: str, steps: int, second: str = ""):
    pane.units.setText(units)
    pane.transform.setCurrentIndex(pane.transform.findData(kind))
    pane.steps.setValue(steps)
    pane.second.setText(second)
    finish(qtbot, pane.run_analysis())
    return pane.result.analysis


def test_p4cnn_exact_cyclic_shift_and_z2cnn_large_error(qtbot, setup, tmp_path):
    pane, state, open_model = setup
    open_model("p4cnn")
    assert pane.units.text() == "c2:0 c2:1 c2:2 c2:3"  # the first preset family
    assert "selected them on the test set" in pane.summary.text()
    result = analyse(qtbot, pane, "c2:0 c2:1 c2:2 c2:3", "rotate", 4, second="c3:0,1,2,3")
    assert result.mapping == [1, 2, 3, 0] and result.score < 1e-5
    assert pane.result.symmetry.overall < 1e-5
    assert "counter-clockwise" in pane.summary.text() and "c2:0 → c2:1" == pane.mapping_list.item(0).text()
    assert pane.matrix_view.values.shape == (4, 4)
    image = pane.figure(0.8)
    assert image is not None and image.width > 300
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:7] == ["equivariance", "c2:0,1,2,3", "--transform", "rotate", "--steps", "4"]
    assert "--weights-to" in argv
    if SCREENSHOTS:
        pane.tabs.setCurrentIndex(0)
        pane.grab().save(os.path.join(SCREENSHOTS, "equivariance_p4cnn.png"))
        pane.tabs.setCurrentIndex(1)
        pane.grab().save(os.path.join(SCREENSHOTS, "equivariance_p4cnn_weights.png"))
    open_model("z2cnn")  # nothing of the p4cnn analysis stays on screen
    assert pane.matrix_view.item.image is None and pane.permutation_view.item.image is None
    assert pane.score_plot.getPlotItem().items == [] and pane.weights_view.image is None and pane.figure() is None
    assert pane.mapping_list.count() == 0 and pane.result is None
    z2 = analyse(qtbot, pane, "c2:0,1,2,3", "rotate", 4)
    assert z2.score > 0.3
    assert "score" in pane.summary.text()


def test_bundled_curve_family_rotates_counter_clockwise_better_than_the_baselines(qtbot, setup):
    pane, state, open_model = setup
    model = open_model("bundled")
    family = model.families["curve detectors"]
    pane.family.setCurrentIndex(pane.family.findText("curve detectors"))
    pane._on_family_picked(pane.family.currentIndex())
    assert pane.units.text() == " ".join(family)
    result = analyse(qtbot, pane, pane.units.text(), "rotate", 8)
    # The preset is sorted by preferred orientation (counter-clockwise), so a 45-degree turn
    # moves most units a step or two along the list.
    assert result.score < result.baseline_identity < result.baseline_random
    assert result.direction == "counter-clockwise" and result.shift in (1, 2)
    assert len(result.holes) <= 3
    assert "counter-clockwise" in pane.summary.text()
    if SCREENSHOTS:
        pane.tabs.setCurrentIndex(0)
        pane.units.setCursorPosition(0)
        pane.grab().save(os.path.join(SCREENSHOTS, "equivariance_bundled.png"))


def test_discovery_lists_candidates_that_can_be_saved(qtbot, setup):
    pane, state, open_model = setup
    model = open_model("p4cnn")
    pane.discover_layer.setCurrentIndex(pane.discover_layer.findData("c1"))
    pane.transform.setCurrentIndex(pane.transform.findData("rotate"))
    pane.steps.setValue(4)
    finish(qtbot, pane.run_discovery())
    assert pane.candidates.count() >= 1
    pane.candidates.setCurrentRow(0)
    units = pane.candidates.item(0).data(256)
    pane._on_save(name="c1 rotations")
    assert eq.saved_families(model)["c1 rotations"] == units
    assert pane.family.findText("c1 rotations") >= 0


def test_attention_of_the_attentive_p4cnn_over_an_image_and_it_rotated(qtbot, setup, tmp_path):
    pane, state, open_model = setup
    open_model("a_p4cnn")
    assert pane.run_attention() is None and "Open an image" in pane.summary.text()
    pixels = np.zeros((28, 28, 3), dtype=np.float32)
    pixels[6:22, 12:16] = 1.0
    pixels[6:10, 8:16] = 1.0  # a white "7"-like stroke on black, as rot-MNIST digits are
    path = tmp_path / "seven.png"
    Image.fromarray(((1.0 - pixels) * 255).astype(np.uint8)).save(path)
    state.set_image(OpenImage(str(path), 1.0 - pixels))
    finish(qtbot, pane.run_attention())
    attention = pane.result.attention
    assert attention.maps.shape == (2, 28, 28) and attention.error < 1e-4
    assert pane.tabs.currentIndex() == 4 and pane.attention_view.image is not None
    assert pane.figure(1.0).width > 200
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[argv.index("--attention") + 1] == str(path)
    if SCREENSHOTS:
        pane.grab().save(os.path.join(SCREENSHOTS, "equivariance_attention.png"))


def test_bad_units_give_a_message_and_keep_the_pane_alive(qtbot, setup):
    pane, state, open_model = setup
    open_model("p4cnn")
    messages = []
    state.sigMessage.connect(messages.append)
    pane.units.setText("c2:400")
    assert pane.run_analysis() is None
    assert messages and "channels 0..39" in messages[-1]
    pane.transform.setCurrentIndex(pane.transform.findData("hue"))
    pane.units.setText("c2:0,1")
    assert pane.run_analysis() is None and "colour" in messages[-1]


def test_hue_rotation_of_colour_opponent_edges_and_its_command(qtbot, setup, tmp_path):
    pane, state, open_model = setup
    open_model(f"{MODELS}:colour_opponent_edges")
    pane.units.setText("edges:0,1,2,3,4,5,6,7")
    pane.transform.setCurrentIndex(pane.transform.findData("hue_rotation"))
    assert pane.hue_steps.isEnabled() and not pane.max_scale.isEnabled()
    pane.steps.setValue(4)
    pane.hue_steps.setValue(4)
    pane.reduce.setCurrentIndex(pane.reduce.findData("max"))
    finish(qtbot, pane.run_analysis())
    joint = pane.result.analysis
    assert joint.matches and joint.same_permutation and joint.score < 1e-5
    assert joint.hue_half.mapped_units()["edges:0"] == "edges:2"  # hue+180 = the edge turned by 180
    assert pane.tabs.currentIndex() == 2 and pane.joint_view.image is not None
    assert "matches: yes" in pane.summary.text()
    assert pane.mapping_list.item(0).text() == "edges:0 → edges:2 (rot 180°), edges:2 (hue 180°)"
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[argv.index("--steps") + 1] == "4,4" and argv[argv.index("--reduce") + 1] == "max"
    if SCREENSHOTS:
        window = pane.window()
        window.resize(1366, 768)
        pane.grab().save(os.path.join(SCREENSHOTS, "equivariance_hue_rotation.png"))


def test_scale_family_across_layers_zooms_8x_and_its_command(qtbot, setup, tmp_path):
    pane, state, open_model = setup
    open_model(f"{MODELS}:blob_pyramid")
    pane.transform.setCurrentIndex(pane.transform.findData("scale"))
    assert pane.max_scale.isEnabled() and not pane.hue_steps.isEnabled()
    pane.max_scale.setValue(8.0)
    result = analyse(qtbot, pane, "small:0 medium:0,1 large:0", "scale", 4)
    assert result.values == [1, 2, 4, 8]
    assert [result.units[u] for u in result.scale_fits][-1] == "large:0" and "fits ×1" in pane.summary.text()
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[2] == "small:0 medium:0,1 large:0" and argv[argv.index("--max-scale") + 1] == "8.0"
