"""Edits pane: units and edges scaled (0 = ablated) in a copy of the model that every pane then
shows; Revert gives the original back. Edits are always applied to the original model, so they
never compound, and the list is kept in the project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QGridLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout)

from circuitloupe.core.ablation import edited_copy, parse_edits
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import LoadedModel
from circuitloupe.service import JobContext
from circuitloupe.tasks.ablate import expand_edits
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.pane import Pane, dock_pane


@dataclass(frozen=True)
class EditRow:
    """One edit in the list: a unit (``conv4:3``) or an edge (``conv3:1->conv4:2``) and its factor."""

    edit: str
    scale: float = 0.0

    def __str__(self) -> str:
        return f"{self.edit} × {self.scale:g}"


def edit_model(original: LoadedModel, rows: list[EditRow]) -> LoadedModel:
    """A copy of ``original`` with ``rows`` in force (its weights id names the edits)."""
    return edited_copy(original, [parse_edits(original, [row.edit], row.scale)[0] for row in rows])


def _make_current(ctx: JobContext, original: LoadedModel, rows: list[EditRow]) -> LoadedModel:
    """On the inference thread: make ``original`` with ``rows`` applied (or ``original`` itself
    when there are none) the service's model."""
    model = edit_model(original, rows) if rows else original
    ctx.service.model = model
    return model


@dock_pane("edits")
class EditsPane(Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.original: LoadedModel | None = state.model  # the model as loaded, never edited
        self.applied: list[EditRow] = []  # the edits in force on the service's model
        self._mine: LoadedModel | None = None  # the model this pane last made current
        self._job = None
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("conv4:3[,5] or conv3:1->conv4:2")
        self.edit.setToolTip("A unit (every position of the channel) or an edge (one convolution's weights "
                             "from a unit to a unit of the next layer)")
        self.edit.returnPressed.connect(self.add)
        self.scale = spin_box(-1000.0, 1000.0, 0.0, "Factor for the edit: 0 ablates, 0.5 halves, -1 flips the sign",
                              step=0.1)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add the edit(s) in the field to the list with this factor (Enter)")
        self.add_button.clicked.connect(self.add)
        self.list = QListWidget()
        self.list.setToolTip("Edits to apply; select one and press Remove (or Delete)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected edits from the list (press Apply to use the new list)")
        self.remove_button.clicked.connect(self.remove)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Make a copy of the original model with these edits the model of every pane")
        self.apply_button.clicked.connect(self.apply)
        self.revert_button = QPushButton("Revert")
        self.revert_button.setToolTip("Give every pane the original model back (the list is kept)")
        self.revert_button.clicked.connect(self.revert)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        grid = QGridLayout()
        grid.addWidget(QLabel("Edit"), 0, 0)
        grid.addWidget(self.edit, 0, 1)
        grid.addWidget(QLabel("×"), 0, 2)
        grid.addWidget(self.scale, 0, 3)
        grid.addWidget(self.add_button, 0, 4)
        grid.addWidget(self.list, 1, 0, 1, 5)
        grid.addWidget(self.remove_button, 2, 0)
        grid.addWidget(self.apply_button, 2, 3)
        grid.addWidget(self.revert_button, 2, 4)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(grid, 1)
        layout.addWidget(self.status)
        state.sigModelChanged.connect(self._on_model)
        self._show_status()

    # ------------------------------------------------------------------ list
    def rows(self) -> list[EditRow]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def set_rows(self, rows: list[EditRow]) -> None:
        self.list.clear()
        for row in rows:
            item = QListWidgetItem(str(row))
            item.setData(Qt.ItemDataRole.UserRole, row)
            self.list.addItem(item)
        self._show_status()

    def add(self) -> None:
        """Add the edit(s) in the field, checked against the original model."""
        text = self.edit.text().strip()
        if not text:
            return
        try:
            edits = expand_edits((text,))
            if self.original is not None:
                for edit in edits:
                    parse_edits(self.original, [edit])
        except UserError as error:
            self.status.setText(str(error))
            return
        known = self.rows()
        self.set_rows(known + [EditRow(e, self.scale.value()) for e in edits if EditRow(e, self.scale.value())
                               not in known])
        self.edit.clear()

    def remove(self) -> None:
        selected = {self.list.row(item) for item in self.list.selectedItems()}
        self.set_rows([row for i, row in enumerate(self.rows()) if i not in selected])

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Delete and self.list.hasFocus():
            self.remove()
        else:
            super().keyPressEvent(event)

    def key_help(self) -> list[tuple[str, str]]:
        return [("Delete", "remove the selected edits")]

    # ------------------------------------------------------------------ model
    def apply(self) -> None:
        """Give every pane a copy of the original model with the listed edits in force."""
        self._swap(self.rows())

    def revert(self) -> None:
        """Give every pane the original model back."""
        self._swap([])

    def _swap(self, rows: list[EditRow]) -> None:
        if self.original is None or (rows == self.applied and self._job is None):
            self._show_status()
            return
        if self._job is not None:
            self._job.cancel()
        self.status.setText("applying edits…" if rows else "reverting to the original model…")
        self._job = self.run_job(_make_current, self.original, rows, name="apply edits" if rows else "revert edits",
                                 on_done=lambda model: self._on_swapped(model, rows))
        for signal in (self._job.sigFailed, self._job.sigCancelled):
            signal.connect(self._on_failed)

    def _on_swapped(self, model: LoadedModel, rows: list[EditRow]) -> None:
        self._job = None
        self.applied = rows
        self._mine = model
        self.service.sigModelChanged.emit(model)  # as a load does: the window and every pane follow
        self._show_status()

    def _on_failed(self, message: str = "") -> None:
        self._job = None
        self._show_status()
        if message:
            self.status.setText(f"{message}\n{self.status.text()}")

    def _on_model(self, model: LoadedModel) -> None:
        if model is self._mine or model is self.original:
            return
        self.original, self.applied, self._mine = model, [], None  # a newly loaded model: nothing in force
        self._show_status()

    def _show_status(self) -> None:
        model = self.service.model
        if not self.applied:
            text = "No edits in force: every pane shows the original model."
        else:
            text = f"In force: {', '.join(map(str, self.applied))}"
            if self.rows() != self.applied:
                text += " (the list differs: press Apply)"
        if model is not None:
            text += f"\nModel: {model.weights_description}"
        self.status.setText(text)
        self.revert_button.setEnabled(bool(self.applied))

    # ------------------------------------------------------------------ project
    def project_state(self) -> dict[str, Any]:
        rows = self.rows()
        if not rows:
            return {}
        return {"edits": [{"edit": r.edit, "scale": r.scale} for r in rows], "applied": bool(self.applied)}

    def restore_project_state(self, data: dict[str, Any]) -> None:
        rows = []
        for entry in data.get("edits") or []:
            if isinstance(entry, dict) and isinstance(entry.get("edit"), str) \
                    and isinstance(entry.get("scale", 0.0), (int, float)):
                rows.append(EditRow(entry["edit"], float(entry.get("scale", 0.0))))
        self.set_rows(rows)
        if data.get("applied") and rows:
            self.apply()
