"""Curve finder pane on the handmade curve-template model: run, table, save, export, cancel, and
Copy as CLI command."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.models import load_model
from circuitloupe.core.units import UnitRef
from circuitloupe.ui.panes.curve_finder import CurveFinderPane
from cli_reproduces import assert_cli_reproduces
from open_pane import open_pane

SPEC = f"{Path(__file__).resolve().parents[1] / 'curve_templates.py'}:build"  # loads on the command line too


@pytest.fixture
def pane(qtbot):
    with open_pane(qtbot, CurveFinderPane, load_model(SPEC), (900, 600)) as pane:
        yield pane


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
    assert pane.cli_command() == f"circuitloupe find-curves curves --radii 2 --model {SPEC} --out FIG.png"


def test_non_default_options_reproduce_from_the_command_line(qtbot, pane, tmp_path):
    pane.top.setValue(3)
    pane.orientations.setValue(48)
    pane.radii.setValue(2)
    pane.min_selectivity.setValue(0.25)
    pane.min_sigma.setValue(1.5)
    pane.min_curve_vs_line.setValue(0.5)
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.result is not None, timeout=60_000)
    assert len(pane.search.family) == 3
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:11] == ["find-curves", "curves", "--top", "3", "--orientations", "48", "--radii", "2",
                          "--min-selectivity", "0.25"]


def test_cancel_keeps_the_pane_usable(qtbot, pane):
    pane.orientations.setValue(360)
    pane.radii.setValue(16)
    pane.run_button.click()
    job = pane._job
    with qtbot.waitSignal(job.sigCancelled, timeout=60_000):
        pane.progress.cancel_button.click()
    assert pane.search is None and pane.run_button.isEnabled()
    assert "stopped" in pane.info.text()
