"""Experiments pane on the bundled model: each experiment run with non-default options shows the
figure that its "Copy as CLI command" writes; the chosen task and options live in the project."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core.models import load_model
from circuitloupe.ui.panes.experiments import ExperimentsPane
from cli_reproduces import assert_cli_reproduces
from image_folders import make_plain_folder
from open_pane import open_pane


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


@pytest.fixture
def pane(qtbot, bundled):
    with open_pane(qtbot, ExperimentsPane, bundled, size=(900, 700)) as pane:
        yield pane


def run_pane(qtbot, pane):
    pane.run_button.click()
    assert not pane.run_button.isEnabled(), pane.form.error.text()
    qtbot.waitUntil(pane.run_button.isEnabled, timeout=120_000)
    assert pane.result is not None, pane.info.text()
    return pane.result


def test_defaults_come_from_the_model_and_the_current_unit(pane):
    assert pane.forms["handwritten"].values()["layer"] == "conv4"  # the curve family's layer
    assert pane.forms["handwritten"].values()["earlier"] == "conv3"  # and the layer before it
    pane.state.set_unit("conv3:5")
    assert pane.forms["outputs"].values()["unit"] == "conv3:5"
    assert pane.forms["ablate"].values()["edits"] == ("conv3:5",)


@pytest.mark.parametrize("task, options", [
    ("outputs", {"unit": "conv3:5", "layer": "conv4", "top": 3}),
    ("ablate", {"edits": ("conv4:2,7",), "scale": 0.5, "batch_size": 2}),
    ("handwritten", {"units": 4, "min_selectivity": 0.3}),
    ("factors", {"layer": "conv3", "k": 2, "steps": 4, "size": 32, "examples": 2, "seed": 1}),
])
def test_pane_figure_equals_its_cli_command(qtbot, pane, tmp_path, task, options):
    folder = str(make_plain_folder(tmp_path / "images", 4))
    pane.set_task(task)
    pane.form.set_values({"images": folder, "folder": folder, **options})
    result = run_pane(qtbot, pane)
    assert result.request.command == task and pane.view.image is not None
    assert pane.figure(0.5).width < pane.figure(1.0).width
    assert_cli_reproduces(pane, tmp_path)


def test_bad_options_are_one_line_under_the_form(qtbot, pane):
    pane.set_task("ablate")
    pane.form.set_values({"images": ""})
    pane.run_button.click()
    assert pane._job is None and pane.result is None
    assert pane.form.error.isVisible() and "--images" in pane.form.error.text()


def test_task_and_options_round_trip_through_the_project(qtbot, pane, tmp_path):
    pane.set_task("factors")
    pane.form.set_values({"layer": "conv2", "folder": str(tmp_path), "k": 3, "to": "conv3"})
    saved = json.loads(json.dumps(pane.project_state()))
    other = ExperimentsPane(pane.service, pane.state)
    qtbot.addWidget(other)
    other.restore_project_state(saved)
    assert other.task == "factors" and other.form.request() == pane.form.request()
    assert other.form.values()["to"] == "conv3"


def test_cancel_keeps_the_pane_usable(qtbot, pane, tmp_path):
    folder = str(make_plain_folder(tmp_path / "images", 2))
    pane.set_task("factors")
    pane.form.set_values({"layer": "conv3", "folder": folder, "k": 2, "steps": 10_000, "size": 64})
    pane.run_button.click()
    job = pane._job
    with qtbot.waitSignal(job.sigStarted, timeout=30_000):
        pass
    with qtbot.waitSignal(job.sigCancelled, timeout=60_000):
        pane.progress.cancel_button.click()
    assert pane.result is None and pane.run_button.isEnabled() and "stopped" in pane.info.text()
