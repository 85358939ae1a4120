"""Activations pane: the activations task on the current image, channel stepping without a rerun,
and Copy as CLI command reproducing the exported figure."""

from __future__ import annotations

from circuitloupe.core.samples import load_sample
from circuitloupe.ui.panes.activations import ActivationsPane
from circuitloupe.ui.state import OpenImage
from cli_reproduces import assert_cli_reproduces
from open_pane import open_pane


def test_pre_relu_map_of_a_channel_is_what_the_cli_writes(qtbot, inception, tmp_path):
    with open_pane(qtbot, ActivationsPane, inception) as pane:
        state = pane.state
        state.set_unit("mixed3b:379")
        state.set_image(OpenImage("sample:chelsea", load_sample("chelsea")))
        qtbot.waitUntil(lambda: pane.activation is not None, timeout=30_000)
        assert pane.pre_relu.isEnabled()
        pane.pre_relu.setChecked(True)  # non-default options: the pre-ReLU value of another channel
        qtbot.waitUntil(lambda: pane.result.request.pre_relu, timeout=30_000)
        computed = pane.result.arrays
        pane.channel.setValue(12)
        assert pane.result.arrays is computed  # another channel of the same maps: no new run
        assert pane.activation.min() < 0 and pane.info.text().startswith("mixed3b_pre_relu:12 on sample:chelsea")
        argv = assert_cli_reproduces(pane, tmp_path)
        assert argv[1:7] == ["activations", "sample:chelsea", "--layers", "mixed3b", "--pre-relu", "--channel"]
