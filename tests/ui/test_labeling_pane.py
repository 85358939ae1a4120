"""Labeling pane driven by keystrokes: answer, skip, undo, move, reveal, break reminder, results."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from circuitloupe.core import dataset as ds
from circuitloupe.core import labeling as lb
from circuitloupe.ui.panes.labeling import LabelingPane
from circuitloupe.ui.state import AppState
from image_folders import make_plain_folder

UNIT = "mixed3a:81"
SETTINGS = ds.ScanSettings(size=(64, 64), batch_size=8)
SCREENSHOT = "/tmp/labeling_pane.png"


@pytest.fixture
def session_file(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 4)
    cache = ds.scan(inception, UNIT, folder, SETTINGS).cache
    path = tmp_path / "study.labels"
    lb.create_session(path, inception, UNIT, cache, lb.SamplingPlan(0.25, 4, seed=3), weights="random:0").close()
    return path


@pytest.fixture
def pane(qtbot, service, inception, session_file):
    state = AppState()
    pane = LabelingPane(service, state)
    qtbot.addWidget(pane)
    pane.resize(1100, 720)
    pane.show()
    pane.render_reference.setChecked(False)  # no feature visualisation renders unless a test asks
    state.set_model(inception)
    pane.messages = []
    state.sigMessage.connect(pane.messages.append)
    pane.open_session(session_file)
    qtbot.waitUntil(lambda: pane.current_crop is not None, timeout=30_000)
    return pane


def key(qtbot, pane, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(pane, k, modifier)
    if pane.index is not None:
        qtbot.waitUntil(lambda: pane.current_crop is not None, timeout=30_000)


def test_keyboard_labelling_writes_every_answer(qtbot, pane, session_file):
    items = pane.session.items
    assert pane.index == 0 and pane.current_crop.shape == (59, 59, 3)
    assert "item 1 of" in pane.caption.text() and "not answered" in pane.caption.text()
    assert len(pane.label_buttons) == 4 and pane.label_buttons[0].text() == "1  curve"
    key(qtbot, pane, "1")
    key(qtbot, pane, "3")
    key(qtbot, pane, "s")
    assert pane.index == 3
    key(qtbot, pane, Qt.Key.Key_Backspace)  # undo the skip
    assert pane.index == 2
    key(qtbot, pane, "2")
    key(qtbot, pane, "z", Qt.KeyboardModifier.ControlModifier)  # undo again
    assert pane.index == 2 and "not answered" in pane.caption.text()
    key(qtbot, pane, "4")
    key(qtbot, pane, Qt.Key.Key_Left)
    assert pane.index == 2 and "your answer: opposing curve" in pane.caption.text()
    key(qtbot, pane, Qt.Key.Key_Right)
    key(qtbot, pane, "r")  # item 3 has no answer: stays hidden
    assert "Answer first" in pane.messages[-1] and "activation" not in pane.reveal_text.text()
    with lb.LabelSession(session_file) as fresh:
        answers = fresh.answers()
        assert {items.index(fresh.items[i - 1]): a.label for i, a in answers.items()} == {
            0: "curve", 1: "unrelated", 2: "opposing curve"}
        assert all(a.seconds >= 0 for a in answers.values())
    assert pane.progress_text.text().startswith("3 labelled · 0 skipped")
    assert pane.progress_bar.value() == 3


def test_reveal_break_reminder_and_results(qtbot, pane):
    pane.break_every.setValue(2)
    pane.reveal_after.setChecked(True)
    key(qtbot, pane, "1")
    assert "activation" in pane.reveal_text.text() and str(round(pane.session.items[0].value, 2))[:4] in \
        pane.reveal_text.text()
    qtbot.waitUntil(lambda: not pane.reveal_image.pixmap().isNull(), timeout=30_000)
    assert pane.breaker.isHidden()
    key(qtbot, pane, "2")
    assert not pane.breaker.isHidden() and "2 answers since the last break" in pane.breaker_text.text()
    key(qtbot, pane, "3")  # keys keep working while the reminder shows
    pane.grab().save(SCREENSHOT)
    pane.tabs.setCurrentIndex(1)
    pane.grab().save(SCREENSHOT.replace("pane", "results"))
    view = pane.results_view
    assert "3 labelled" in view.headline.text() and "curve + imperfect curve: no share yet" in view.headline.text()
    assert not view.warnings.isHidden() and "fewer than 5 labelled items" in view.warnings.text()
    fills = [i for i in pane.results_view.proportion_plot.getPlotItem().items if type(i).__name__ == "FillBetweenItem"]
    assert len(fills) == 4  # one band per label
    assert pane.figure(0.5).height > 300
    assert pane.cli_command().startswith("circuitloupe label stats ") and "--labeller me" in pane.cli_command()


def test_resume_second_labeller_agreement_and_label_edits(qtbot, pane, session_file):
    with lb.LabelSession(session_file) as other:
        for n, item in enumerate(other.items[:5]):
            other.answer(item.id, other.label_set.names[n % 2], labeller="bob")
            other.answer(item.id, other.label_set.names[n % 2] if n else "unrelated", labeller="me")
    pane.open_session(session_file)  # resumes at the first item without an answer of mine
    assert pane.index == 5
    pane.labeller.setText("bob")
    pane.labeller.editingFinished.emit()
    assert pane.index == 5 and pane.progress_text.text().startswith("5 labelled")
    pane.tabs.setCurrentIndex(1)
    assert pane.results_view.agreement.rowCount() == 5 and pane.results_view.agreement.item(0, 0).text() == "80.0"
    assert pane.results_view.agreement.horizontalHeaderItem(0).text() == "bob / me %"
    pane.apply_label_text("*curve: c\n*imperfect curve: i\nno curve: none\nopposing curve: o")
    assert pane.session.answers("me")[pane.session.items[0].id].label == "no curve"
    assert pane.label_buttons[2].text() == "3  no curve"
    pane.apply_label_text("curve: only one")  # would drop labels that have answers
    assert "have answers" in pane.messages[-1] and len(pane.session.label_set.names) == 4


def test_new_session_from_a_folder(qtbot, pane, tmp_path):
    folder = make_plain_folder(tmp_path / "more", 3, seed=7)
    pane.create_session(str(tmp_path / "fresh.labels"), UNIT, str(folder), lb.SamplingPlan(0.5, 2, seed=1),
                        lb.PRESENCE_LABELS, SETTINGS)
    qtbot.waitUntil(lambda: pane.session.path.name == "fresh.labels", timeout=60_000)
    assert pane.session.label_set.names == ["present", "partial", "absent"] and pane.index == 0
    pane.create_session(str(tmp_path / "fresh.labels"), UNIT, str(folder), lb.SamplingPlan(), lb.CURVE_LABELS,
                        SETTINGS)
    assert "already exists" in pane.messages[-1]


def test_reference_defaults_to_the_units_feature_visualisation(qtbot, pane, session_file, tmp_path, monkeypatch):
    from PIL import Image

    from circuitloupe.core.featurevis import cache
    from circuitloupe.core.labeling import reference
    from circuitloupe.core.models import load_model

    assert pane.reference_pixels is None and "No feature visualisation of mixed3a:81" in pane.reference.text()
    monkeypatch.setattr(reference, "REFERENCE_SIZE", 32)
    monkeypatch.setattr(reference, "REFERENCE_STEPS", 2)
    pane.render_reference.setChecked(True)  # nothing cached: rendered by a job, then cached
    qtbot.waitUntil(lambda: pane.reference_pixels is not None, timeout=60_000)
    assert pane.reference_pixels.shape == (32, 32, 3) and "Feature visualisation of mixed3a:81" in \
        pane.reference.toolTip()
    cached = cache.thumbnail(pane.state.model, UNIT)
    assert cached is not None
    red = tmp_path / "red.png"
    Image.new("RGB", (20, 20), (255, 0, 0)).save(red)
    pane.set_reference_file(str(red))  # the user's file overrides, and is kept in the session
    assert np.allclose(pane.reference_pixels[..., 0], 1.0) and "red.png" in pane.reference.toolTip()
    with lb.LabelSession(session_file) as fresh:
        assert fresh.reference == str(red)
    pane.use_featurevis_reference()  # back to the visualisation, at once from the cache
    assert np.array_equal(pane.reference_pixels, cached)
    pane.set_reference_file(str(tmp_path / "gone.png"))  # unreadable file: a message, the default stays
    assert "gone.png" in pane.messages[-1] and np.array_equal(pane.reference_pixels, cached)
    pane.state.set_model(load_model("bundled"))
    assert pane.reference_pixels is None and "Load inceptionv1" in pane.reference.text()
