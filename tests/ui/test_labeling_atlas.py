"""The Labeling pane's New session can sample from the app's open atlas instead of scanning."""

from __future__ import annotations

from circuitloupe.core.atlas import BuildSettings, build_atlas
from circuitloupe.core.dataset import ScanSettings, open_dataset
from circuitloupe.core.labeling import BUILTIN, SamplingPlan
from circuitloupe.ui.panes.labeling import LabelingPane
from circuitloupe.ui.panes.labeling_widgets import NewSessionDialog
from circuitloupe.ui.state import AppState
from image_folders import make_plain_folder

UNIT = "mixed3a:81"


def test_new_session_from_the_open_atlas_takes_the_atlas_sample(qtbot, service, inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 4)
    build_atlas(inception, folder, tmp_path / "atlas", BuildSettings(layers=("mixed3a",), size=64, batch_size=4,
                                                                      calibration=4, reservoir=40))
    state = AppState()
    pane = LabelingPane(service, state)
    qtbot.addWidget(pane)
    pane.render_reference.setChecked(False)
    state.set_model(inception)
    atlas = state.open_atlas(tmp_path / "atlas")
    dialog = NewSessionDialog(UNIT, str(folder), pane, atlas=str(atlas.folder))
    qtbot.addWidget(dialog)
    assert dialog.atlas() == str(atlas.folder)  # offered first when the app has an atlas open
    dialog.source.setCurrentIndex(0)
    assert dialog.atlas() is None and NewSessionDialog(UNIT, str(folder), pane).atlas() is None

    pane.create_session(str(tmp_path / "s.labels"), UNIT, "", SamplingPlan(per_bin=2), BUILTIN["curve"],
                        ScanSettings(), atlas=str(atlas.folder))
    qtbot.waitUntil(lambda: pane.session is not None, timeout=60_000)
    sample = {(e.file, e.y, e.x) for e in atlas.unit(UNIT).sample}
    assert pane.session.items and all((i.relpath, i.y, i.x) in sample for i in pane.session.items)
    assert open_dataset(inception, UNIT, folder, ScanSettings(size=(64, 64))) is None  # no scan ran
