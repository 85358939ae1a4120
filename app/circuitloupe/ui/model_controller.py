"""The model controller: which model the app shows, loaded through the inference service.

One load per choice (a typed name, a picked name, a project's model), the weights each load
asked for (a project stores them), the one-line status of the model, and the prompts a load may
need: a weights file when the download failed, a factory for a model file. Edited copies (the
Edits pane) arrive through the service's ``sigModelChanged`` like any load and are shown the same
way. Works without a window: dialogs get ``parent`` (None in tests).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.missing_weights import is_download_failure, show_missing_weights
from circuitloupe.ui.settings import settings
from circuitloupe.ui.state import AppState


class ModelController(QObject):
    """Loads models on ``service`` and puts them in ``state``.

    ``sigLoading(spec)`` fires when a load starts; ``sigArrived(model)`` when it finished, before
    the state switches to it (a project restores what the panes read when they rebuild);
    ``sigLoaded(model)`` once the state and the panes show it; ``sigFailed(spec, message)`` when
    it failed (the message is also the status line); ``sigWelcomeWanted`` when a first load failed
    and the window has nothing to show behind the missing-weights dialog."""

    sigLoading = Signal(str)
    sigArrived = Signal(object)  # LoadedModel
    sigLoaded = Signal(object)  # LoadedModel
    sigFailed = Signal(str, str)  # spec, one-line message
    sigWelcomeWanted = Signal()

    def __init__(self, service: InferenceService, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.state = state
        self.dialog_parent = parent
        self.random_weights = False  # load with seeded random weights when none are asked for
        self.weights: str | None = None  # the weights the current model was loaded with
        self._requested: dict[str, str | None] = {}  # spec -> weights asked for
        self._loading: str | None = None
        service.sigModelChanged.connect(self._on_loaded)

    def load(self, spec: str, weights: str | None = None) -> Job:
        """Load ``spec`` (with ``weights``: a file, ``random:SEED``, or None for its default)."""
        if weights is None and self.random_weights:
            weights = "random:0"
        self.sigLoading.emit(spec)
        self._requested[spec] = weights
        self._loading = spec
        job = self.service.load(spec, weights)
        job.sigFailed.connect(lambda message: self._on_failed(spec, weights, message))
        return job

    def choose(self, text: str) -> Job | None:
        """A name typed or picked in the Model box: load it unless it is loaded or loading."""
        text = text.strip()
        if text and text != self._loading and text != self.loaded_spec():
            return self.load(text)
        return None

    def loaded_spec(self) -> str:
        """The loaded model's spec ("" when none): all the Model box may name."""
        return self.state.model.spec if self.state.model is not None else ""

    def status_text(self) -> str:
        """The status bar's model text: name and weights of the loaded model."""
        model = self.state.model
        return f"{model.name} · {model.weights_description}" if model is not None else "no model"

    def _on_loaded(self, model) -> None:
        self._loading = None
        default = model.weights_spec if model.is_random else None
        self.weights = self._requested.pop(model.spec, default)
        self.sigArrived.emit(model)
        self.state.set_model(model)
        self.state.message(f"loaded {model.spec}: {len(model.catalogue)} layers, {model.weights_description}")
        if not model.is_random:
            settings().setValue("last_model", model.spec)
        self.sigLoaded.emit(model)

    def _on_failed(self, spec: str, weights: str | None, message: str) -> None:
        self._loading = None
        self.state.message(message)
        self.sigFailed.emit(spec, message)
        if weights is None and is_download_failure(message):
            if self.state.model is None:
                self.sigWelcomeWanted.emit()
            show_missing_weights(self.dialog_parent, spec, message, lambda: self.open_weights_dialog(spec), self.load)

    def open_model_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open model file", str(Path.home()),
                                              "Python files (*.py)")
        if path:
            factory, ok = QInputDialog.getText(self.dialog_parent, "Factory", "Function that returns the model:",
                                               text="build")
            if ok and factory:
                self.load(f"{path}:{factory}")

    def open_weights_dialog(self, spec: str | None = None) -> None:
        """Load ``spec`` (default: the current model) with weights from a local file."""
        spec = spec or self.loaded_spec()
        if not spec:
            return
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, f"Open weights for {spec}", str(Path.home()),
                                              "Weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.load(spec, path)


def last_model_spec() -> str | None:
    """The last model loaded with trained weights (the next start's default)."""
    value = settings().value("last_model")
    return str(value) if value else None
