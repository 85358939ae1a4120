"""A damaged activation cache in the app: the Dataset pane's scan repairs it and the Log pane says so."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from circuitloupe.ui.panes.dataset import DatasetPane
from circuitloupe.ui.panes.log import LogPane
from circuitloupe.ui.state import AppState
from image_folders import make_plain_folder

SCREENSHOT = "/tmp/dataset_damage_log.png"


def test_a_rescan_of_a_damaged_cache_is_reported_in_the_log_pane(qtbot, service, inception, tmp_path):
    state = AppState()
    pane, log = DatasetPane(service, state), LogPane(service, state)
    for widget in (pane, log):
        qtbot.addWidget(widget)
        widget.show()
    log.resize(1000, 200)
    state.set_model(inception)
    state.set_unit("mixed3a:81")
    pane.size.setValue(64)
    pane.workers.setValue(0)
    folder = make_plain_folder(tmp_path / "plain", 4)
    pane.set_folder(folder)
    pane.start_scan()
    qtbot.waitUntil(lambda: pane.report is not None and pane.scan_button.isEnabled(), timeout=90_000)
    stats = pane.report.stats
    cache = next(Path(os.environ["CIRCUITLOUPE_DATA_DIR"]).rglob("seg1.pre.npy"))
    pre = np.load(cache, mmap_mode="r+")
    pre[1] = 0
    pre.flush()
    del pre

    pane.start_scan()
    qtbot.waitUntil(lambda: any("did not match their checksums" in line for line in log.lines()), timeout=90_000)
    qtbot.waitUntil(lambda: pane.scan_button.isEnabled() and pane.report is not None, timeout=90_000)
    assert pane.report.stats["mean"] == pytest.approx(stats["mean"], abs=1e-5)
    assert [line for line in log.lines() if "WARNING" in line][0].count("\n") == 0
    log.grab().save(SCREENSHOT)
