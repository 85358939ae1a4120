"""An atlas opened in the app: the browser's unit card shows its statistics and top examples."""

from __future__ import annotations

from circuitloupe.core.atlas import BuildSettings, build_atlas
from circuitloupe.core.units import UnitRef
from circuitloupe.ui.panes.browser import BrowserPane
from circuitloupe.ui.state import AppState
from image_folders import make_plain_folder


def test_unit_card_shows_the_open_atlas(qtbot, service, inception, tmp_path):
    images = make_plain_folder(tmp_path / "images", 4, size=40)
    build_atlas(inception, images, tmp_path / "atlas", BuildSettings(layers=("mixed3b",), size=64, batch_size=4, top=3))
    state = AppState()
    pane = BrowserPane(service, state)
    pane.auto_render.setChecked(False)
    qtbot.addWidget(pane)
    state.set_model(inception)
    with qtbot.waitSignal(state.sigAtlasChanged):
        atlas = state.open_atlas(tmp_path / "atlas")
    state.set_unit("mixed3b:379")
    qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == UnitRef("mixed3b", 379)
                    and pane.card.atlas is not None, timeout=60_000)
    top = atlas.unit("mixed3b:379").top
    assert [value for _, value in pane.card.examples] == [e.value for e in top] and len(top) == 3
    assert f"max {top[0].value:.3g}" in pane.unit_card.title.text()
    state.set_unit("mixed3a:5")  # a layer the atlas lacks: examples come from the scan cache (none here)
    qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == UnitRef("mixed3a", 5), timeout=60_000)
    assert pane.card.atlas is None and "atlas:" not in pane.unit_card.title.text()
