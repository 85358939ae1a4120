"""Labeling pane driven by keystrokes: answer, skip, undo, move, reveal, break reminder, results."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit, QVBoxLayout, QWidget

from circuitloupe.core import dataset as ds
from circuitloupe.core import labeling as lb
from circuitloupe.ui.panes.labeling import LabelingPane
from circuitloupe.ui.state import AppState
from cli_reproduces import assert_cli_reproduces
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


def test_reveal_break_reminder_and_results(qtbot, pane, tmp_path):
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
    low, high = pane.results.dataset.extent()  # the x axes follow the data, not the outer bins' edges
    pad = 0.02 * (high - low)
    assert view.density_plot.getViewBox().viewRange()[0] == pytest.approx([low - pad, high + pad])
    assert view.expected_plot.getViewBox().viewRange()[0] == pytest.approx([-0.02 * high, high + 0.02 * high])
    fills = [i for i in pane.results_view.proportion_plot.getPlotItem().items if type(i).__name__ == "FillBetweenItem"]
    assert len(fills) == 4  # one band per label
    assert pane.figure(0.5).height > 300
    assert pane.cli_command().startswith("circuitloupe label stats ")  # labeller "me" is the default
    assert_cli_reproduces(pane, tmp_path)  # the exported figure and numbers are label stats' own


def test_resume_second_labeller_agreement_and_label_edits(qtbot, pane, session_file, tmp_path):
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
    assert "--labeller bob" in " ".join(assert_cli_reproduces(pane, tmp_path))
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


def button(pane, text):
    return next(b for b in pane.findChildren(QAbstractButton) if b.text() == text)


def test_number_keys_work_after_a_click_anywhere_in_the_pane(qtbot, pane):
    window = QWidget()  # the pane beside another widget that had the focus, as in the main window
    qtbot.addWidget(window)
    elsewhere = QLineEdit()
    layout = QVBoxLayout(window)
    layout.addWidget(elsewhere)
    layout.addWidget(pane)
    window.resize(1100, 760)
    window.show()
    with qtbot.waitActive(window):
        window.activateWindow()

    def click_then_key(widget, key_text):
        elsewhere.setFocus()
        assert elsewhere.hasFocus()
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=widget.rect().center())
        qtbot.keyClick(QApplication.focusWidget(), key_text)
        qtbot.waitUntil(lambda: pane.current_crop is not None, timeout=30_000)

    click_then_key(button(pane, "Next →"), "1")  # item 2 (Next), then label 1
    click_then_key(pane.image, "2")
    click_then_key(pane.progress_bar, "s")
    with lb.LabelSession(pane.session.path) as other:
        other.answer(other.items[1].id, "curve", labeller="bob")
    pane.tabs.setCurrentIndex(1)  # the agreement table takes the focus: its cells are not for typing in
    qtbot.waitUntil(lambda: pane.results_view.agreement.isVisible())
    click_then_key(pane.results_view.agreement.viewport(), "4")
    assert elsewhere.text() == "" and pane.results_view.agreement.item(0, 0).text() == "100.0"
    answers = pane.session.answers()
    assert [answers[item.id].label for item in pane.session.items[1:5]] == ["curve", "imperfect curve", None,
                                                                            "opposing curve"]
    pane.setParent(None)  # the fixture's, not the window's, to delete


def test_a_chosen_label_is_confirmed_and_an_undone_one_leaves_the_screen(qtbot, pane):
    pane.reveal_after.setChecked(True)
    key(qtbot, pane, "2")
    assert "item 1: imperfect curve (saved)" in pane.confirm.text()
    assert "your answer: imperfect curve" in pane.reveal_text.text()
    key(qtbot, pane, Qt.Key.Key_Left)  # back on item 1: its label is the checked button
    assert [b.isChecked() for b in pane.label_buttons] == [False, True, False, False]
    key(qtbot, pane, Qt.Key.Key_Right)
    key(qtbot, pane, Qt.Key.Key_Backspace)  # undo: item 1 again, with no label chosen anywhere on screen
    assert pane.index == 0 and "not answered" in pane.caption.text()
    assert not any(b.isChecked() for b in pane.label_buttons)
    shown = " ".join(label.text() for label in (pane.caption, pane.confirm, pane.reveal_text))
    assert "imperfect curve" not in shown and "undid the answer to item 1" in pane.confirm.text()
    assert pane.reveal_image.pixmap().isNull()


def test_answers_export_to_csv_from_the_pane_as_label_export_writes_them(qtbot, pane, session_file, tmp_path,
                                                                         monkeypatch):
    from circuitloupe.cli import main
    from circuitloupe.ui.panes import labeling

    for k in "13s":
        key(qtbot, pane, k)
    with lb.LabelSession(session_file) as other:
        other.answer(other.items[5].id, "curve", labeller="bob")
    pane_csv, cli_csv = tmp_path / "pane.csv", tmp_path / "cli.csv"
    monkeypatch.setattr(labeling.QFileDialog, "getSaveFileName", lambda *args, **kw: (str(pane_csv), ""))
    qtbot.mouseClick(button(pane, "Export CSV…"), Qt.MouseButton.LeftButton)
    assert pane.messages[-1] == f"4 answers written to {pane_csv}"
    assert main(["label", "export", str(session_file), "--csv", str(cli_csv)]) == 0
    assert pane_csv.read_text() == cli_csv.read_text()
    pane.export_csv(pane_csv / "a.csv")  # under a file: a message, no traceback
    assert pane.messages[-1].startswith("Could not write")


def test_new_session_dialog_offers_the_folder_just_scanned(qtbot, pane, tmp_path, monkeypatch):
    from circuitloupe.ui.panes import labeling
    from circuitloupe.ui.panes.dataset import DatasetPane

    dataset = DatasetPane(pane.service, pane.state)
    qtbot.addWidget(dataset)
    pane.state.set_unit(UNIT)
    dataset.size.setValue(64)
    dataset.workers.setValue(0)
    folder = make_plain_folder(tmp_path / "photos", 2, seed=5)
    dataset.set_folder(folder)
    dataset.start_scan()
    qtbot.waitUntil(lambda: dataset.report is not None, timeout=60_000)
    shown = []
    monkeypatch.setattr(labeling.NewSessionDialog, "exec", lambda dialog: shown.append(dialog) or 0)
    pane.new_session_dialog()
    dialog = shown[0]
    assert dialog.folder.text() == str(folder) and dialog.name.text() == "mixed3a-81-photos"
    assert dialog.plan().bin_width is None and dialog.plan().bins == 20  # bins follow the data by default
    dialog.bin_width.setValue(100)
    assert dialog.plan().bin_width == 100 and not dialog.bins.isEnabled()


def test_every_button_is_wholly_visible_at_1366x768(qtbot, service, inception, session_file):
    from circuitloupe.ui.main_window import MainWindow

    window = MainWindow(service)
    qtbot.addWidget(window)
    window.state.set_model(inception)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    window.show_pane("labeling")
    pane = window.panes["labeling"]
    pane.render_reference.setChecked(False)
    pane.open_session(session_file)
    qtbot.waitUntil(lambda: pane.current_crop is not None, timeout=30_000)
    pane.answer(0)
    for tab in (1, 0):
        pane.tabs.setCurrentIndex(tab)
        QApplication.processEvents()
        buttons = [b for b in pane.findChildren(QAbstractButton) if b.isVisible()]
        assert len(buttons) >= (10 if tab == 0 else 4)
        clipped = [b.text() for b in buttons if b.visibleRegion().boundingRect() != b.rect()]
        assert clipped == [], f"cut off at 1366x768: {clipped}"
    window.grab().save(SCREENSHOT.replace("pane", "window_1366"))
    window.close()
