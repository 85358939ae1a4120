"""Curve finder pane on the handmade curve-template model: run, table, save, export, cancel."""

from __future__ import annotations

import pytest

from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.panes.curve_finder import CurveFinderPane
from circuitloupe.ui.state import AppState
from curve_templates import template_model


@pytest.fixture
def pane(qtbot):
    model = template_model()
    service = InferenceService("cpu")
    service.model = model
    state = AppState()
    pane = CurveFinderPane(service, state)
    qtbot.addWidget(pane)
    pane.resize(900, 600)
    pane.show()
    state.set_model(model)
    yield pane
    service.shutdown()


def test_find_show_select_save_and_export(qtbot, pane):
    assert [pane.layer.itemText(i) for i in range(pane.layer.count())] == ["curves"]
    pane.orientations.setValue(36)
    pane.radii.setValue(2)
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.search is not None, timeout=60_000)
    assert [s.channel for s in pane.search.family] == [0, 1, 2, 3]
    assert pane.table.rowCount() == 4 and "4 of 6 units" in pane.info.text()
    assert pane.run_button.isEnabled() and pane.save_button.isEnabled()
    assert len(pane.plot.getPlotItem().listDataItems()) >= 4

    pane.table.selectRow(0)
    assert pane.state.unit is not None and pane.state.unit.layer == "curves"

    pane.family_name.setText("my curves")
    pane.save_button.click()
    saved = AnnotationStore.for_model(pane.state.model).families()
    assert saved["my curves"] == [UnitRef("curves", c) for c in (0, 1, 2, 3)]

    small, large = pane.figure(0.5), pane.figure(1.0)
    assert large.width > 1.5 * small.width
    command = pane.cli_command()
    assert command.startswith("circuitloupe find-curves curves --model templates --top 10 --orientations 36 "
                              "--radii 2")


def test_cancel_keeps_the_pane_usable(qtbot, pane):
    pane.orientations.setValue(360)
    pane.radii.setValue(16)
    pane.run_button.click()
    job = pane._job
    with qtbot.waitSignal(job.sigCancelled, timeout=60_000):
        pane.progress.cancel_button.click()
    assert pane.search is None and pane.run_button.isEnabled()
    assert "stopped" in pane.info.text()
