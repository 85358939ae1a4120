"""The project controller without a window: autosave and recovery, the model and unit of a
project, and the atlas a project remembers (issue 16)."""

from __future__ import annotations

import json
import shutil

import pytest

from circuitloupe.core import project as projects
from circuitloupe.core.atlas import BuildSettings, build_atlas
from circuitloupe.core.models import load_model
from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui.lazy_panes import LazyPanes
from circuitloupe.ui.model_controller import ModelController
from circuitloupe.ui.project_controller import ProjectController
from circuitloupe.ui.state import AppState
from image_folders import make_plain_folder


@pytest.fixture
def session():
    """A fresh app session (state, model and project controllers) per call: a restart of the app."""
    made = []

    def start(autosave_ms: int = 30_000) -> tuple[AppState, ModelController, ProjectController]:
        service = InferenceService("cpu")
        state = AppState()
        models = ModelController(service, state)
        controller = ProjectController(state, models, LazyPanes(make=None), autosave_ms=autosave_ms)  # no panes
        controller.start()
        made.append((service, models, controller))
        return state, models, controller

    yield start
    for service, *_ in made:
        service.shutdown()


@pytest.fixture(scope="module")
def atlas_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas")
    images = make_plain_folder(root / "images", 4, size=40)
    build_atlas(load_model("bundled"), images, root / "atlas", BuildSettings(layers=("conv3",), batch_size=4, top=3))
    return root / "atlas"


def test_autosave_writes_a_recoverable_project_after_a_change_and_it_survives_a_restart(qtbot, session, tmp_path):
    image = make_plain_folder(tmp_path / "images", 1) / "img000.png"
    state, _, controller = session(autosave_ms=50)
    path = tmp_path / "study.loupe"
    assert controller.save_as(path) and not controller.is_dirty()
    saved = path.read_bytes()
    qtbot.wait(200)
    assert not projects.autosave_path(path).exists()  # nothing changed: nothing autosaved

    assert controller.open_image(image) and controller.is_dirty()
    assert controller.title() == "study * — Circuit Loupe"
    qtbot.waitUntil(projects.autosave_path(path).exists, timeout=5000)  # the timer wrote it
    assert path.read_bytes() == saved  # never the project file itself

    state, _, reopened = session()  # the app restarted, the change never saved
    messages = []
    state.sigMessage.connect(messages.append)
    assert reopened.open(path)
    assert reopened.open_images == [str(image)] and state.image.name == str(image)
    assert reopened.is_dirty() and any("recovered unsaved changes" in m for m in messages)
    assert reopened.save() and projects.load_project(path).images == [str(image)]
    assert not projects.autosave_path(path).exists() and not reopened.is_dirty()


def test_a_project_reopens_its_model_weights_and_unit(qtbot, session, tmp_path):
    state, models, controller = session()
    with qtbot.waitSignal(models.sigLoaded, timeout=60_000):
        models.load("bundled", "random:3")
    state.set_unit("conv3:7")
    path = tmp_path / "model.loupe"
    assert controller.save_as(path)

    state, models, reopened = session()
    with qtbot.waitSignal(models.sigLoaded, timeout=60_000):
        assert reopened.open(path)
    assert state.model.spec == "bundled" and models.weights == "random:3" and state.model.is_random
    assert state.unit == UnitRef("conv3", 7) and not reopened.is_dirty()


def test_a_project_remembers_its_atlas(qtbot, session, tmp_path, atlas_folder):
    folder = tmp_path / "work"
    shutil.copytree(atlas_folder, folder / "atlas")
    state, _, controller = session()
    assert controller.open_atlas(folder / "atlas") and controller.is_dirty()
    path = folder / "study.loupe"
    assert controller.save_as(path)
    assert json.loads(path.read_text())["atlas"] == "atlas"  # inside the project's folder: relative

    moved = shutil.move(folder, tmp_path / "moved")  # the folder moved with its atlas
    state, _, reopened = session()
    with qtbot.waitSignal(state.sigAtlasChanged):
        assert reopened.open(moved / "study.loupe")
    assert state.atlas is not None and state.atlas.folder == moved / "atlas" and list(state.atlas.layers) == ["conv3"]
    assert not reopened.is_dirty()


def test_a_missing_atlas_is_one_status_line_and_the_project_still_opens(qtbot, session, tmp_path, atlas_folder):
    shutil.copytree(atlas_folder, tmp_path / "atlas")
    state, _, controller = session()
    assert controller.open_atlas(tmp_path / "atlas")
    image = make_plain_folder(tmp_path / "images", 1) / "img000.png"
    assert controller.open_image(image)
    path = tmp_path / "study.loupe"
    assert controller.save_as(path)
    shutil.rmtree(tmp_path / "atlas")

    state, _, reopened = session()
    state.open_atlas(atlas_folder)  # another atlas was open: the project's (none that opens) replaces it
    messages = []
    state.sigMessage.connect(messages.append)
    assert reopened.open(path)
    about_atlas = [m for m in messages if str(tmp_path / "atlas") in m]
    assert len(about_atlas) == 1 and "\n" not in about_atlas[0] and "is missing" in about_atlas[0]
    assert state.atlas is None and reopened.open_images == [str(image)] and reopened.path == path
