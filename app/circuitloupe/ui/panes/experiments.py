"""Experiments pane: the experiment tasks (ablate, factors, handwritten, outputs) as forms generated
from their Requests, run on the inference service; the figure shown is the Result's, the one the
CLI writes, and "Copy as CLI command" is the Request's own command line."""

from __future__ import annotations

from typing import Any, Callable

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from circuitloupe import tasks
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import LoadedModel
from circuitloupe.tasks import AblateRequest, FactorsRequest, HandwrittenRequest, OutputsRequest, Request, Result
from circuitloupe.ui.widgets.figure_view import FigureView
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.result_export import ResultExport, edited_note
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.request_form import RequestForm, request_from_argv

#: The tasks this pane offers, by CLI command, with what each is for.
EXPERIMENTS: dict[str, tuple[type[Request], str]] = {
    "ablate": (AblateRequest, "zero or scale units / edges in a copy and measure every logit's change"),
    "factors": (FactorsRequest, "non-negative factors of a layer's activations over a folder"),
    "handwritten": (HandwrittenRequest, "curve detectors written by hand, spliced into a copy"),
    "outputs": (OutputsRequest, "the later units a unit feeds most strongly"),
}


def curve_layers(model: LoadedModel) -> tuple[str, str]:
    """The layer of the model's curve family (its curve layer, else its first family's layer) and the
    layer of units before it: the handwritten task's LAYER and --from."""
    names = [info.name for info in model.catalogue if info.shape[1] > 1 and not info.is_pre_relu]
    layer = model.curve_layer or next((units[0].rpartition(":")[0] for units in model.families.values() if units),
                                      names[-1] if names else "")
    position = names.index(layer) if layer in names else 0
    return layer, names[position - 1] if position > 0 else ""


class TaskPane(ResultExport, Pane):
    """A pane that runs one Request at a time and shows its Result's figure (shared by the
    Experiments and Compare panes). Subclasses define ``build_request()``: the Request their
    controls describe, or None (the reason shown) when they describe none."""

    empty_text = ""
    build_request: Callable[[], Request | None]

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.result: Result | None = None
        self._image: Image.Image | None = None
        self._job = None
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.start)
        self.progress = JobProgress("steps")
        self.view = FigureView(self.empty_text)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def start(self) -> None:
        """Run the request the controls describe (a running one is cancelled first)."""
        request = self.build_request()
        if request is None:
            return
        if self._job is not None:
            self._job.cancel()
        self.run_button.setEnabled(False)
        self.info.setText(f"running {request.command}…")
        self._job = self.run_job(tasks.run, request, name=request.command, on_done=self._on_result)
        for signal in (self._job.sigFailed, self._job.sigCancelled):
            signal.connect(self._on_stopped)
        self._job.sigFailed.connect(self.info.setText)
        self.progress.follow(self._job)

    def _on_stopped(self, *_args) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        if not self.info.text() or self.info.text().startswith("running"):
            self.info.setText("stopped; the previous result (if any) is kept")

    def _on_result(self, result: Result) -> None:
        self._job = None
        self.run_button.setEnabled(True)
        self.result = result
        self._image = result.figure(1.0)
        self.view.set_image(self._image)
        self.info.setText(self.describe(result) + edited_note(result))

    def describe(self, result: Result) -> str:
        return f"{result.request.command} on {result.model_spec}: done"

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.result is None:
            return None
        return self._image if scale == 1.0 and self._image is not None else self.result.figure(scale)


@dock_pane("experiments")
class ExperimentsPane(TaskPane):
    empty_text = "Choose an experiment, set its options and press Run."

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self._spec: str | None = None
        self.chooser = QComboBox()
        self.forms: dict[str, RequestForm] = {}
        self.stack = QStackedWidget()
        for name, (request_type, tip) in EXPERIMENTS.items():
            self.chooser.addItem(name)
            self.chooser.setItemData(self.chooser.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            self.forms[name] = RequestForm(request_type, columns=2)
            self.stack.addWidget(self.forms[name])
        self.chooser.setToolTip("The experiment to run (each is also a circuitloupe sub-command)")
        self.chooser.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.run_button.setToolTip("Run the experiment on the current model")
        top = QHBoxLayout()
        top.addWidget(QLabel("Experiment"))
        top.addWidget(self.chooser, 1)
        top.addWidget(self.run_button)
        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.stack)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.info)
        state.sigModelChanged.connect(self._on_model)
        state.sigUnitChanged.connect(self._on_unit)
        if state.model is not None:
            self._on_model(state.model)

    @property
    def task(self) -> str:
        return self.chooser.currentText()

    @property
    def form(self) -> RequestForm:
        return self.forms[self.task]

    def set_task(self, name: str) -> None:
        self.chooser.setCurrentText(name)

    def build_request(self) -> Request | None:
        if self.state.model is None:
            self.info.setText("open a model first")
            return None
        return self.form.request()

    def _on_model(self, model: LoadedModel) -> None:
        if model.spec == self._spec:  # the same network (e.g. with edits): keep the user's options
            return
        self._spec = model.spec
        layer, earlier = curve_layers(model)
        folder = self.state.folder or ""
        self.forms["handwritten"].set_values({"layer": layer, "earlier": earlier, "images": folder})
        self.forms["factors"].set_values({"folder": folder})
        if self.state.unit is not None:
            self._on_unit(self.state.unit)

    def _on_unit(self, unit) -> None:
        self.forms["outputs"].set_values({"unit": str(unit)})
        self.forms["ablate"].set_values({"edits": (str(unit),)})
        self.forms["factors"].set_values({"layer": unit.layer})

    def describe(self, result: Result) -> str:
        request = result.request
        if isinstance(request, OutputsRequest):
            return f"{request.unit} feeds most: " + ", ".join(f"{u} ({n:.3g})" for u, n in result.ranked[:5])
        return super().describe(result)

    # ------------------------------------------------------------------ project
    def project_state(self) -> dict[str, Any]:
        request = self.form.request(quiet=True)
        return {"task": self.task, "argv": request.to_argv() if request is not None else None}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        name = data.get("task")
        if name not in self.forms:
            return
        self.set_task(name)
        argv = data.get("argv")
        if isinstance(argv, list):
            try:
                self.form.set_request(request_from_argv(EXPERIMENTS[name][0], argv))
            except UserError as error:
                self.state.message(f"Experiments: the saved {name} options were not restored: {error}")
