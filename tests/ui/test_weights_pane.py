"""Weights pane: first-layer grid, expanded weights into mixed3b:379, the curve circuit grid."""

from __future__ import annotations

import numpy as np
import pytest

from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.panes.weights import WeightsPane
from circuitloupe.ui.state import AppState


@pytest.fixture
def pane(qtbot, inception):
    service = InferenceService("cpu")
    service.model = inception
    state = AppState()
    pane = WeightsPane(service, state)
    pane.render_thumbs.setChecked(False)  # feature vis rendering is tested where it lives
    qtbot.addWidget(pane)
    pane.resize(1000, 700)
    pane.show()
    state.set_model(inception)
    yield pane
    pane.cancel_jobs()
    service.shutdown()


def test_first_layer_grid_and_scaling_toggle(qtbot, pane):
    qtbot.waitUntil(lambda: pane.filters is not None, timeout=30_000)
    assert pane.filters.shape == (64, 7, 7, 3)
    per_filter = np.asarray(pane.figure(1.0))
    pane.shared_scale.setChecked(True)
    shared = np.asarray(pane.figure(1.0))
    assert per_filter.shape == shared.shape and not np.array_equal(per_filter, shared)
    assert pane.first_view.hover_text(4 + 52 * 2 + 10, 20 + 4 + 10).startswith("filter 2:")
    assert "circuitloupe weights" in pane.cli_command() and "--shared-scale" in pane.cli_command()


def test_expanded_weights_for_mixed3b_379(qtbot, pane, tmp_path):
    pane.state.set_unit("mixed3b:379")
    pane.tabs.setCurrentIndex(1)
    assert pane.source_layer.currentText() == "mixed3a"
    qtbot.waitUntil(lambda: pane.expanded is not None and pane.expanded["unit"] == UnitRef("mixed3b", 379),
                    timeout=60_000)
    ranked = pane.expanded["ranked"]
    assert pane.expanded["method"] == "product" and len(ranked) == 8 and ranked[0][2].shape == (5, 5)
    from circuitloupe.core.weights import expanded_grid

    grid = expanded_grid(8)
    x = grid.origin_x + grid.kernel_dx + grid.size // 2
    y = grid.origin_y + grid.size // 2
    text = pane.expanded_view.hover_text(x, y)
    assert text.startswith(f"{ranked[0][0]} → mixed3b:379  offset (+0, +0): w = {ranked[0][2][2, 2]:.4g}")
    assert pane.grab().save(str(tmp_path / "weights_expanded.png"))
    pane.expanded_view.sigClicked.emit(grid.origin_x + 5, grid.origin_y + 5)  # a thumbnail: go to that unit
    assert pane.state.unit == ranked[0][0]


def test_curve_circuit_grid_with_hover_and_magnitude(qtbot, pane, tmp_path):
    pane.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: pane.circuit is not None, timeout=60_000)
    weights = pane.circuit["weights"]
    assert weights.shape == (4, 4, 5, 5)
    assert [str(u) for u in pane.circuit["dst"]] == ["mixed3b:342", "mixed3b:385", "mixed3b:379", "mixed3b:330"]
    from circuitloupe.core.weights import circuit_grid

    grid = circuit_grid(4, 4)
    text = pane.circuit_view.hover_text(grid.origin_x + grid.step_x + 1, grid.origin_y + 2 * grid.step_y + 1)
    assert text.startswith(f"mixed3a:147 → mixed3b:379  offset (-2, -2): w = {weights[2, 1, 0, 0]:.4g}")
    signed = pane.figure(1.0)
    pane.magnitude.setChecked(True)
    magnitude = pane.figure(1.0)
    assert signed.size == magnitude.size
    assert np.asarray(magnitude)[grid.origin_y:grid.origin_y + grid.size, grid.origin_x:].std(axis=2).max() == 0
    assert pane.figure(2.0).width > 1.9 * signed.width
    assert pane.cli_command().startswith("circuitloupe circuit mixed3a:81,147,145,71 mixed3b:342,385,379,330")
    pane.magnitude.setChecked(False)
    assert pane.grab().save(str(tmp_path / "weights_circuit.png"))


def test_rotated_copies_tab_for_p4cnn(qtbot, tmp_path):
    from circuitloupe.core.models import load_model
    from circuitloupe.core.weights import copies_layout
    from circuitloupe.ui.panes.weights import TABS

    model = load_model("p4cnn")
    service = InferenceService("cpu")
    service.model = model
    state = AppState()
    pane = WeightsPane(service, state)
    pane.render_thumbs.setChecked(False)
    qtbot.addWidget(pane)
    pane.resize(760, 560)
    pane.show()
    try:
        state.set_model(model)
        assert pane.tabs.currentIndex() == TABS.index("rotated") and not pane.tabs.isTabVisible(0)
        qtbot.waitUntil(lambda: pane.rotated is not None, timeout=30_000)
        assert pane.rotated["layer"] == "c1" and pane.rotated["kernels"].shape == (10, 4, 1, 1, 3, 3)
        assert not pane.rotated_input.isEnabled()
        grid = copies_layout(10, 1)
        image = np.asarray(pane.figure(1.0))
        tiles = [image[grid.origin_y + o * grid.row_step:][:grid.size, grid.origin_x + r * grid.column_step:]
                 [:, :grid.size] for o in range(10) for r in range(4)]
        assert len(tiles) == 10 * 4 and all(t.shape == (grid.size, grid.size, 3) and t.std() > 0 for t in tiles)
        weight = model.net.c1.weight.detach().numpy()[2, 0]
        text = pane.rotated_view.hover_text(grid.origin_x + grid.column_step + 1, grid.origin_y + 2 * grid.row_step + 1)
        assert text == f"filter 2 at 90° (unit c1:9), offset (-1, -1): w = {np.rot90(weight)[0, 0]:.4g}"
        assert pane.cli_command() == "circuitloupe weights c1 --model p4cnn --out rotated.png"
        assert pane.grab().save(str(tmp_path / "weights_rotated.png"))

        pane.rotated_layer.setCurrentIndex(pane.rotated_layer.findData("c2"))
        qtbot.waitUntil(lambda: pane.rotated is not None and pane.rotated["layer"] == "c2", timeout=30_000)
        summed = np.asarray(pane.figure(1.0))
        pane.rotated_input.setCurrentIndex(pane.rotated_input.findData(3))
        assert pane.rotated_input.count() == 11 and not np.array_equal(summed, np.asarray(pane.figure(1.0)))
        assert pane.cli_command().endswith("c2 --model p4cnn --input-channel 3 --out rotated.png")
        text = pane.rotated_view.hover_text(*(lambda g: (g.origin_x + g.size + g.map_gap + 1, g.origin_y + 1))(
            copies_layout(10, 4)))
        assert text.startswith("filter 0 at 0° (unit c2:0), input rotation j=1")
    finally:
        pane.cancel_jobs()
        service.shutdown()


def test_model_switch_clears_the_circuit_without_an_error_message(qtbot, pane):
    from circuitloupe.core.models import load_model

    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: pane.circuit is not None, timeout=60_000)
    assert pane.circuit_view.image is not None
    bundled = load_model("bundled")
    pane.service.model = bundled
    pane.state.set_model(bundled)
    qtbot.wait(400)  # past the pane's refresh debounce
    assert pane.circuit is None and pane.circuit_view.image is None  # InceptionV1's circuit is gone
    assert pane.circuit_view.canvas.text().startswith("Pick two families")
    assert not [m for m in messages if "no units given" in m]
