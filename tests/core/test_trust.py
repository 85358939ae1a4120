"""A project's model file (file.py:factory) runs only with consent: the CLI needs --trust, trust is
remembered per path and content, and relative paths in a project resolve against its folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from circuitloupe import cli
from circuitloupe.core import trust
from circuitloupe.core.models import load_model
from circuitloupe.core.project import Project, load_project, save_project
from support import MARKED_MODEL, sent_project

@pytest.fixture
def sent(tmp_path):
    """The folder ``study`` holding a project someone sent: ``project.loupe`` and ``model.py``."""
    folder = tmp_path / "study"
    folder.mkdir()
    sent_project(folder, weights="random:2")
    return folder


def test_cli_refuses_a_project_model_file_without_trust(sent, tmp_path):
    result = subprocess.run([sys.executable, "-m", "circuitloupe", "--project", str(sent / "project.loupe")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    sha = trust.identify(sent / "model.py").sha256
    assert "--trust" in lines[0] and str(sent / "model.py") in lines[0] and sha in lines[0]
    assert not (sent / "ran.txt").exists()


def test_cli_trust_opens_the_project_and_remembers_the_file(sent, monkeypatch):
    opened = []
    monkeypatch.setattr("circuitloupe.ui.app.run_gui", lambda *args, **kwargs: opened.append(kwargs["project"]) or 0)
    project = str(sent / "project.loupe")
    assert cli.main(["--project", project, "--trust"]) == 0 and opened == [project]
    assert trust.needs_consent(load_project(project)) is None
    assert cli.main(["--project", project]) == 0 and len(opened) == 2  # the same content was trusted
    (sent / "model.py").write_text(MARKED_MODEL + "\n# changed\n")
    assert cli.main(["--project", project]) == 2 and len(opened) == 2


def test_trust_is_remembered_per_path_and_content(sent, tmp_path):
    project = load_project(sent / "project.loupe")
    asked = trust.needs_consent(project)
    assert asked is not None and asked.path == (sent / "model.py").resolve()
    trust.remember(asked)
    assert trust.needs_consent(project) is None
    (sent / "model.py").write_text(MARKED_MODEL.replace("Conv2d(3, 4", "Conv2d(3, 5"))
    changed = trust.needs_consent(project)
    assert changed is not None and changed.sha256 != asked.sha256
    copy = tmp_path / "elsewhere.py"
    copy.write_bytes(asked.path.read_bytes())
    assert trust.needs_consent(Project(model_spec=f"{copy}:build")) is not None  # same content, other path
    assert trust.needs_consent(Project(model_spec="inceptionv1")) is None
    assert trust.needs_consent(Project(model_spec=f"{tmp_path}/missing.py:build")) is None  # nothing to run
    assert not (sent / "ran.txt").exists()


def test_relative_paths_resolve_against_the_project_folder(sent, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.py").write_text("raise SystemExit('the wrong model file ran')\n")
    monkeypatch.chdir(elsewhere)
    project = load_project(sent / "project.loupe")
    assert project.model_spec == f"{sent / 'model.py'}:build" and project.weights == "random:2"
    assert load_model(project.model_spec, project.weights).net[0].out_channels == 4

    (elsewhere / "w.pth").write_bytes(b"")
    inside = Project(model_spec=f"{sent / 'model.py'}:build", weights="w.pth")  # weights as loaded, from the cwd
    save_project(inside, sent / "copy.loupe")
    data = json.loads((sent / "copy.loupe").read_text())
    assert data["model_spec"] == "model.py:build" and data["weights"] == str(elsewhere / "w.pth")
    monkeypatch.chdir(tmp_path)
    again = load_project(sent / "copy.loupe")
    assert (again.model_spec, again.weights) == (f"{sent / 'model.py'}:build", str(elsewhere / "w.pth"))


def test_a_model_file_you_ran_yourself_needs_no_second_consent(sent):
    project = load_project(sent / "project.loupe")
    assert trust.needs_consent(project) is not None
    load_model(f"{sent / 'model.py'}:build")  # as with --model or File > Open model file
    assert trust.needs_consent(project) is None
