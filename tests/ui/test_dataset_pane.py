"""Dataset pane: scan a folder, show the distribution, examples and skipped files, reopen from the cache."""

from __future__ import annotations

import pytest

from circuitloupe.ui.panes.dataset import TABS, DatasetPane
from circuitloupe.ui.state import AppState
from image_folders import BAD, GOOD, make_mixed_folder

SCREENSHOT = "/tmp/dataset_pane.png"


@pytest.fixture
def pane(qtbot, service, inception):
    state = AppState()
    pane = DatasetPane(service, state)
    qtbot.addWidget(pane)
    pane.resize(1100, 700)
    pane.show()
    state.set_model(inception)
    state.set_unit("mixed3a:81")
    pane.size.setValue(64)
    pane.workers.setValue(0)
    return pane


def test_scan_shows_distribution_examples_and_skipped_files(qtbot, pane, tmp_path):
    folder = make_mixed_folder(tmp_path / "mixed")
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.set_folder(folder)
    qtbot.waitUntil(lambda: "No scan of this folder" in pane.status.text(), timeout=30_000)
    assert pane.figure() is None and pane.cli_command() is None

    pane.start_scan()
    qtbot.waitUntil(lambda: pane.report is not None, timeout=90_000)
    report = pane.report
    assert report.images == len(GOOD) and len(report.values) == len(GOOD) * 64
    assert pane.skipped.count() == len(BAD) and pane.tabs.tabText(4) == f"Skipped ({len(BAD)})"
    assert "cannot read image" in pane.skipped.item(0).toolTip()
    assert f"Last scan: {len(GOOD)} new" in pane.status.text() and pane.scan_button.isEnabled()
    assert "firing" in pane.stats_label.text() and "exponential tail rate" in pane.stats_label.text()
    assert len(pane.hist_plot.getPlotItem().listDataItems()) == 3  # not firing, firing, exponential fit
    pane.log_y.setChecked(True)
    assert pane.hist_plot.getPlotItem().ctrl.logYCheck.isChecked()
    pane.grab().save(SCREENSHOT)

    for index, view in enumerate(("log-histogram", "expected", "examples", "quilt")):
        pane.tabs.setCurrentIndex(index)
        assert pane.view() == view and pane.figure(0.5).width > 100, TABS[index]
    command = pane.cli_command()
    assert command.startswith("circuitloupe scan mixed3a:81 ") and "--size 64" in command and "--view quilt" in command

    pane.state.set_unit("mixed3a:80")  # another unit: not cached yet
    qtbot.waitUntil(lambda: pane.report is None, timeout=30_000)
    qtbot.waitUntil(lambda: "No scan of this folder" in pane.status.text(), timeout=30_000)
    # nothing of mixed3a:81 stays on screen for mixed3a:80
    assert pane.hist_plot.getPlotItem().listDataItems() == [] and pane.xpx_plot.getPlotItem().listDataItems() == []
    assert pane.examples.image is None and pane.quilt.image is None and pane.stats_label.text() == ""
    assert pane.skipped.count() == 0 and pane.tabs.tabText(4) == "Skipped"
    pane.state.set_unit("mixed3a:81")  # back: reopened from the cache, no scan
    qtbot.waitUntil(lambda: pane.report is not None, timeout=30_000)
    assert pane.report.stats == report.stats
    assert not messages


def test_scan_can_be_cancelled_and_bad_folders_are_reported(qtbot, pane, tmp_path):
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.folder.setText(str(tmp_path / "missing"))
    pane.start_scan()
    assert messages and "is not a folder" in messages[-1]

    folder = make_mixed_folder(tmp_path / "mixed")
    pane.folder.setText(str(folder))
    pane.start_scan()
    pane.progress.cancel()
    qtbot.waitUntil(lambda: pane.scan_button.isEnabled(), timeout=60_000)
    assert "cancelled" in pane.status.text() and pane.report is None
