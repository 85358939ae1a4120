"""The main window opens offscreen with a model, lists layers and shows an activation map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
import pytest
from PIL import Image

from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.main_window import MainWindow


def load(qtbot, window, spec="inceptionv1", weights="random:0"):
    with qtbot.waitSignal(window.service.sigModelChanged, timeout=60_000):
        window.load_model(spec, weights)


def test_window_lists_layers_and_shows_activation_map(qtbot, window, tmp_path):
    load(qtbot, window)
    pane = window.panes["activations"]
    names = [pane.layers.item(i).text() for i in range(pane.layers.count())]
    assert "mixed3b  (480)" in names and "conv2d0  (64)" in names

    window.unit_edit.setText("3b:379")
    qtbot.keyClick(window.unit_edit, "\r")
    assert window.state.unit == UnitRef("mixed3b", 379)
    assert pane.channel.value() == 379

    path = tmp_path / "stripes.png"
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = 255
    Image.fromarray(stripes).save(path)
    window.open_image(path)
    qtbot.waitUntil(lambda: pane.activation is not None, timeout=30_000)
    assert pane.activation.shape == (28, 28)

    out = tmp_path / "figure.png"
    from circuitloupe.ui.widgets.export import export_pane

    assert export_pane(pane, out, 2.0)
    assert Image.open(out).height > 400


def test_bad_image_and_bad_unit_give_messages_not_crashes(qtbot, window, tmp_path):
    load(qtbot, window)
    messages = []
    window.state.sigMessage.connect(messages.append)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    window.open_image(bad)
    window.unit_edit.setText("mixed3b:999")
    qtbot.keyClick(window.unit_edit, "\r")
    assert any("cannot read image" in m for m in messages)
    assert any("channels 0..479" in m for m in messages)


def test_last_model_and_layout_persist(qtbot, tmp_path):
    from circuitloupe.ui.model_controller import last_model_spec
    from circuitloupe.ui.settings import settings

    service = InferenceService("cpu")
    win = MainWindow(service)
    qtbot.addWidget(win)
    with qtbot.waitSignal(service.sigModelChanged, timeout=60_000):
        win.load_model("inceptionv1", str(_saved_weights(tmp_path)))
    win.close()
    assert last_model_spec() == "inceptionv1"
    assert settings().value("window_state") is not None


def _saved_weights(tmp_path):
    import torch

    from circuitloupe.core.models.inceptionv1 import InceptionV1

    path = tmp_path / "inception5h.pth"
    torch.save(InceptionV1().state_dict(), path)
    return path


def test_typing_a_model_name_and_enter_loads_it_once(qtbot, window):
    """Enter in the Model box fired returnPressed and activated: two loads, then a SIGSEGV in
    the browser's unit grid while it refilled."""
    load(qtbot, window)
    loads = []
    window.service.sigSubmitted.connect(lambda job: loads.append(job.name) if job.name.startswith("load") else None)
    line = window.model_combo.lineEdit()
    line.selectAll()
    qtbot.keyClicks(line, "efficientnet_lite0")
    qtbot.keyClick(line, "\r")
    qtbot.waitUntil(lambda: window.state.model.spec == "efficientnet_lite0", timeout=60_000)
    qtbot.wait(500)  # a second load would have been submitted by now
    assert loads == ["load efficientnet_lite0"]
    qtbot.keyClick(line, "\r")  # Enter again on the loaded model: nothing to do
    qtbot.wait(200)
    assert loads == ["load efficientnet_lite0"]
    assert window.model_combo.currentText() == "efficientnet_lite0"


def _rss_mb() -> float:
    import os

    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_finished_jobs_are_released(qtbot, window):
    import gc
    import weakref

    def work(ctx, payload):
        return payload.sum()

    job = window.service.submit(work, np.ones((500, 500)), name="work")
    with qtbot.waitSignal(job.sigFinished, timeout=10_000):
        pass
    ref = weakref.ref(job)
    del job
    qtbot.wait(50)
    gc.collect()
    assert ref() is None, "the window keeps a finished job (and its arguments) alive"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc")
def test_memory_stays_flat_over_100_opened_images(qtbot, window, tmp_path):
    import gc
    import os

    load(qtbot, window, "bundled", None)
    window.panes["activations"]  # built (it is tabbed behind another): it analyses every opened image
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(path)

    counts = {"submitted": 0, "ended": 0}

    def follow(job) -> None:  # counts only: the test must not keep jobs alive itself
        counts["submitted"] += 1
        for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
            signal.connect(lambda *_: counts.__setitem__("ended", counts["ended"] + 1))

    window.service.sigSubmitted.connect(follow)

    def open_images(n: int) -> None:  # (window.busy() would prune the window's job list itself)
        for _ in range(n):
            link = tmp_path / f"photo{counts['submitted']}.png"  # a new name: a new image to analyse
            os.link(path, link)
            window.open_image(link)
            qtbot.waitUntil(lambda: counts["ended"] == counts["submitted"], timeout=30_000)
        gc.collect()

    open_images(10)  # warm up: caches, first allocations
    before = _rss_mb()
    open_images(100)
    assert counts["submitted"] >= 100  # each image was analysed
    grown = _rss_mb() - before
    assert grown < 100, f"RSS grew {grown:.0f} MB over 100 opened images"


def test_view_shortcuts_show_raise_and_focus_never_hide(qtbot, window):
    """Ctrl+5 on the Attribution pane tabbed behind another hid it; pressing again restored it
    without raising it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    dock, pane = window.docks["attribution"], window.panes["attribution"]
    others = [d for d in window.tabifiedDockWidgets(dock)]
    assert others, "the attribution pane is tabbed with others by default"
    others[0].raise_()

    def on_top() -> bool:
        return dock.isVisible() and not dock.visibleRegion().isEmpty()

    qtbot.waitUntil(lambda: not on_top(), timeout=2000)  # behind another tab
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(on_top, timeout=2000)
        focus = QApplication.focusWidget()
        assert focus is pane or pane.isAncestorOf(focus)
    dock.close()
    qtbot.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(on_top, timeout=2000)  # a closed pane comes back too


def test_view_menu_lists_panes_in_shortcut_order(window):
    keys = [a.shortcut().toString() for a in window.view_menu.actions() if a in window.pane_actions.values()]
    numbered = [k for k in keys if k.startswith("Ctrl+") and k[-1].isdigit() and len(k) == 6]
    assert numbered == [f"Ctrl+{d}" for d in "1234567890"]
    assert keys[:10] == numbered  # numbered first, in keyboard order


def test_offline_inception_shows_a_dialog_and_the_model_box_names_only_a_loaded_model(qtbot, window, tmp_path,
                                                                                      monkeypatch):
    import urllib.error
    import urllib.request

    from PySide6.QtWidgets import QMessageBox, QPushButton

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached InceptionV1 weights
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    load(qtbot, window, "bundled", None)
    window.show_welcome()
    qtbot.mouseClick(window.welcome.inception_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "missing_weights_box") is not None, timeout=30_000)
    box = window.findChild(QMessageBox, "missing_weights_box")
    assert "could not be downloaded" in box.text() and "https://" in box.text()
    buttons = [b.text() for b in box.findChildren(QPushButton)]
    assert "Open weights file…" in buttons and "Open efficientnet_lite0 instead" in buttons
    assert window.model_combo.currentText() == "bundled"  # not the model that failed
    with qtbot.waitSignal(window.service.sigModelChanged, timeout=60_000):
        qtbot.mouseClick(box.findChild(QPushButton, "open_alternative"), Qt.MouseButton.LeftButton)
    assert window.state.model.spec == window.model_combo.currentText() == "efficientnet_lite0"


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_default_layout_gives_every_pane_room_and_whole_tab_titles(qtbot, size):
    """At 1600x1000 the right dock's tabs read "W…", "At…" and the Dataset pane opened ~60 px tall."""
    from PySide6.QtWidgets import QTabBar

    from circuitloupe.ui.layout import arrange

    win = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    arrange(win, win.docks)  # what a first start does
    qtbot.wait(100)
    for name, dock in win.docks.items():
        win.show_pane(name)
        qtbot.wait(10)
        assert dock.height() >= 120 and dock.width() >= 400, f"{name} opens {dock.width()}x{dock.height()}"
    bars = [bar for bar in win.findChildren(QTabBar) if bar.parentWidget() is win and bar.isVisible()]
    assert bars
    for bar in bars:
        for i in range(bar.count()):
            needed = bar.fontMetrics().horizontalAdvance(bar.tabText(i))
            assert bar.tabRect(i).width() >= needed, f"tab '{bar.tabText(i)}' is cut"
        assert bar.count() <= 7
    win.close()
