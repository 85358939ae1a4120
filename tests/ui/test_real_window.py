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


# A keyboard session (keys sent to the real widgets through Qt under Xvfb): type a model name +
# Enter, Ctrl+5, run an attribution, label five items by keys, then SIGKILL the app.
SESSION_SCRIPT = textwrap.dedent('''
    import os, signal
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    loupe.wait_until(lambda: state.model is not None, timeout=120, what="the first model")
    loupe.pane("browser").auto_render.setChecked(False)  # no thumbnail rendering: a short test
    loupe.pane("weights").render_thumbs.setChecked(False)
    window.activateWindow()  # window shortcuts (Ctrl+5) need the active window
    loupe.wait_until(window.isActiveWindow, timeout=20, what="the window to be active")
    loads = []
    service.sigSubmitted.connect(lambda job: loads.append(job.name) if job.name.startswith("load ") else None)
    line = window.model_combo.lineEdit()
    line.setFocus()
    line.selectAll()
    QTest.keyClicks(line, "efficientnet_lite0")
    QTest.keyClick(line, Qt.Key.Key_Return)
    loupe.wait_until(lambda: state.model.spec == "efficientnet_lite0", timeout=120, what="the typed model")
    loupe.process(0.5)
    assert loads == ["load efficientnet_lite0"], loads

    QTest.keyClick(window, Qt.Key.Key_5, Qt.KeyboardModifier.ControlModifier)
    loupe.process(0.3)
    assert not window.docks["attribution"].visibleRegion().isEmpty(), "Ctrl+5 did not bring Attribution up"
    window.open_image("sample:chelsea")
    pane = loupe.pane("attribution")
    before = pane.figure()
    loupe.click("attribution", "Attribute")
    loupe.wait_until(lambda: pane.figure() is not None and pane.figure() is not before, timeout=240,
                     what="an attribution figure")

    QTest.keyClick(window, Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)
    labeling = loupe.pane("labeling")
    labeling.open_session(os.environ["LOUPE_SESSION"])
    for n in range(5):
        loupe.wait_until(lambda: labeling.controller.current is not None, timeout=30, what="an item to label")
        QTest.keyClick(labeling, Qt.Key.Key_1)
        loupe.process(0.1)
    print("LABELLED FIVE", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
''')


def _circuitloupe(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([APP, *args], env=env, capture_output=True, text=True, timeout=300)


def test_keyboard_session_survives_kill_9(tmp_path):
    import json

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    env.update(CIRCUITLOUPE_DATA_DIR=str(tmp_path / "data"), LOUPE_SESSION=str(tmp_path / "s.labels"))
    made = _circuitloupe(["label", "new", str(tmp_path / "s.labels"), "conv4:26", str(folder), "--model", "bundled",
                          "--bin-width", "0.25", "--per-bin", "4", "--workers", "0"], env)
    assert made.returncode == 0, made.stderr[-2000:]
    script = tmp_path / "session.py"
    script.write_text(SESSION_SCRIPT)
    command = [XVFB_RUN, "-a", "-s", "-screen 0 1366x768x24", APP, "--model", "bundled", "--theme", "light",
               "--script", str(script)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=500)
    if "Could not load the Qt platform plugin" in result.stderr:
        pytest.skip("Qt's xcb plugin cannot load here (X11 libraries missing): " + result.stderr[-300:])
    assert "LABELLED FIVE" in result.stdout, result.stderr[-4000:]
    assert result.returncode != 0  # killed: xvfb-run reports the app's SIGKILL

    out = tmp_path / "answers.json"  # reopen the session: every answer given before kill -9 is there
    exported = _circuitloupe(["label", "export", str(tmp_path / "s.labels"), "--json", str(out)], env)
    assert exported.returncode == 0, exported.stderr[-2000:]
    answers = json.loads(out.read_text())
    rows = answers if isinstance(answers, list) else answers.get("answers", [])
    assert len(rows) == 5, answers
