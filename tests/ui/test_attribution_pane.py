"""Attribution pane: overlay, ranked earlier units (click selects app-wide), curves, cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from circuitloupe.ui.panes.attribution import UNIT_ROLE, AttributionPane
from circuitloupe.ui.state import AppState, OpenImage

from cli_reproduces import assert_cli_reproduces

SCREENSHOTS = "/tmp"


def ring_pixels() -> np.ndarray:
    y, x = np.mgrid[0:96, 0:96]
    ring = (np.abs(np.hypot(y - 48, x - 48) - 30) < 3).astype(np.float32)
    return np.stack([1 - ring, 1 - ring * 0.7, np.full_like(ring, 0.8)], axis=2)


@pytest.fixture
def pane(qtbot, service, inception, tmp_path, monkeypatch):
    from circuitloupe.core.figures import save_png
    from circuitloupe.core.samples import load_image_or_sample

    monkeypatch.chdir(tmp_path)  # the image opened from disk as ring.png, as File > Open image does
    save_png(Image.fromarray((ring_pixels() * 255).astype(np.uint8)), tmp_path / "ring.png")
    state = AppState()
    pane = AttributionPane(service, state)
    qtbot.addWidget(pane)
    pane.resize(1000, 640)
    pane.show()
    state.set_model(inception)
    state.set_unit("mixed3b:379")
    state.set_image(OpenImage("ring.png", load_image_or_sample("ring.png")))
    return pane


def finish(qtbot, job, timeout=60_000):
    with qtbot.waitSignal(job.sigFinished, timeout=timeout):
        pass


def pick(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def test_overlay_of_an_attribution_exports_and_reproduces(qtbot, pane, tmp_path):
    pick(pane.method, "saliency")
    job = pane.run_attribution()
    finish(qtbot, job)
    assert pane.result.details.map.shape == (224, 224) and pane.result.details.method == "saliency"
    assert pane.result.details.target.startswith("mixed3b_5x5_pre_relu:59")  # pre-ReLU value of 3b:379
    assert pane.overlay.heat is not None and pane.overlay.map_view.values.shape == (224, 224)
    assert "value" in pane.info.text()
    QApplication.processEvents()  # let the layout follow the overlay mode before the screenshot
    pane.grab().save(f"{SCREENSHOTS}/attribution_overlay.png")
    small = pane.figure(1.0)
    pane.overlay.mode.setCurrentIndex(pane.overlay.mode.findData("side_by_side"))
    pane.overlay.sign.setCurrentIndex(1)
    assert not pane.overlay.settings()["signed"] and pane.overlay.image_view.isVisible()
    big = pane.figure(2.0)
    assert big.width > 2 * small.width
    command = pane.cli_command()
    assert command.startswith("circuitloupe attribute mixed3b_5x5_pre_relu:59 ring.png --method saliency")
    assert "--absolute" in command and "--model inceptionv1" in command
    assert_cli_reproduces(pane, tmp_path)


def test_gradcam_for_a_class_names_its_layer(qtbot, pane):
    pick(pane.target_kind, "class")
    pane.class_index.setValue(12)
    pick(pane.method, "gradcam")
    assert pane.cam_layer.isEnabled() and not pane.steps.isEnabled()
    finish(qtbot, pane.run_attribution())
    assert pane.result.details.layer == "mixed5b" and pane.result.details.target == "class 12"
    assert "class:12" in pane.cli_command()


def test_ranked_earlier_units_select_app_wide(qtbot, pane, tmp_path):
    pane.tabs.setCurrentIndex(1)
    earlier = pane.earlier
    assert earlier.source_layer.currentData() == "mixed3a"  # the articles' default: the block before
    pick(earlier.source_layer, "mixed3b_5x5_bottleneck")
    job = pane.run_contributions()
    finish(qtbot, job)
    c = pane.result.contributions
    assert c.residual == pytest.approx(0.0, abs=1e-4)  # linear path: w * x sums to value - bias
    assert 0 < earlier.positive.count() <= 8 and earlier.negative.count() <= 8
    first = earlier.positive.item(0)
    strongest = c.ranked(1, 1)[0]
    assert first.data(UNIT_ROLE) == strongest.unit
    assert "mixed3b_5x5_bottleneck" in earlier.wx_label.text()
    QApplication.processEvents()
    pane.grab().save(f"{SCREENSHOTS}/attribution_earlier_units.png")
    figure = pane.figure(1.0)
    assert figure is not None and figure.height > 150
    assert "--to-layer mixed3b_5x5_bottleneck" in pane.cli_command()
    changed = []
    pane.state.sigUnitChanged.connect(changed.append)
    rect = earlier.positive.visualItemRect(first)
    qtbot.mouseClick(earlier.positive.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert changed == [strongest.unit] and pane.state.unit == strongest.unit
    assert pane.unit_label.text() == f"unit: {strongest.unit}"


def test_curve_extraction_tab(qtbot, pane):
    pane.tabs.setCurrentIndex(2)
    assert "mixed3b" in pane.family.currentText() and "curve" in pane.family.currentText()
    pane.canny_sigma.setValue(1.0)
    finish(qtbot, pane.run_curve_extraction())
    result = pane.result.extraction
    assert result.curve_map.shape == (224, 224) and result.edges.any()
    assert len(result.units) == 10 and result.params["canny_sigma"] == 1.0
    assert "Canny edge" in pane.info.text()
    assert pane.figure(1.0).width > 3 * 224
    assert "--curves" in pane.cli_command() and "--canny-sigma 1" in pane.cli_command()


def test_cancel_and_failure_keep_the_pane_alive(qtbot, pane):
    pick(pane.method, "ig")
    pane.steps.setValue(512)
    pane.batch.setValue(1)
    job = pane.run_attribution()
    with qtbot.waitSignal(job.sigCancelled, timeout=60_000):
        with qtbot.waitSignal(job.sigProgress, timeout=60_000):
            pass
        pane.progress.cancel_button.click()
    assert pane.result is None and pane.progress.rate.text() == "cancelled"
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.tabs.setCurrentIndex(1)
    pick(pane.earlier.source_layer, "mixed3b_3x3_bottleneck")
    job = pane.run_contributions()
    with qtbot.waitSignal(job.sigFailed, timeout=60_000):
        pass
    assert messages and "does not feed" in messages[-1]
    pane.family.setEditText("mixed3b:9999")
    assert pane.run_curve_extraction() is None and "channels 0..479" in messages[-1]


def test_class_spin_box_shows_names_and_takes_typed_indices(qtbot):
    from circuitloupe.core.imagenet import imagenet_classes
    from circuitloupe.ui.widgets.controls import ClassSpinBox

    box = ClassSpinBox("class")
    qtbot.addWidget(box)
    box.set_labels(imagenet_classes(), 1000)
    box.setValue(285)
    assert box.text() == "285 Egyptian cat"
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "967")
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert box.value() == 967 and box.text() == "967 espresso"
    box.set_labels(None, 1008)  # a model without class names: the bare index
    assert box.text() == "967"


def test_class_target_is_named_and_a_wide_photo_keeps_its_aspect(qtbot, pane, efficientnet):
    pane.service.model = efficientnet
    pane.state.set_model(efficientnet)
    pane.state.set_image(OpenImage("wide.png", np.random.default_rng(0).random((60, 150, 3)).astype(np.float32)))
    pick(pane.target_kind, "class")
    pane.class_index.setValue(285)
    pick(pane.method, "saliency")
    finish(qtbot, pane.run_attribution())
    assert "class 285 Egyptian cat: saliency" in pane.info.text()
    assert pane.cli_command() is None and "not a file" in pane.info.text()  # its pixels travel in memory
    height, width = pane.overlay.image.shape[:2]
    assert pane.overlay.heat.shape == (height, width) and width / height == pytest.approx(2.5, rel=0.02)
    figure = pane.figure(1.0)
    assert figure.width > 1.8 * figure.height  # the export is not squashed square either


def test_a_new_unit_or_model_clears_the_old_map(qtbot, pane, inception):
    pick(pane.method, "saliency")
    finish(qtbot, pane.run_attribution())
    assert pane.overlay.heat is not None and pane.figure(1.0) is not None
    pane.state.set_unit("mixed3b:380")  # the map explained mixed3b:379
    assert pane.result is None and pane.overlay.heat is None and pane.figure(1.0) is None
    assert pane.overlay.image is not None  # the photo stays
    pick(pane.target_kind, "class")
    finish(qtbot, pane.run_attribution())
    pane.state.set_unit("mixed3b:381")  # a class map does not depend on the unit
    assert pane.result is not None
    pane.state.set_model(inception)  # a (re)loaded model: nothing of the old one stays
    assert pane.result is None and pane.overlay.heat is None


def test_visualise_attribution_reproduces_from_the_command_line(qtbot, pane, tmp_path):
    import shlex

    from circuitloupe.cli import main
    from circuitloupe.core.samples import load_sample

    pane.state.set_image(OpenImage("sample:chelsea", load_sample("chelsea")))
    pane.tabs.setCurrentIndex(1)
    pick(pane.earlier.source_layer, "mixed3a")
    job = pane.run_attribution_visualisation()
    finish(qtbot, job, timeout=300_000)
    assert pane.earlier.attribution_vis.image is not None
    assert pane.attribution_result.names() == ["mixed3b:379 <- mixed3a on image"]
    argv = shlex.split(pane.cli_command())[1:]
    assert argv[:2] == ["featvis", "mixed3b:379"] and "--attribution-from" in argv and "sample:chelsea" in argv
    argv[argv.index("--out") + 1] = str(tmp_path / "vis.png")
    assert main(argv) == 0
    from PIL import Image

    assert Image.open(tmp_path / "vis.png").size == pane.figure(1.0).size


def test_integrated_gradients_with_options_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pick(pane.target_kind, "max")
    pick(pane.method, "ig")
    pane.baseline.setCurrentText("blurred")
    pane.steps.setValue(4)
    pane.batch.setValue(2)
    pane.overlay.opacity.setValue(35)
    finish(qtbot, pane.run_attribution())
    argv = assert_cli_reproduces(pane, tmp_path)
    for option in ("--position", "--baseline", "--steps", "--batch", "--opacity"):
        assert option in argv
    assert argv[argv.index("--steps") + 1] == "4" and argv[argv.index("--opacity") + 1] == "0.35"


def test_ranked_earlier_units_with_options_reproduce_from_the_cli(qtbot, pane, tmp_path):
    pane.tabs.setCurrentIndex(1)
    pick(pane.earlier.position, "max")
    pane.earlier.top.setValue(3)
    pane.pre_relu.setChecked(False)
    finish(qtbot, pane.run_contributions())
    assert pane.earlier.positive.count() <= 3
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:4] == ["attribute", "mixed3b:379", "ring.png"] and "--post-relu" in argv and "--to-layer" in argv


def test_curve_extraction_with_options_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pane.tabs.setCurrentIndex(2)
    pane.family.setEditText("mixed3b:379,406")
    pick(pane.curve_method, "saliency")
    pane.canny_high.setValue(0.3)
    pane.curve_threshold.setValue(0.4)
    finish(qtbot, pane.run_curve_extraction())
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:5] == ["attribute", "mixed3b:379,406", "ring.png", "--method"] and "--curves" in argv
