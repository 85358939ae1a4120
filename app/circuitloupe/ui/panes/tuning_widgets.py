"""The Tuning pane's "Stimulus style" group: the TuningRequest fields that say how every stimulus of
every sweep is drawn (:class:`circuitloupe.core.stimuli.StimulusStyle`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QHBoxLayout, QLabel

from circuitloupe.ui.widgets.controls import spin_box

#: Colours offered in the lists (any grey level 0-1, colour name or #rrggbb may be typed).
COLOURS = ("black", "white", "0.5", "red", "green", "blue", "yellow")


def colour_box(value: str, tip: str) -> QComboBox:
    box = QComboBox()
    box.setEditable(True)
    box.addItems(COLOURS)
    box.setCurrentText(value)
    box.setToolTip(tip)
    box.setMinimumContentsLength(6)
    return box


class StimulusStyleBox(QGroupBox):
    """Foreground and background colours, contrast polarity, stroke width, filled and textured."""

    def __init__(self) -> None:
        super().__init__("Stimulus style")
        self.setToolTip("How every stimulus is drawn, for every sweep (map, radial, joint, morph); "
                        "Generality varies the style itself and ignores these")
        self.fg = colour_box("black", "Stroke colour: a grey level 0-1, a colour name or #rrggbb (--fg)")
        self.bg = colour_box("white", "Background colour (--bg)")
        self.invert = QCheckBox("invert")
        self.invert.setToolTip("Contrast polarity: the negative image, light on dark (--invert)")
        self.width = spin_box(0.0, 64.0, 0.0, "Stroke width in pixels at the model's input size; auto = 1.5% "
                                              "of it, at least 1.5 px (--stroke-width)", step=0.5)
        self.width.setSpecialValueText("auto")
        self.filled = QCheckBox("filled")
        self.filled.setToolTip("Fill the region between each stroke and the chord joining its ends (--filled)")
        self.texture = QCheckBox("texture")
        self.texture.setToolTip("Textured background: the background colour times grey low-pass noise (--texture)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for label, widget in (("fg", self.fg), ("bg", self.bg), (None, self.invert), ("width", self.width),
                              (None, self.filled), (None, self.texture)):
            if label:
                layout.addWidget(QLabel(label))
            layout.addWidget(widget)
        layout.addStretch(1)

    def values(self) -> dict[str, Any]:
        """The TuningRequest fields the controls describe."""
        return {"fg": self.fg.currentText().strip(), "bg": self.bg.currentText().strip(),
                "invert": self.invert.isChecked(), "stroke_width": self.width.value() or None,
                "filled": self.filled.isChecked(), "texture": self.texture.isChecked()}
