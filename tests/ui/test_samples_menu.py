"""File > Sample images: the scikit-image photos open from the menu; chelsea opens at start-up."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow

from circuitloupe.core.samples import sample_names
from circuitloupe.ui.state import AppState, OpenImage
from circuitloupe.ui.widgets.samples_menu import install_samples_menu


def make_window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = window.menuBar().addMenu("&File")
    for text in ("Open image…", "Open model file…", "Quit"):
        menu.addAction(text)
    return window, menu


def test_submenu_sits_after_open_image_and_opens_samples(qtbot):
    _window, file_menu = make_window(qtbot)
    opened = []
    submenu = install_samples_menu(file_menu, AppState(), opened.append)
    texts = [a.text() for a in file_menu.actions()]
    assert texts[:3] == ["Open image…", "Sample images", "Open model file…"]
    actions = submenu.actions()
    assert [a.text() for a in actions] == sample_names()
    assert all(a.toolTip() for a in actions)
    actions[1].trigger()
    assert opened == ["sample:coffee"]


def test_first_model_opens_chelsea_once_unless_an_image_is_open(qtbot):
    _window, file_menu = make_window(qtbot)
    state = AppState()
    install_samples_menu(file_menu, state, lambda spec: None)
    images = []
    state.sigImageChanged.connect(images.append)
    state.sigModelChanged.emit(object())
    assert [i.name for i in images] == ["sample:chelsea"] and state.image.pixels.shape == (300, 451, 3)
    state.set_image(OpenImage("mine.png", state.image.pixels[:10]))
    state.sigModelChanged.emit(object())  # a later model leaves the user's image alone
    assert state.image.name == "mine.png"

    other, second = AppState(), make_window(qtbot)  # keep the window alive: it owns the menu
    install_samples_menu(second[1], other, lambda spec: None)
    other.set_image(OpenImage("given.png", state.image.pixels))
    other.sigModelChanged.emit(object())
    assert other.image.name == "given.png"


def test_main_window_has_the_menu_and_tracks_opened_samples(qtbot):
    from circuitloupe.service import InferenceService
    from circuitloupe.ui.main_window import MainWindow

    window = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(window)
    submenu = next(a.menu() for a in window.file_menu.actions() if a.text() == "Sample images")
    next(a for a in submenu.actions() if a.text() == "rocket").trigger()
    assert window.state.image.name == "sample:rocket" and window.state.image.pixels.shape == (427, 640, 3)
    assert "sample:rocket" in window.projects.open_images
    window.close()
