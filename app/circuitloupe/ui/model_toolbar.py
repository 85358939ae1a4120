"""The window's toolbar: the Model box, Random weights, and the Unit box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QToolBar

from circuitloupe.core.errors import UserError
from circuitloupe.ui.model_controller import ModelController
from circuitloupe.ui.state import AppState

OPEN_MODEL_FILE = "Open model file…"
TORCHVISION = ("googlenet", "alexnet", "vgg16", "resnet50")


class ModelToolBar(QToolBar):
    """Choices go to ``models`` (one load per choice) and ``state`` (the unit); the Model box
    names the loaded model only, the Unit box the current unit."""

    def __init__(self, models: ModelController, state: AppState) -> None:
        super().__init__("Model")
        self.models, self.state = models, state
        self.setObjectName("model_toolbar")
        self.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumWidth(220)
        self.model_combo.setToolTip("Pick a zoo model, type any torchvision classifier name, or open a "
                                    "model file (path/to/file.py:factory)")
        # Enter on a listed name also emits ``activated``: typed names not in the list go through
        # returnPressed, listed ones through activated, so one choice loads once.
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.lineEdit().returnPressed.connect(self._on_model_typed)
        self.model_combo.activated.connect(lambda i: self._on_model_picked(self.model_combo.itemText(i)))
        self.addWidget(self.model_combo)
        self.random_weights = QAction("Random weights", self)
        self.random_weights.setCheckable(True)
        self.random_weights.toggled.connect(lambda on: setattr(models, "random_weights", on))
        self.random_weights.setToolTip("Load the model with seeded random weights (seed 0) instead of trained ones")
        self.addAction(self.random_weights)
        self.addSeparator()
        self.addWidget(QLabel(" Unit "))
        self.unit_edit = QLineEdit()
        self.unit_edit.setPlaceholderText("mixed3b:379")
        self.unit_edit.setMaximumWidth(200)
        self.unit_edit.setToolTip("Type a unit (layer:channel, e.g. mixed3b:379 or 3b:379) and press Enter")
        self.unit_edit.returnPressed.connect(self._on_unit_typed)
        self.addWidget(self.unit_edit)
        for signal in (models.sigLoaded, models.sigFailed):
            signal.connect(lambda *_: self.model_combo.setCurrentText(models.loaded_spec()))
        state.sigUnitChanged.connect(lambda unit: self.unit_edit.setText(str(unit)))

    def fill_models(self) -> None:
        """List the zoo's models (imports torch: once the worker has), torchvision's, and Open model file."""
        from circuitloupe.core.models import zoo

        text = self.model_combo.currentText()
        for entry in zoo.entries():
            self.model_combo.addItem(entry.name)
            self.model_combo.setItemData(self.model_combo.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.insertSeparator(self.model_combo.count())
        for name in TORCHVISION:
            self.model_combo.addItem(name)
        self.model_combo.addItem(OPEN_MODEL_FILE)
        self.model_combo.setCurrentText(text)

    def _on_model_typed(self) -> None:
        text = self.model_combo.currentText().strip()
        if self.model_combo.findText(text) < 0:
            self._on_model_picked(text)

    def _on_model_picked(self, text: str) -> None:
        if text == OPEN_MODEL_FILE:
            self.model_combo.setCurrentText(self.models.loaded_spec())
            self.models.open_model_file_dialog()
        else:
            self.models.choose(text)

    def _on_unit_typed(self) -> None:
        try:
            self.state.activate_unit(self.unit_edit.text())
        except UserError as error:
            self.state.message(str(error))
