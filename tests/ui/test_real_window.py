"""The installed ``circuitloupe`` in a real X11 window (Xvfb): open the bundled model, run one
feature visualisation through the pane's own buttons, save a screenshot.

Skipped when Xvfb (``xvfb-run``) or the installed console script is missing; .ci/run installs
Xvfb and the X11 libraries Qt's xcb plugin needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

XVFB_RUN = shutil.which("xvfb-run")
APP = shutil.which("circuitloupe", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

pytestmark = [
    pytest.mark.skipif(XVFB_RUN is None, reason="Xvfb is not installed (apt-get install xvfb xauth)"),
    pytest.mark.skipif(APP is None, reason="the circuitloupe console script is not installed"),
]

# Runs inside the app (circuitloupe --script): `loupe` is circuitloupe.ui.automation.ScriptApi.
SCRIPT = textwrap.dedent('''
    import os
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.platformName() == "xcb", QGuiApplication.platformName()
    loupe.wait_idle(timeout=240)
    assert state.model is not None and state.model.spec == os.environ["LOUPE_MODEL"], state.model
    layer = state.unit.layer  # visualise the pre-ReLU value, which has a gradient from the start
    state.set_unit(f"{state.model.catalogue.pre_relu_of(layer) or layer}:{state.unit.channel}")
    pane = loupe.pane("featurevis")
    for name, value in FEW.items():  # keep the run short: few steps, a small image
        getattr(pane, name).setValue(value)
    before = pane.figure()
    loupe.click("featurevis", "Run")
    loupe.wait_until(lambda: window.busy() or pane.figure() is not None, timeout=30,
                     what="the feature visualisation to start")
    loupe.wait_idle(timeout=240)
    after = pane.figure()
    assert after is not None and after is not before, "the feature visualisation produced no image"
    loupe.screenshot(os.environ["LOUPE_SHOT"])
    after.save(os.environ["LOUPE_FIGURE"])
    loupe.quit(0)
''')
FEW = {"steps": 24, "size": 64, "diversity": 1}


def model_arguments() -> tuple[str, list[str]]:
    from circuitloupe.core.models import zoo

    if "bundled" in {entry.name for entry in zoo.entries() if entry.default_weights_available()}:
        return "bundled", []
    return "inceptionv1", ["--weights", "random:0"]


def test_installed_app_runs_a_feature_visualisation_in_a_real_window(tmp_path):
    model, weights = model_arguments()
    script = tmp_path / "featvis_screenshot.py"
    script.write_text(f"FEW = {FEW!r}\n{SCRIPT}")
    shot, figure = tmp_path / "window.png", tmp_path / "featvis.png"
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    env.update(CIRCUITLOUPE_DATA_DIR=str(tmp_path / "data"), LOUPE_SHOT=str(shot), LOUPE_FIGURE=str(figure),
               LOUPE_MODEL=model)
    command = [XVFB_RUN, "-a", "-s", "-screen 0 1400x900x24", APP, "--model", model, *weights,
               "--theme", "light", "--script", str(script)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=500)
    if "Could not load the Qt platform plugin" in result.stderr:
        pytest.skip("Qt's xcb plugin cannot load here (X11 libraries missing): " + result.stderr[-300:])
    assert result.returncode == 0, result.stderr[-4000:]
    assert "ready: " + model in result.stderr  # the app logged its start-up time

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 900
    assert pixels.std() > 20  # a real window with content, not a blank frame
    with Image.open(figure) as image:
        assert min(image.size) >= 64
        assert np.asarray(image.convert("L"), dtype=np.float32).std() > 5  # an image formed, not flat grey
