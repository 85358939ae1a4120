"""Compare pane: a second model beside the current one; the comparison it shows is the one its
"Copy as CLI command" writes, and its options live in the project."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core.models import load_model
from circuitloupe.ui.panes.compare import ComparePane, default_other
from cli_reproduces import assert_cli_reproduces
from open_pane import open_pane
from test_experiments_pane import run_pane


@pytest.fixture
def pane(qtbot):
    with open_pane(qtbot, ComparePane, load_model("bundled"), size=(900, 700)) as pane:
        yield pane


def test_the_other_model_defaults_to_a_relative():
    assert default_other("efficientnet_lite0") == "efficientnet_lite1"
    assert default_other("bundled") == "efficientnet_lite0"


def test_comparison_equals_its_cli_command(qtbot, pane, tmp_path):
    assert pane.other.currentText() == "efficientnet_lite0"
    pane.other.setCurrentText("bundled")
    pane.form.set_values({"layers": ("conv4", "conv4"), "orientations": 12, "radii": 2, "top": 4})
    result = run_pane(qtbot, pane)
    assert result.request.models == ("bundled", "bundled")
    assert "bundled" in pane.table.toPlainText() and "pairs match" in pane.table.toPlainText()
    assert pane.cli_command().startswith("circuitloupe compare-models --models bundled,bundled "
                                         "--layers conv4,conv4 --top 4 --orientations 12 --radii 2")
    assert_cli_reproduces(pane, tmp_path)


def test_options_round_trip_through_the_project(qtbot, pane):
    pane.other.setCurrentText("efficientnet_lite2")
    pane.form.set_values({"orientations": 24, "min_correlation": 0.5})
    saved = json.loads(json.dumps(pane.project_state()))
    other = ComparePane(pane.service, pane.state)
    qtbot.addWidget(other)
    other.restore_project_state(saved)
    assert other.other.currentText() == "efficientnet_lite2"
    assert other.form.request() == pane.form.request()
    assert other.form.request().orientations == 24


def test_no_cli_command_when_the_current_model_has_other_weights(qtbot, pane):
    random = load_model("bundled", "random:3")
    pane.service.model = random
    pane.state.set_model(random)
    pane.other.setCurrentText("bundled")
    pane.form.set_values({"layers": ("conv4", "conv4"), "orientations": 12, "radii": 1, "top": 2})
    result = run_pane(qtbot, pane)
    assert result.request.models == ("bundled", "bundled")
    assert pane.cli_command() is None  # compare-models would load the default weights
