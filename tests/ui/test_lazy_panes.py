"""Panes are built when first shown: a start builds only what is on screen, and a pane built late
shows the model, unit and image already open, keeps the theme, and does not dirty the project."""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PIL import Image

from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.main_window import MainWindow
from circuitloupe.ui.panes import EAGER, PANES


def load(qtbot, window):
    with qtbot.waitSignal(window.service.sigModelChanged, timeout=60_000):
        window.load_model("bundled", None)


def photo(path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_a_start_builds_the_panes_on_screen_and_a_tab_builds_its_pane_when_shown(qtbot, window):
    qtbot.wait(100)
    shown = {name for name, dock in window.docks.items() if not dock.visibleRegion().isEmpty()}
    assert set(window.panes.built()) == shown | set(EAGER)
    assert len(window.panes) == len(PANES) == len(window.docks) and "tuning" not in shown
    assert window.docks["tuning"].widget().widget() is None  # an empty scroll area until shown

    window.docks["tuning"].raise_()  # what clicking its tab does
    qtbot.waitUntil(lambda: window.panes.get_built("tuning") is not None, timeout=5000)
    pane = window.panes["tuning"]
    assert window.docks["tuning"].widget().widget() is pane and pane.isVisible()
    assert window.panes["tuning"] is pane  # built once


def test_a_pane_built_late_shows_the_open_model_unit_and_image(qtbot, window, tmp_path):
    load(qtbot, window)
    window.state.set_unit(UnitRef("conv3", 5))
    assert window.open_image(photo(tmp_path / "photo.png"))
    assert window.panes.get_built("activations") is None
    window.show_pane("activations")
    pane = window.panes["activations"]
    assert pane.channel.value() == 5
    qtbot.waitUntil(lambda: pane.activation is not None, timeout=30_000)
    assert window.state.image.name.endswith("photo.png")


def test_showing_a_pane_is_not_a_change_and_a_project_restores_an_unbuilt_pane(qtbot, window, tmp_path):
    load(qtbot, window)
    path = tmp_path / "study.loupe"
    window.show_pane("experiments")
    experiments = window.panes["experiments"]
    experiments.chooser.setCurrentIndex(2)
    state = experiments.project_state()
    assert state, "the Experiments pane keeps its settings in a project"
    assert window.projects.save_as(path)
    window.show_pane("dataset")  # a pane first shown after the save
    assert not window.projects.is_dirty()

    other = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(other)
    other.show()
    assert other.panes.get_built("experiments") is None
    with qtbot.waitSignal(other.service.sigModelChanged, timeout=60_000):
        assert other.open_project(path)
    qtbot.waitUntil(lambda: other.panes.get_built("experiments") is not None, timeout=10_000)
    assert other.panes["experiments"].project_state() == json.loads(path.read_text())["panes"]["experiments"]
    assert other.panes["experiments"].project_state() == state
    other.close()


def test_a_pane_built_after_a_theme_switch_has_the_themes_plot_colours(qtbot, window):
    window.set_theme("dark")
    try:
        plots = window.panes["dataset"].findChildren(pg.GraphicsView)
        assert plots and all(p.backgroundBrush().color().lightness() < 60 for p in plots)
    finally:
        window.set_theme("light")
