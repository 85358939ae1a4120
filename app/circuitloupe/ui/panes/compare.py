"""Compare pane: a second model beside the current one; compare-models finds each one's curve
family and matches them by radial tuning (universality). The figure and table are the ones
``circuitloupe compare-models`` writes and prints."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QSplitter, QVBoxLayout

from circuitloupe.core.errors import UserError
from circuitloupe.core.models import zoo
from circuitloupe.tasks import CompareModelsRequest, Request, Result
from circuitloupe.core.ablation import is_edited
from circuitloupe.ui.panes.experiments import TaskPane
from circuitloupe.ui.widgets.pane import dock_pane
from circuitloupe.ui.widgets.request_form import RequestForm, request_from_argv

#: Set by the pane, not the form: the models are the current one and the model box's.
HIDDEN = ("models", "analysis")


def default_other(spec: str | None) -> str:
    """The model to set beside ``spec``: its nearest relative in the zoo."""
    return "efficientnet_lite1" if spec == "efficientnet_lite0" else "efficientnet_lite0"


@dock_pane("compare")
class ComparePane(TaskPane):
    empty_text = "Choose a second model and press Compare: both models' curve families, side by side."

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self._spec: str | None = None
        self.other = QComboBox()
        self.other.setEditable(True)  # a custom model (file.py:factory) may be typed in
        for entry in zoo.entries():
            self.other.addItem(entry.name)
            self.other.setItemData(self.other.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.other.setToolTip("The model compared with the current one (loaded for the comparison only)")
        self.form = RequestForm(CompareModelsRequest, hidden=HIDDEN, columns=3)
        self.other.currentTextChanged.connect(self._set_models)
        self.run_button.setText("Compare")
        self.run_button.setToolTip("Find the curve family of both models and match them")
        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        self.table.setFont(QFont("monospace", 8))
        self.table.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table.setPlaceholderText("families, coverage and matches")
        self.table.setToolTip("Each model's curve family and the 45° sectors it covers (#), and how many of its "
                              "units match a unit of the other model (as compare-models prints)")
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare with"))
        top.addWidget(self.other, 1)
        top.addWidget(self.run_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1000, 110])  # the table is a few lines: most of the height for the figure
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.form)
        layout.addWidget(self.progress)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.info)
        state.sigModelChanged.connect(self._on_model)
        if state.model is not None:
            self._on_model(state.model)

    def _on_model(self, model) -> None:
        if model.spec != self._spec:  # keep the user's choice while the same network is open
            self._spec = model.spec
            self.other.setCurrentText(default_other(model.spec))
        self._set_models()

    def _set_models(self) -> None:
        if self.state.model is not None:
            self.form.set_values({"models": (self.state.model.spec, self.other.currentText().strip())})

    def build_request(self) -> Request | None:
        if self.state.model is None:
            self.info.setText("open a model first")
            return None
        return self.form.request()

    def cli_command(self) -> str | None:
        # compare-models loads each model with its default weights, as the current one was only
        # when it has no --weights of its own.
        model = self.state.model
        if model is None or model.weights_spec is not None or is_edited(model.weights_id):
            return None
        return super().cli_command()

    def model_args(self) -> list[str]:
        return []  # the request names its models

    def _on_result(self, result: Result) -> None:
        super()._on_result(result)
        self.table.setPlainText("\n".join(result.lines()))

    def describe(self, result: Result) -> str:
        return f"compared {result.model_spec.replace(',', ' and ')}"

    def project_state(self) -> dict[str, Any]:
        request = self.form.request(quiet=True)
        return {"other": self.other.currentText(), "argv": request.to_argv() if request is not None else None}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("other"), str):
            self.other.setCurrentText(data["other"])
        if isinstance(data.get("argv"), list):
            try:
                self.form.set_request(request_from_argv(CompareModelsRequest, data["argv"]))
            except UserError as error:
                self.state.message(f"Compare: the saved options were not restored: {error}")
