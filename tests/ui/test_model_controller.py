"""The model controller without a window: one load per choice, failures as one status line."""

from __future__ import annotations

import pytest

from circuitloupe.service import InferenceService
from circuitloupe.ui.model_controller import ModelController, last_model_spec
from circuitloupe.ui.state import AppState


@pytest.fixture
def controller():
    service = InferenceService("cpu")
    controller = ModelController(service, AppState())
    loads: list[str] = []
    service.sigSubmitted.connect(lambda job: loads.append(job.name) if job.name.startswith("load") else None)
    controller.loads = loads
    yield controller
    service.shutdown()


def test_each_choice_loads_once(qtbot, controller):
    with qtbot.waitSignal(controller.sigLoaded, timeout=60_000):
        assert controller.choose(" bundled ") is not None
        assert controller.choose("bundled") is None  # chosen again while loading (Enter and activated)
    assert controller.state.model.spec == controller.loaded_spec() == "bundled"
    assert controller.choose("bundled") is None  # the loaded model
    assert controller.loads == ["load bundled"] and last_model_spec() == "bundled"
    assert controller.weights is None and "bundled" in controller.status_text()


def test_random_weights_are_asked_for_and_remembered(qtbot, controller):
    controller.random_weights = True
    with qtbot.waitSignal(controller.sigLoaded, timeout=60_000):
        controller.choose("bundled")
    assert controller.weights == "random:0" and controller.state.model.is_random
    assert last_model_spec() is None  # a random model is no start-up default


def test_a_failed_load_is_one_status_line_and_keeps_the_model(qtbot, controller):
    with qtbot.waitSignal(controller.sigLoaded, timeout=60_000):
        controller.choose("bundled")
    model = controller.state.model
    messages, loaded = [], []
    controller.state.sigMessage.connect(messages.append)
    controller.sigLoaded.connect(loaded.append)
    with qtbot.waitSignal(controller.sigFailed, timeout=60_000) as failed:
        controller.choose("no_such_model")
    spec, message = failed.args
    assert spec == "no_such_model" and messages == [message]
    assert "\n" not in message and "Traceback" not in message and "no_such_model" in message
    assert controller.state.model is model and not loaded and controller.loaded_spec() == "bundled"
    assert controller.choose("no_such_model") is not None  # a failed choice may be tried again
