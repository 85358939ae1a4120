"""Dataset pane: scan a folder, show the distribution, examples and skipped files, reopen from the cache."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core.atlas import BuildSettings, build_atlas
from circuitloupe.core.dataset import ScanSettings, open_dataset
from circuitloupe.ui.panes.dataset import TABS, DatasetPane
from circuitloupe.ui.state import AppState
from cli_reproduces import assert_cli_reproduces
from image_folders import BAD, GOOD, make_mixed_folder, make_plain_folder

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


def test_quilt_with_attributions_is_what_its_cli_command_writes(qtbot, pane, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 5)
    pane.set_folder(folder)
    pane.k.setValue(4)
    pane.attributions.setChecked(True)
    pane.start_scan()
    qtbot.waitUntil(lambda: pane.report is not None and pane.scan_button.isEnabled(), timeout=90_000)
    pane.tabs.setCurrentIndex(TABS.index("Quilt"))
    assert pane.result.request.view == "quilt" and pane.result.request.attributions
    assert all(e.attribution is not None for _, _, row in pane.report.quilt for e in row)
    argv = assert_cli_reproduces(pane, tmp_path, volatile=("scanned", "reused", "seconds"))
    assert argv[1:3] == ["scan", "mixed3a:81"] and "--attributions" in argv
    assert argv[argv.index("--view") + 1] == "quilt"
    assert argv[argv.index("--top") + 1] == "4"


def test_open_atlas_shows_the_units_summary_without_a_scan(qtbot, pane, tmp_path):
    model = pane.state.model
    folder = make_plain_folder(tmp_path / "plain", 6)
    build_atlas(model, folder, tmp_path / "atlas", BuildSettings(layers=("mixed3a",), size=64, batch_size=4,
                                                                  calibration=4, reservoir=32))
    pane.set_folder(folder)
    qtbot.waitUntil(lambda: "No scan of this folder" in pane.status.text(), timeout=30_000)
    pane.state.open_atlas(tmp_path / "atlas")
    qtbot.waitUntil(lambda: pane.result is not None, timeout=30_000)
    assert "from the atlas" in pane.status.text() and pane.report is None and pane.last_scan is None
    assert open_dataset(model, "mixed3a:81", folder, ScanSettings(size=(64, 64))) is None  # nothing was scanned
    argv = assert_cli_reproduces(pane, tmp_path)  # the atlas query's statistics, histogram, top and bottom
    assert argv[1:5] == ["atlas", "query", str(tmp_path / "atlas"), "mixed3a:81"]
    stats = json.loads((tmp_path / "cli.json").read_text())["statistics"]
    assert stats["count"] == 6 * 64 and f"mean {stats['mean']:.4g}" in pane.stats_label.text()
    assert len(pane.hist_plot.getPlotItem().listDataItems()) >= 2 and pane.examples.image is not None
