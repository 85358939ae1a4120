"""Edits pane on the bundled model: Apply makes the edited copy every pane's model (its outputs
are core.ablation's), Revert gives the original back, edits never compound, the list is saved."""

from __future__ import annotations

import json

import pytest
import torch

from circuitloupe.core.ablation import edited_copy, parse_edits
from circuitloupe.core.models import load_model
from circuitloupe.ui.panes.edits import EditRow, EditsPane
from open_pane import open_pane

IMAGES = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def pane(qtbot):
    with open_pane(qtbot, EditsPane, load_model("bundled")) as pane:
        pane.service.sigModelChanged.connect(pane.state.set_model)  # as the main window does
        yield pane


def logits(model):
    with torch.no_grad():
        return model.forward(IMAGES)


def swap(qtbot, pane, button):
    with qtbot.waitSignal(pane.service.sigModelChanged, timeout=60_000):
        button.click()


def test_apply_edits_every_pane_and_revert_restores(qtbot, pane):
    original = pane.service.model
    before = logits(original)
    pane.edit.setText("conv4:2")
    pane.add_button.click()
    pane.edit.setText("conv3:1->conv4:5")
    pane.scale.setValue(0.5)
    pane.add_button.click()
    assert pane.rows() == [EditRow("conv4:2", 0.0), EditRow("conv3:1->conv4:5", 0.5)]
    swap(qtbot, pane, pane.apply_button)
    edited = pane.service.model
    assert edited is not original and pane.state.model is edited
    expected = edited_copy(original, [*parse_edits(original, ["conv4:2"]),
                                      *parse_edits(original, ["conv3:1->conv4:5"], 0.5)])
    assert torch.allclose(logits(edited), logits(expected)) and not torch.allclose(logits(edited), before)
    assert "edited: conv4:2, conv3:1->conv4:5" in edited.weights_description
    assert "In force: conv4:2 × 0, conv3:1->conv4:5 × 0.5" in pane.status.text()
    assert edited.weights_id != original.weights_id  # its caches are its own
    assert torch.equal(logits(original), before)  # the original is untouched

    pane.list.setCurrentRow(1)
    pane.remove_button.click()
    swap(qtbot, pane, pane.apply_button)  # applied to the original again: edits never compound
    only_unit = edited_copy(original, parse_edits(original, ["conv4:2"]))
    assert torch.allclose(logits(pane.service.model), logits(only_unit))

    swap(qtbot, pane, pane.revert_button)
    assert pane.service.model is original and pane.state.model is original
    assert torch.equal(logits(pane.service.model), before)
    assert "No edits in force" in pane.status.text()


def test_bad_edits_are_refused_in_one_line(qtbot, pane):
    pane.edit.setText("conv4:999")
    pane.add_button.click()
    assert pane.rows() == [] and "999" in pane.status.text()
    pane.edit.setText("conv4:1,3")
    pane.add_button.click()
    assert [r.edit for r in pane.rows()] == ["conv4:1", "conv4:3"]


def test_edits_round_trip_through_the_project(qtbot, pane):
    pane.set_rows([EditRow("conv4:2", 0.0), EditRow("conv3:1->conv4:5", -1.0)])
    swap(qtbot, pane, pane.apply_button)
    saved = json.loads(json.dumps(pane.project_state()))
    original = pane.original
    swap(qtbot, pane, pane.revert_button)
    other = EditsPane(pane.service, pane.state)
    qtbot.addWidget(other)
    with qtbot.waitSignal(pane.service.sigModelChanged, timeout=60_000):
        other.restore_project_state(saved)
    assert other.rows() == pane.rows() and other.applied == pane.rows()
    assert pane.service.model is not original and "edited: conv4:2" in pane.service.model.weights_description


def test_results_of_the_edited_model_offer_no_cli_command(qtbot, pane):
    from circuitloupe.ui.panes.experiments import ExperimentsPane
    from test_experiments_pane import run_pane

    experiments = ExperimentsPane(pane.service, pane.state)
    qtbot.addWidget(experiments)
    experiments.set_task("outputs")
    experiments.form.set_values({"unit": "conv3:5", "top": 3})
    run_pane(qtbot, experiments)
    assert experiments.cli_command().startswith("circuitloupe outputs conv3:5 --top 3 --model bundled")
    pane.set_rows([EditRow("conv4:2", 0.0)])
    swap(qtbot, pane, pane.apply_button)
    assert experiments.form.values()["unit"] == "conv3:5"  # the same network: the options stay
    experiments.result = None
    run_pane(qtbot, experiments)
    assert experiments.cli_command() is None and "edited model" in experiments.info.text()
