"""Tuning pane on the bundled model: response map, radial and joint tuning, morph and generality,
stimulus style, cancel, export and Copy as CLI command."""

from __future__ import annotations

import numpy as np
import pytest

from circuitloupe.core.models import load_model
from circuitloupe.ui.panes.tuning import CURVES_TAB, JOINT_TAB, MAP_TAB, RADIAL_TAB, TuningPane
from cli_reproduces import assert_cli_reproduces
from open_pane import open_pane


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


@pytest.fixture
def pane(qtbot, bundled):
    with open_pane(qtbot, TuningPane, bundled) as pane:
        yield pane
        pane.cancel_jobs()


def test_response_map_follows_the_unit_and_exports(qtbot, pane):
    family = pane.state.model.families["curve detectors"]
    pane.state.set_unit(family[0])
    assert pane.unit_edit.text() == family[0]
    pane.orientations.setValue(24)
    pane.curvatures.setValue(4)
    pane.map_button.click()
    qtbot.waitUntil(lambda: pane.rmap is not None, timeout=60_000)
    assert pane.rmap.values.shape == (4, 24) and pane.rmap.pre_relu
    assert "preferred" in pane.info.text()
    assert pane.figure(1.0).width > 1.5 * pane.figure(0.5).width
    assert pane.cli_command() == (f"circuitloupe tuning {family[0]} --orientations 24 --curvatures 4 --figure maps "
                                  "--model bundled --out FIG.png")
    assert not pane.grab().isNull()
    pane.state.set_unit(family[1])  # another unit: the first one's map does not stay on screen
    assert pane.rmap is None and pane.map_image.image is None and "preferred" not in pane.info.text()


def test_family_radial_and_joint_tuning(qtbot, pane):
    family = pane.state.model.families["curve detectors"]
    pane.state.set_unit(family[0])
    assert pane.family.currentText() == "curve detectors"
    assert pane.family_edit.text().split() == family
    pane.orientations.setValue(36)
    pane.curvatures.setValue(4)
    pane.radial_button.click()
    qtbot.waitUntil(lambda: RADIAL_TAB in pane.results, timeout=60_000)
    radial = pane.result.radial()
    assert pane.tabs.currentIndex() == RADIAL_TAB and len(radial) == len(family)
    preferred = np.array([r.preferred for r in radial])
    assert np.ptp(preferred) > 180  # the family covers the circle
    assert pane.figure(0.5) is not None and "--figure radial" in pane.cli_command()
    assert not pane.grab().isNull()
    pane.family_edit.setText(" ".join(family[:3]))
    pane.step.setValue(30)
    pane.joint_button.click()
    qtbot.waitUntil(lambda: JOINT_TAB in pane.results, timeout=60_000)
    assert pane.tabs.currentIndex() == JOINT_TAB and pane.result.joint.curves.shape == (3, 12)
    assert pane.figure(0.5) is not None and "--step 30.0" in pane.cli_command()
    pane.state.set_model(pane.state.model)  # a model (re)load clears every view
    assert pane.results == {} and pane.joint_plot.getPlotItem().listDataItems() == []


def test_legend_is_readable_in_the_dark_theme(qtbot, pane):
    import pyqtgraph as pg
    from PySide6.QtGui import QColor, QImage, QPainter

    from circuitloupe.ui.theme import PLOT_COLOURS

    background, foreground = PLOT_COLOURS[True]
    pg.setConfigOptions(background=background, foreground=foreground)
    try:
        family = pane.state.model.families["curve detectors"]
        pane.family_edit.setText(" ".join(family[:3]))
        pane.step.setValue(30)
        pane.joint_button.click()
        qtbot.waitUntil(lambda: JOINT_TAB in pane.results, timeout=60_000)
        legend = pane.joint_plot.getPlotItem().legend
        rect = legend.boundingRect()
        image = QImage(int(rect.width()), int(rect.height()), QImage.Format.Format_RGB32)
        image.fill(QColor("white"))  # stands for a bright curve passing under the legend
        painter = QPainter(image)
        legend.paint(painter, None, None)
        painter.end()
        patch = QColor(image.pixel(2, int(rect.height()) - 2))
        assert patch.lightness() < 80  # the legend brings its dark patch: its light labels stay legible
    finally:
        pg.setConfigOptions(background="#ffffff", foreground="#333333")


def test_cancel_and_bad_unit(qtbot, pane):
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.unit_edit.setText("nonsense")
    pane.compute_map()
    assert messages and "unit" in messages[-1]
    pane.unit_edit.setText("conv4:0")
    pane.orientations.setValue(720)
    pane.curvatures.setValue(32)
    pane.compute_map()
    job = pane._job
    with qtbot.waitSignal(job.sigCancelled, timeout=60_000):
        pane.progress.cancel()
    assert pane.rmap is None


def test_morph_and_generality_of_the_family_reproduce_from_the_command_line(qtbot, pane, tmp_path):
    family = pane.state.model.families["curve detectors"]
    pane.family_edit.setText(" ".join(family[:2]))
    pane.style_box.width.setValue(2.5)  # the morph is drawn in the pane's stimulus style
    for button, kind in ((pane.morph_button, "morph"), (pane.generality_button, "generality")):
        pane.results.pop(CURVES_TAB, None)
        button.click()
        qtbot.waitUntil(lambda: CURVES_TAB in pane.results, timeout=120_000)
        assert pane.tabs.currentIndex() == CURVES_TAB and pane.curves_view.image is not None
        assert pane.result.to_json()["experiment"] == kind
        argv = assert_cli_reproduces(pane, tmp_path)
        assert ("--stroke-width" in argv) == (kind == "morph")  # generality varies the style itself


def test_non_default_sweep_and_style_reproduce_from_the_command_line(qtbot, pane, tmp_path):
    pane.unit_edit.setText("conv4:3")
    pane.stimulus.setCurrentText("angle")
    pane.orientations.setValue(12)
    pane.curvatures.setValue(3)
    pane.pre_relu.setChecked(False)
    style = pane.style_box
    style.fg.setCurrentText("red")
    style.bg.setCurrentText("#204060")
    style.invert.setChecked(True)
    style.width.setValue(3.0)
    style.filled.setChecked(True)
    style.texture.setChecked(True)
    pane.map_button.click()
    qtbot.waitUntil(lambda: MAP_TAB in pane.results, timeout=60_000)
    assert not pane.rmap.pre_relu and pane.rmap.values.shape == (3, 12)
    argv = assert_cli_reproduces(pane, tmp_path)
    for option in ("--stimulus", "--post-relu", "--fg", "--bg", "--invert", "--stroke-width", "--filled",
                   "--texture"):
        assert option in argv


def test_a_bad_colour_is_a_message(qtbot, pane):
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.unit_edit.setText("conv4:3")
    pane.style_box.fg.setCurrentText("reddish")
    pane.compute_map()
    assert pane._job is None and messages and "colour 'reddish'" in messages[-1]
