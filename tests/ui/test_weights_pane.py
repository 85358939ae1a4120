"""Weights pane: first-layer grid, expanded weights into mixed3b:379, the curve circuit grid, a
traced multi-layer circuit and the article presets; each tab's Copy-as-CLI reproduces it."""

from __future__ import annotations

import numpy as np
import pytest

from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.panes.weights import WeightsPane
from circuitloupe.ui.state import AppState

from cli_reproduces import assert_cli_reproduces


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
    qtbot.waitUntil(lambda: pane.first.result is not None, timeout=30_000)
    assert pane.first.result.filters.shape == (64, 7, 7, 3)
    per_filter = np.asarray(pane.figure(1.0))
    pane.first.shared_scale.setChecked(True)
    shared = np.asarray(pane.figure(1.0))
    assert per_filter.shape == shared.shape and not np.array_equal(per_filter, shared)
    assert pane.first.view.hover_text(4 + 52 * 2 + 10, 20 + 4 + 10).startswith("filter 2:")
    assert "circuitloupe weights" in pane.cli_command() and "--shared-scale" in pane.cli_command()


def test_expanded_weights_for_mixed3b_379(qtbot, pane, tmp_path):
    pane.state.set_unit("mixed3b:379")
    pane.tabs.setCurrentIndex(1)
    assert pane.expanded.source_layer.currentText() == "mixed3a"
    qtbot.waitUntil(lambda: pane.expanded.result is not None and pane.expanded.result.unit == UnitRef("mixed3b", 379),
                    timeout=60_000)
    ranked = pane.expanded.result.ranked
    assert pane.expanded.result.method == "product" and len(ranked) == 8 and ranked[0][2].shape == (5, 5)
    from circuitloupe.core.weights import expanded_grid

    grid = expanded_grid(8)
    x = grid.origin_x + grid.kernel_dx + grid.size // 2
    y = grid.origin_y + grid.size // 2
    text = pane.expanded.view.hover_text(x, y)
    assert text.startswith(f"{ranked[0][0]} → mixed3b:379  offset (+0, +0): w = {ranked[0][2][2, 2]:.4g}")
    assert pane.grab().save(str(tmp_path / "weights_expanded.png"))
    pane.expanded.view.sigClicked.emit(grid.origin_x + 5, grid.origin_y + 5)  # a thumbnail: go to that unit
    assert pane.state.unit == ranked[0][0]


def test_curve_circuit_grid_with_hover_and_magnitude(qtbot, pane, tmp_path):
    pane.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: pane.circuit.result is not None, timeout=60_000)
    weights = pane.circuit.result.weights
    assert weights.shape == (4, 4, 5, 5)
    assert [str(u) for u in pane.circuit.result.targets] == ["mixed3b:342", "mixed3b:385", "mixed3b:379", "mixed3b:330"]
    from circuitloupe.core.weights import circuit_grid

    grid = circuit_grid(4, 4)
    text = pane.circuit.view.hover_text(grid.origin_x + grid.step_x + 1, grid.origin_y + 2 * grid.step_y + 1)
    assert text.startswith(f"mixed3a:147 → mixed3b:379  offset (-2, -2): w = {weights[2, 1, 0, 0]:.4g}")
    signed = pane.figure(1.0)
    pane.circuit.magnitude.setChecked(True)
    magnitude = pane.figure(1.0)
    assert signed.size == magnitude.size
    assert np.asarray(magnitude)[grid.origin_y:grid.origin_y + grid.size, grid.origin_x:].std(axis=2).max() == 0
    assert pane.figure(2.0).width > 1.9 * signed.width
    assert pane.cli_command().startswith("circuitloupe circuit mixed3a:81,147,145,71 mixed3b:342,385,379,330")
    pane.circuit.magnitude.setChecked(False)
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
        qtbot.waitUntil(lambda: pane.rotated.result is not None, timeout=30_000)
        assert pane.rotated.result.layer == "c1" and pane.rotated.result.kernels.shape == (10, 4, 1, 1, 3, 3)
        assert not pane.rotated.input.isEnabled()
        grid = copies_layout(10, 1)
        image = np.asarray(pane.figure(1.0))
        tiles = [image[grid.origin_y + o * grid.row_step:][:grid.size, grid.origin_x + r * grid.column_step:]
                 [:, :grid.size] for o in range(10) for r in range(4)]
        assert len(tiles) == 10 * 4 and all(t.shape == (grid.size, grid.size, 3) and t.std() > 0 for t in tiles)
        weight = model.net.c1.weight.detach().numpy()[2, 0]
        text = pane.rotated.view.hover_text(grid.origin_x + grid.column_step + 1, grid.origin_y + 2 * grid.row_step + 1)
        assert text == f"filter 2 at 90° (unit c1:9), offset (-1, -1): w = {np.rot90(weight)[0, 0]:.4g}"
        assert pane.cli_command() == "circuitloupe weights c1 --model p4cnn --out FIG.png"
        assert pane.grab().save(str(tmp_path / "weights_rotated.png"))

        pane.rotated.layer.setCurrentIndex(pane.rotated.layer.findData("c2"))
        qtbot.waitUntil(lambda: pane.rotated.result is not None and pane.rotated.result.layer == "c2", timeout=30_000)
        summed = np.asarray(pane.figure(1.0))
        pane.rotated.input.setCurrentIndex(pane.rotated.input.findData(3))
        assert pane.rotated.input.count() == 11 and not np.array_equal(summed, np.asarray(pane.figure(1.0)))
        assert pane.cli_command().endswith("c2 --input-channel 3 --model p4cnn --out FIG.png")
        assert_cli_reproduces(pane, tmp_path)
        text = pane.rotated.view.hover_text(*(lambda g: (g.origin_x + g.size + g.map_gap + 1, g.origin_y + 1))(
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
    qtbot.waitUntil(lambda: pane.circuit.result is not None, timeout=60_000)
    assert pane.circuit.view.image is not None
    bundled = load_model("bundled")
    pane.service.model = bundled
    pane.state.set_model(bundled)
    qtbot.wait(400)  # past the pane's refresh debounce
    assert pane.circuit.result is None and pane.circuit.view.image is None  # InceptionV1's circuit is gone
    assert pane.circuit.view.canvas.text().startswith("Pick two families")
    assert not [m for m in messages if "no units given" in m]


def run_tab(qtbot, pane, key, timeout=60_000):
    """Show tab ``key``, compute it now and wait for its Result."""
    from circuitloupe.ui.panes.weights import TABS

    pane.tabs.setCurrentIndex(TABS.index(key))
    page = pane.pages[key]
    page.result = None
    job = pane.compute(key)
    assert job is not None
    qtbot.waitUntil(lambda: page.result is not None, timeout=timeout)
    return page.result


def test_first_layer_with_shared_scale_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pane.first.shared_scale.setChecked(True)
    pane.first.layer.setCurrentIndex(pane.first.layer.findData("conv2d0_pre_relu"))
    run_tab(qtbot, pane, "first")
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:4] == ["weights", "conv2d0_pre_relu", "--shared-scale"]


def test_expanded_with_options_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pane.state.set_unit("mixed3b:379")
    pane.expanded.top_k.setValue(3)
    pane.expanded.method.setCurrentText("product")
    assert len(run_tab(qtbot, pane, "expanded").ranked) == 3
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:4] == ["expanded", "mixed3a", "mixed3b:379"] and "--top" in argv and "product" in argv


def test_auto_method_is_resolved_by_the_task_and_left_to_it_on_the_command_line(qtbot, pane, tmp_path):
    pane.state.set_unit("mixed3b:379")
    result = run_tab(qtbot, pane, "expanded")
    assert result.request.method == "auto" and result.method == "product"
    assert "--method" not in pane.cli_command()  # the command resolves "auto" the same way
    assert_cli_reproduces(pane, tmp_path)


def test_circuit_with_typed_families_and_magnitude_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pane.circuit.src_family.setEditText("mixed3a:81, 147")
    pane.circuit.dst_family.setEditText("mixed3b:379,385")
    pane.circuit.magnitude.setChecked(True)
    assert run_tab(qtbot, pane, "circuit").weights.shape == (2, 2, 5, 5)
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:4] == ["circuit", "mixed3a:81,147", "mixed3b:379,385"] and "--magnitude" in argv


def test_trace_follows_the_model_and_reproduces_from_the_cli(qtbot, pane, tmp_path):
    pane.state.set_unit("mixed4b:5")
    assert pane.trace.layers.text() == "mixed4a,mixed3b"  # the two layers before, as the articles expand
    pane.trace.back.setValue(3)
    assert pane.trace.layers.text() == "mixed4a,mixed3b,mixed3a"
    pane.state.set_unit("mixed3b:379")
    pane.trace.back.setValue(2)
    pane.trace.top.setValue(3)
    result = run_tab(qtbot, pane, "trace")
    assert result.trace.layers == ["mixed3a", "conv2d2"] and [len(level) for level in result.trace.levels] == [1, 3, 3]
    assert pane.trace.view.image is not None and "mixed3a:" in pane.info.text()
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[1:6] == ["circuit", "mixed3b:379", "--trace", "mixed3a,conv2d2", "--top"]
    pane.grab().save(str(tmp_path / "weights_trace.png"))


def test_article_presets_fill_the_trace_and_keep_its_units(qtbot, pane, tmp_path):
    names = [pane.trace.presets.itemText(i) for i in range(pane.trace.presets.count())]
    dog = next(name for name in names if name.startswith("dog heads"))
    curves = next(name for name in names if name.startswith("curves"))
    pane.trace.apply_preset(curves)
    assert pane.state.unit == UnitRef("mixed3b", 379) and pane.trace.layers.text() == "mixed3a,conv2d2"
    assert pane.trace.top.value() == 11 and pane.trace.among.text().startswith("mixed3a:81,104,92")
    pane.trace.presets.setCurrentIndex(names.index(dog))
    pane.trace.presets.activated.emit(names.index(dog))
    assert pane.state.unit == UnitRef("mixed4b", 418) and pane.trace.layers.text() == "mixed4a"
    assert pane.trace.top.value() == 4 and "zoom-in" in pane.info.text()
    result = run_tab(qtbot, pane, "trace")
    assert sorted(u.channel for u in result.trace.levels[1]) == [222, 234, 235, 308]
    assert "zoom-in" in pane.info.text()  # the article stays named beside the result
    argv = assert_cli_reproduces(pane, tmp_path)
    assert argv[argv.index("--among") + 1] == "mixed4a:235,222,234,308"


def test_bad_trace_layers_are_one_message(qtbot, pane):
    messages = []
    pane.state.sigMessage.connect(messages.append)
    pane.state.set_unit("mixed3b:379")
    pane.tabs.setCurrentIndex(4)
    pane.trace.layers.setText("mixed4a")  # after the unit
    job = pane.compute("trace")
    with qtbot.waitSignal(job.sigFailed, timeout=30_000):
        pass
    assert "latest to the earliest" in messages[-1] and pane.trace.result is None
