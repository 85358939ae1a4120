"""Feature visualisation pane: run with live previews, cancel, cache reuse, gallery and export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from circuitloupe.ui.panes.featurevis import DIRECTION, EXPORT_SELECTED, FeatureVisPane
from circuitloupe.ui.widgets.export import export_pane
from open_pane import open_pane


@pytest.fixture
def pane(qtbot, inception):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with open_pane(qtbot, FeatureVisPane, inception, (900, 640)) as pane:
        yield pane
        pane.cancel()
    torch.set_num_threads(before)


def typed(pane, units: str, steps: int, size: int) -> None:
    pane.source.setCurrentIndex(pane.source.findData("typed"))
    pane.units_edit.setText(units)
    pane.steps.setValue(steps)
    pane.size.setValue(size)


def test_run_shows_live_previews_then_results_and_exports(qtbot, pane, tmp_path):
    typed(pane, "mixed3a:1,2 conv2d2:7", steps=16, size=48)
    assert pane.cli_command() is None  # nothing rendered yet
    pane.run_button.click()
    assert not pane.run_button.isEnabled()
    qtbot.waitUntil(lambda: pane.job is None, timeout=60_000)
    assert pane.preview_count >= 2  # previews every 4 steps: the images updated live
    assert [str(v.unit) for v in pane.results] == ["mixed3a:1", "mixed3a:2", "conv2d2:7"]
    assert pane.live.count() == 3 and pane.run_button.isEnabled()
    assert "objective mixed3a:1" in pane.info.text() and "steps/s" in pane.info.text()
    assert pane.cli_command().startswith("circuitloupe featvis mixed3a:1 mixed3a:2 conv2d2:7 --steps 16 --size 48 "
                                         "--model inceptionv1 --weights random:0")
    assert pane.grab().save(str(tmp_path / "featurevis_pane.png"))

    grid_path, single_path = tmp_path / "grid.png", tmp_path / "single.png"
    assert export_pane(pane, grid_path, 1.0)
    assert Image.open(grid_path).size[0] >= 2 * 96
    pane.export_mode.setCurrentIndex(pane.export_mode.findData(EXPORT_SELECTED))
    pane.live.itemClicked.emit(pane.live.item(1))
    assert export_pane(pane, single_path, 2.0)
    assert Image.open(single_path).size == (96, 96)


def test_cancel_stops_the_run_and_keeps_the_preview(qtbot, pane):
    typed(pane, "mixed3a:3", steps=4000, size=48)
    pane.run()
    qtbot.waitUntil(lambda: pane.preview_count >= 1, timeout=60_000)
    with qtbot.waitSignal(pane.job.sigCancelled, timeout=30_000):
        pane.progress.cancel_button.click()
    assert pane.job is None and pane.run_button.isEnabled()
    assert pane.info.text().startswith("cancelled") and pane.live.count() == 1
    assert pane.progress.rate.text() == "cancelled"


def test_current_unit_follows_state_and_comes_back_from_the_cache(qtbot, pane):
    pane.source.setCurrentIndex(pane.source.findData("current"))
    pane.steps.setValue(8)
    pane.size.setValue(32)
    pane.state.set_unit("mixed3a:4")
    assert pane.units_edit.text() == "mixed3a:4"
    pane.run()
    qtbot.waitUntil(lambda: pane.job is None and pane.gallery.count() == 1, timeout=60_000)
    pane.state.set_unit("mixed3a:5")
    qtbot.waitUntil(lambda: "nothing cached" in pane.gallery_label.text(), timeout=30_000)
    pane.live.clear()
    pane.results = []
    pane.state.set_unit("mixed3a:4")  # rendered before: shown from the disk cache without running
    qtbot.waitUntil(lambda: pane.live.count() == 1, timeout=30_000)
    assert pane.info.text() == "mixed3a:4: from the cache" and pane.gallery.count() == 1
    families = [pane.source.itemData(i) for i in range(pane.source.count())]
    assert "curve detectors (mixed3b)" in families


def test_a_single_unit_export_carries_its_label(qtbot, pane, tmp_path):
    import numpy as np

    typed(pane, "mixed3a:5", steps=8, size=48)
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.job is None, timeout=60_000)
    assert export_pane(pane, tmp_path / "one.png", 1.0)
    image = np.asarray(Image.open(tmp_path / "one.png").convert("L"))
    assert image.shape[0] > 96 and image.shape[1] >= 96  # the tile plus its label row, not the bare 48 px image
    label_row = image[96 + 4:]  # the unit's name is printed under the tile
    assert (label_row < 128).any()


def test_copy_as_cli_writes_the_exported_grid_and_numbers(qtbot, pane, tmp_path):
    from cli_reproduces import assert_cli_reproduces

    typed(pane, "mixed3a:1 conv2d2:7", steps=8, size=32)  # and every other option not at its default
    pane.seed.setValue(3)
    pane.diversity.setValue(2)
    pane.objective.setCurrentText("neuron")
    pane.param.setCurrentText("pixel")
    pane.transforms.setChecked(False)
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.job is None, timeout=60_000)
    assert not any(vis.cached for vis in pane.results)
    # The cache keeps 8-bit images, and the CLI reads them back: the activations measured on them
    # differ from those of the float images just rendered. Run again, from the cache, as the CLI will.
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.job is None, timeout=60_000)
    assert all(vis.cached for vis in pane.results)
    # Same PNG bytes and numbers; only the run's duration and the CLI's file names differ.
    argv = assert_cli_reproduces(pane, tmp_path, volatile=("seconds", "file"))
    assert argv[1:4] == ["featvis", "mixed3a:1", "conv2d2:7"]
    for option in ("--seed", "--diversity", "--objective", "--param", "--no-transforms"):
        assert option in argv


def test_a_direction_file_renders_as_featvis_direction_does(qtbot, pane, tmp_path):
    from cli_reproduces import assert_cli_reproduces

    vector = tmp_path / "dir.npy"
    np.save(vector, np.linspace(-1, 1, pane.state.model.catalogue.layer("mixed3a").channels).astype(np.float32))
    pane.set_direction(str(vector), "mixed3a")
    pane.source.setCurrentIndex(pane.source.findData(DIRECTION))  # no dialog: the file is chosen
    pane.steps.setValue(8)
    pane.size.setValue(32)
    pane.seed.setValue(2)
    pane.diversity.setValue(2)  # two images: the grid the CLI writes (a single one is labelled only here)
    pane.run_button.click()
    qtbot.waitUntil(lambda: pane.job is None, timeout=60_000)
    assert pane.result is not None and pane.result.request.direction == str(vector), pane.info.text()
    argv = assert_cli_reproduces(pane, tmp_path, volatile=("seconds", "file"))  # not cached: rendered alike
    assert argv[1:3] == ["featvis", "mixed3a"] and "--direction" in argv
    saved = pane.project_state()
    assert saved["source"] == DIRECTION and saved["direction"] == str(vector)


def test_a_direction_without_a_file_is_one_message(qtbot, pane):
    pane.source.blockSignals(True)  # choosing the source would open the file dialog
    pane.source.setCurrentIndex(pane.source.findData(DIRECTION))
    pane.source.blockSignals(False)
    pane.run_button.click()
    assert pane.job is None and "direction file" in pane.info.text()
