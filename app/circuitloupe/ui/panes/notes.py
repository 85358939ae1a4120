"""Notes pane: free-text notes of the study, saved in the project file."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout

from circuitloupe.ui.widgets.pane import Pane, dock_pane


@dock_pane("notes")
class NotesPane(Pane):

    sigEdited = Signal()

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Notes for this study: hypotheses, units to revisit, what a figure shows… "
                                     "Saved with the project (File > Save project).")
        self.text.setToolTip("Free-text notes, saved in the project file")
        self.text.textChanged.connect(self.sigEdited)
        self.stamp = QPushButton("Insert current unit")
        self.stamp.setToolTip("Insert the current unit (layer:channel) at the cursor")
        self.stamp.clicked.connect(self._insert_unit)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.stamp)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.text)
        layout.addLayout(row)

    def notes(self) -> str:
        return self.text.toPlainText()

    def set_notes(self, text: str) -> None:
        self.text.blockSignals(True)
        self.text.setPlainText(text)
        self.text.blockSignals(False)

    def _insert_unit(self) -> None:
        if self.state.unit is not None:
            self.text.insertPlainText(str(self.state.unit))
