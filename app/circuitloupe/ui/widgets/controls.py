"""Small constructors for the controls every pane sets up the same way."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox


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
