"""Browser pane: layer tree, virtualised unit grid, keyboard, favourites, notes, families, card."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.units import UnitRef
from circuitloupe.ui.panes.browser import BrowserPane
from circuitloupe.ui.state import AppState


def open_browser(qtbot, service, inception, render=False) -> BrowserPane:
    state = AppState()
    pane = BrowserPane(service, state)
    pane.auto_render.setChecked(render)
    qtbot.addWidget(pane)
    pane.resize(1100, 620)
    pane.show()
    state.set_model(inception)
    return pane


def tree_entries(pane) -> dict[str, object]:
    found, stack = {}, [pane.tree.topLevelItem(i) for i in range(pane.tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        found[item.text(0)] = item
        stack.extend(item.child(i) for i in range(item.childCount()))
    return found


def test_lists_all_480_mixed3b_units_and_filters_by_id(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    entries = tree_entries(pane)
    assert "mixed3b  (480)" in entries and "mixed3b_5x5  (96)" in entries
    assert entries["mixed3b_5x5  (96)"].parent() is entries["mixed3b  (480)"]  # branches under their block
    pane.tree.setCurrentItem(entries["mixed3b  (480)"])
    assert pane.grid.units.rowCount() == 480 and pane.grid.proxy.rowCount() == 480
    assert [u.channel for u in pane.grid.units.units] == list(range(480))
    assert pane.state.unit.layer == "mixed3b"  # the current unit (mixed3b:379 for a new session) stays
    pane.filter.setText("379")
    assert pane.grid.proxy.rowCount() == 1
    pane.filter.setText("300-309")
    assert pane.grid.proxy.rowCount() == 10 and pane.count_label.text() == "10 of 480 units"
    pane.filter.clear()
    assert len(pane.grid.visible_units()) < 480  # virtualised: only a screenful is on screen


def test_family_presets_resolve_to_valid_units(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    presets = [e for name, e in tree_entries(pane).items() if e.parent() is not None
               and e.parent().text(0).startswith("Family presets")]
    assert len(presets) == len(inception.families) > 10
    for item in presets:
        kind, (name, units) = item.data(0, Qt.ItemDataRole.UserRole)
        pane.tree.setCurrentItem(item)
        assert pane.grid.units.units == [inception.catalogue.unit(u) for u in inception.families[name]]
    assert pane.grid.units.data(pane.grid.units.index(0)) == str(pane.grid.units.units[0])  # shows layer too


def test_keyboard_moves_activates_and_stars(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3b:379")
    assert pane.grid.current_unit() == UnitRef("mixed3b", 379)
    pane.grid.setFocus()
    qtbot.keyClick(pane.grid, Qt.Key.Key_Right)
    assert pane.state.unit == UnitRef("mixed3b", 380)
    with qtbot.waitSignal(pane.state.sigUnitActivated) as activated:
        qtbot.keyClick(pane.grid, Qt.Key.Key_Return)
    assert activated.args == [UnitRef("mixed3b", 380)]
    qtbot.keyClick(pane.grid, Qt.Key.Key_F)
    assert pane.store.is_favourite("mixed3b:380")
    pane.only_favourites.setChecked(True)
    assert pane.grid.proxy.rowCount() == 1


def test_notes_and_favourites_survive_an_app_restart(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3b:379")
    pane.unit_card.note.setPlainText("curve detector, opening left")
    qtbot.waitUntil(lambda: pane.store.note("mixed3b:379") == "curve detector, opening left", timeout=5000)
    pane.unit_card.tags.setText("curve, 3b")
    pane.unit_card.tags.editingFinished.emit()
    pane.toggle_favourite(UnitRef("mixed3b", 379))
    pane.save_family("picked")  # the whole of mixed3b
    pane.close()

    again = open_browser(qtbot, service, inception)  # a new pane, state and store: as after a restart
    assert AnnotationStore.for_model(inception).favourites() == [UnitRef("mixed3b", 379)]
    again.state.set_unit("mixed3b:379")
    assert again.unit_card.note.toPlainText() == "curve detector, opening left"
    assert again.unit_card.tags.text() == "3b, curve" and again.unit_card.favourite.isChecked()
    entries = tree_entries(again)
    assert "★ Favourites (1)" in entries and "picked (480)" in entries and "curve" in entries
    again.filter.setText("opening")
    assert again.grid.proxy.rowCount() == 1


def test_families_saved_by_other_writers_appear_and_survive_the_browsers_writes(qtbot, service, inception):
    from circuitloupe.core import equivariance

    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3b:379")
    AnnotationStore.for_model(inception).save_family("curves mixed3b", "mixed3b:379,385")  # as find-curves
    qtbot.waitUntil(lambda: "curves mixed3b (2)" in tree_entries(pane), timeout=10_000)  # the folder is watched
    pane.toggle_favourite(UnitRef("mixed3b", 379))
    pane.unit_card.note.setPlainText("curve")
    equivariance.save_family(inception, "rotated", ["mixed3a:1", "mixed3a:2"])  # as the equivariance pane
    qtbot.waitUntil(lambda: "rotated (2)" in tree_entries(pane), timeout=10_000)
    qtbot.waitUntil(lambda: AnnotationStore.for_model(inception).note("mixed3b:379") == "curve", timeout=5000)

    on_disk = AnnotationStore.for_model(inception)
    assert list(on_disk.families()) == ["curves mixed3b", "rotated"]
    assert on_disk.favourites() == [UnitRef("mixed3b", 379)]
    on_disk.delete_family("rotated")  # a change while the pane is hidden shows when it is shown again
    pane.hide()
    pane._watcher.blockSignals(True)
    pane.show()
    assert "rotated (2)" not in tree_entries(pane) and "curves mixed3b (2)" in tree_entries(pane)


def test_unit_card_ranks_inputs_and_outputs(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3b:379")
    qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == UnitRef("mixed3b", 379), timeout=60_000)
    card = pane.unit_card
    assert card.inputs_layer.currentText() == "mixed3a" and card.outputs_layer.currentText() == "mixed4a"
    inputs = pane.card.ranked("inputs")
    assert len(inputs) == 6 and pane.unit_card.inputs.count() == 6
    assert [n for _, n in inputs] == sorted((n for _, n in inputs), reverse=True)
    assert all(u.layer == "mixed4a" for u, _ in pane.card.ranked("outputs"))
    pane.unit_card.inputs.itemDoubleClicked.emit(pane.unit_card.inputs.item(0))
    assert pane.state.unit == inputs[0][0]


def test_cached_feature_visualisations_fill_the_grid(qtbot, service, inception, tmp_path):
    from circuitloupe.core.featurevis import cache

    tile = np.zeros((64, 64, 3), np.float32)
    tile[:, :32] = [1.0, 0.2, 0.1]
    cache.store(inception, "mixed3a:5", tile, cache.Settings(size=64, steps=64))
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3a:0")
    qtbot.waitUntil(lambda: UnitRef("mixed3a", 5) in pane.grid.units.thumbnails, timeout=30_000)
    figure = pane.figure(1.0)
    assert figure is not None and figure.width == 16 * 68 + 4
    red = np.asarray(figure)[28:28 + 64, 4 + 5 * 68:4 + 5 * 68 + 64]
    assert red[:, :30].mean(axis=(0, 1))[0] > 240  # tile 5 shows the cached image
    assert pane.grab().save(str(tmp_path / "browser.png"))


def test_a_click_stops_a_running_thumbnail_render(qtbot, service, inception, monkeypatch):
    """Rendering never keeps the worker from a user's job: the batch pauses and resumes after it."""
    import threading

    from circuitloupe.core import weights
    from circuitloupe.core.jobs import check_stop

    started = threading.Event()
    renders = []

    def endless_render(model, units, size, steps, progress=None, should_stop=None):
        renders.append(list(units))
        started.set()
        while True:
            check_stop(should_stop)
            threading.Event().wait(0.01)

    monkeypatch.setattr(weights, "render_missing_thumbnails", endless_render)
    pane = open_browser(qtbot, service, inception, render=True)
    pane.state.set_unit("mixed3b:0")
    qtbot.waitUntil(started.is_set, timeout=30_000)
    first = len(renders)
    pane.state.set_unit("mixed3b:379")  # the unit card's job must not wait for the render
    qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == UnitRef("mixed3b", 379), timeout=30_000)
    qtbot.waitUntil(lambda: len(renders) > first, timeout=30_000)  # and the render resumed afterwards
    resumed, paused = renders[-1], renders[first - 1]
    # the same units again, in a smaller batch (halved at each pause, so renders land between clicks)
    assert resumed == paused[:len(resumed)] and 0 < len(resumed) < len(paused)
    assert pane._thumb_job.paused >= 1
    pane.auto_render.setChecked(False)
    qtbot.waitUntil(lambda: pane._thumb_job is None or pane._thumb_job.done, timeout=30_000)


def test_unit_card_shows_top_examples_once_a_scan_ends(qtbot, service, inception, tmp_path):
    from circuitloupe.ui.panes.dataset import DatasetPane
    from image_folders import make_mixed_folder

    pane = open_browser(qtbot, service, inception)
    dataset = DatasetPane(service, pane.state)
    qtbot.addWidget(dataset)
    dataset.size.setValue(64)
    dataset.workers.setValue(0)
    pane.state.set_unit("mixed3a:81")
    qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == UnitRef("mixed3a", 81), timeout=60_000)
    assert pane.card.examples is None and pane.unit_card.examples.text().startswith("Scan a dataset")
    dataset.set_folder(make_mixed_folder(tmp_path / "mixed"))
    dataset.start_scan()
    qtbot.waitUntil(lambda: bool(pane.card.examples), timeout=90_000)  # the card follows the new data
    assert not pane.unit_card.examples.pixmap().isNull() and pane.unit_card.examples.pixmap().width() > 64


def test_grid_scrolls_to_the_current_unit(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    for unit in ("mixed3b:379", "mixed4a:300", "mixed4a:2"):
        pane.state.set_unit(unit)
        qtbot.waitUntil(lambda unit=unit: UnitRef.parse(unit) in pane.grid.visible_units(), timeout=2_000)


def test_card_offers_to_render_a_unit_without_feature_vis(qtbot, service, inception, monkeypatch):
    from circuitloupe.core import weights

    rendered = []

    def render(model, units, size, steps, progress=None, should_stop=None):
        rendered.append(list(units))
        return {unit: np.full((size, size, 3), 0.5, np.float32) for unit in units}

    monkeypatch.setattr(weights, "render_missing_thumbnails", render)
    pane = open_browser(qtbot, service, inception)  # background rendering off: nothing renders by itself
    pane.state.set_unit("mixed4a:7")
    assert pane.unit_card.render_button.isVisible() and pane.unit_card.render_button.isEnabled()
    pane.unit_card.render_button.click()
    qtbot.waitUntil(lambda: UnitRef("mixed4a", 7) in pane.grid.units.thumbnails, timeout=30_000)
    assert rendered == [[UnitRef("mixed4a", 7)]]
    assert not pane.unit_card.render_button.isVisible()  # the card shows the picture now


def test_thumbnails_keep_rendering_while_the_user_clicks(qtbot, service, inception, monkeypatch):
    """Each click stops the background render for the card; rendering continues where it stopped
    (the bar does not fall back to 0 %) and thumbnails still land between clicks."""
    import time

    from circuitloupe.core import weights
    from circuitloupe.core.jobs import check_stop

    work = [0]  # unit-steps rendered: the test's clock, so machine load does not matter

    def render(model, units, size, steps, progress=None, should_stop=None):
        for step in range(steps):
            check_stop(should_stop)
            work[0] += len(units)
            time.sleep(0.002 * len(units))
            if progress is not None:
                progress(step + 1, steps)
        return {unit: np.full((size, size, 3), 0.5, np.float32) for unit in units}

    monkeypatch.setattr(weights, "render_missing_thumbnails", render)
    pane = open_browser(qtbot, service, inception, render=True)
    pane.state.set_unit("mixed3b:0")
    bars = []
    for channel in range(1, 13):  # a click 80 unit-steps after each card: one unit's render (64) fits, 8 (512) do not
        qtbot.waitUntil(lambda: pane.card is not None and pane.card.unit == pane.state.unit, timeout=30_000)
        start = work[0]
        qtbot.waitUntil(lambda start=start: work[0] - start >= 80, timeout=30_000)
        bars.append(pane.progress.bar.value())
        pane.state.set_unit(f"mixed3b:{channel}")
    assert len(pane.grid.units.thumbnails) >= 3  # (none ever landed when each click restarted the batch)
    assert bars[-1] >= 2 and all(b >= a for a, b in zip(bars, bars[1:]) if a >= 0)


def test_card_results_export_and_copy_as_cli_reproduce_them(qtbot, service, inception, tmp_path):
    from cli_reproduces import assert_cli_reproduces

    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3b:379")
    assert pane.cli_command() is None  # the unit grid (the default export): no command draws it
    card = pane.unit_card
    for combo, layer in ((card.inputs_layer, "mixed3a_3x3"), (card.outputs_layer, "mixed4a_3x3")):  # not the defaults
        combo.setCurrentText(layer)
        combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: pane.card is not None and not isinstance(pane.card.outputs, str)
                    and pane.card.outputs.layer == "mixed4a_3x3", timeout=60_000)
    for name in ("inputs", "outputs"):
        (tmp_path / name).mkdir()
    pane.export_choice.setCurrentIndex(pane.export_choice.findData("inputs"))
    argv = assert_cli_reproduces(pane, tmp_path / "inputs")
    assert argv[1:5] == ["expanded", "mixed3a_3x3", "mixed3b:379", "--top"]
    pane.export_choice.setCurrentIndex(pane.export_choice.findData("outputs"))
    argv = assert_cli_reproduces(pane, tmp_path / "outputs")
    assert argv[1:3] == ["outputs", "mixed3b:379"] and "mixed4a_3x3" in argv


def test_card_scores_polysemanticity_as_the_cli_does(qtbot, service, inception, tmp_path):
    import json

    from circuitloupe import tasks
    from circuitloupe.cli import main
    from circuitloupe.tasks import PolysemanticityRequest

    # The diverse feature visualisations come from the shared cache once rendered (8-bit PNGs), for the
    # card and the CLI alike; render them first so both score the same images.
    tasks.run(tasks.TaskContext(inception), PolysemanticityRequest("mixed3a:7", steps=16))
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3a:7")
    card = pane.unit_card
    assert card.poly_score.text() == "" and not card.poly_examples.isEnabled()  # no folder scanned yet
    card.poly_steps.setValue(16)
    with qtbot.waitSignal(card.poly_button.clicked):
        card.poly_button.click()
    qtbot.waitUntil(lambda: UnitRef("mixed3a", 7) in card.polysemanticity, timeout=60_000)
    assert main(["polysemanticity", "mixed3a:7", "--model", "inceptionv1", "--weights", "random:0", "--steps", "16",
                 "--json", str(tmp_path / "p.json")]) == 0
    score = json.loads((tmp_path / "p.json").read_text())["score"]
    assert card.polysemanticity[UnitRef("mixed3a", 7)].scores.score == score
    assert f"polysemanticity {score:.2f}" in card.poly_score.text() and not card.poly_figure.pixmap().isNull()
    pane.state.set_unit("mixed3a:8")  # another unit: nothing scored for it yet
    assert card.poly_score.text() == "" and card.poly_figure.pixmap().isNull()


def test_polysemanticity_shows_its_progress_and_cancels(qtbot, service, inception):
    pane = open_browser(qtbot, service, inception)
    pane.state.set_unit("mixed3a:9")
    card = pane.unit_card
    card.poly_steps.setValue(10_000)
    job = card.score_polysemanticity()
    assert card.poly_score.text() == "scoring mixed3a:9…" and pane.progress.job is job
    with qtbot.waitSignal(job.sigProgress, timeout=60_000):
        pass
    with qtbot.waitSignal(job.sigCancelled, timeout=30_000):
        pane.progress.cancel_button.click()
    assert card.poly_score.text() == "" and UnitRef("mixed3a", 9) not in card.polysemanticity
