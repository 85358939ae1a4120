"""Opening a project whose model is a Python file asks first (path and SHA-256 shown); the answer
is remembered for that file's content, and a changed file asks again."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from circuitloupe.core import trust
from circuitloupe.ui import trust_dialog

MODEL = textwrap.dedent('''
    from pathlib import Path
    from torch import nn

    Path(__file__).with_name("ran.txt").write_text("this file was imported")

    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
''')


@pytest.fixture
def project(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    path = tmp_path / "sent.loupe"
    path.write_text(json.dumps({"format": "circuitloupe-project", "schema_version": 1,
                                "model_spec": "model.py:build", "weights": "random:1", "notes": "from a colleague"}))
    return path


def test_opening_a_project_asks_before_its_model_file_runs(qtbot, window, project, monkeypatch):
    asked, answers = [], [False, True, False]
    monkeypatch.setattr(trust_dialog, "ask", lambda parent, file, where: asked.append(file) or answers.pop(0))
    marker = project.with_name("ran.txt")

    assert not window.open_project(project)  # declined: nothing runs, nothing opens
    assert len(asked) == 1 and asked[0].path == project.with_name("model.py")
    assert asked[0].sha256 == trust.identify(project.with_name("model.py")).sha256
    assert not marker.exists() and window.projects.path is None and window.panes["notes"].notes() == ""

    with qtbot.waitSignal(window.service.sigModelChanged, timeout=60_000):
        assert window.open_project(project)  # trusted
    assert marker.exists() and window.state.model.spec == f"{project.with_name('model.py')}:build"
    assert window.panes["notes"].notes() == "from a colleague" and len(asked) == 2

    assert window.open_project(project) and len(asked) == 2  # remembered for this content
    project.with_name("model.py").write_text(MODEL + "# changed\n")
    assert not window.open_project(project) and len(asked) == 3  # changed file: asked again


def test_the_dialog_shows_path_and_hash_and_trusts_on_request(qtbot, window, project, tmp_path):
    file = trust.identify(project.with_name("model.py"))
    seen = {}

    def answer(button_text: str) -> None:
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
                   and w.objectName() == "trust_box")
        seen["text"] = box.informativeText()
        if os.environ.get("CIRCUITLOUPE_SHOT"):
            box.grab().save(os.environ["CIRCUITLOUPE_SHOT"])
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, lambda: answer("Don't open"))
    assert not trust_dialog.ask(window, file, project)
    assert str(file.path) in seen["text"] and file.sha256 in seen["text"]
    QTimer.singleShot(0, lambda: answer(trust_dialog.TRUST_BUTTON))
    assert trust_dialog.ask(window, file, project)
