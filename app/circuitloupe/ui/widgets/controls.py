"""Small constructors for the controls every pane sets up the same way."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtGui import QValidator
from typing import Callable

from PySide6.QtWidgets import QDoubleSpinBox, QPushButton, QSpinBox

from circuitloupe.core.imagenet import class_name


def spin_box(low: float, high: float, value: float, tip: str, step: float | None = None) -> QSpinBox | QDoubleSpinBox:
    """A spin box over [low, high] starting at ``value``: integer unless any bound is a float."""
    floating = any(isinstance(v, float) for v in (low, high, value, step))
    box = QDoubleSpinBox() if floating else QSpinBox()
    box.setRange(low, high)
    if step is not None:
        box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def button(text: str, tip: str, on_click: Callable[[], object]) -> QPushButton:
    """A push button with a tooltip that calls ``on_click`` when clicked."""
    push = QPushButton(text)
    push.setToolTip(tip)
    push.clicked.connect(lambda _checked=False: on_click())
    return push


def input_size_box(tip: str) -> QSpinBox:
    """An input size in pixels, 0 shown as "model" (the model's own input size)."""
    box = spin_box(0, 1024, 0, tip)
    box.setSpecialValueText("model")
    box.setSuffix(" px")
    return box


class ClassSpinBox(QSpinBox):
    """A class index that shows its name (``285 Egyptian cat``); typing the index still works."""

    def __init__(self, tip: str) -> None:
        super().__init__()
        self.labels: Sequence[str] | None = None
        self.setToolTip(tip)

    def set_labels(self, labels: Sequence[str] | None, count: int) -> None:
        """The model's class names (or None) and how many classes it has."""
        self.labels = labels
        self.setRange(0, max(0, count - 1))
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("0" * (22 if labels else 4)) + 30)
        self.lineEdit().setText(self.textFromValue(self.value()))

    def textFromValue(self, value: int) -> str:  # noqa: N802 (Qt API)
        return class_name(value, self.labels)

    def valueFromText(self, text: str) -> int:  # noqa: N802 (Qt API)
        digits = text.strip().split(" ", 1)[0]
        return int(digits) if digits.isdigit() else self.value()

    def validate(self, text: str, pos: int):  # noqa: D102 (Qt API)
        digits = text.strip().split(" ", 1)[0]
        state = QValidator.State.Acceptable if digits.isdigit() and self.minimum() <= int(digits) <= self.maximum() \
            else QValidator.State.Intermediate
        return state, text, pos
