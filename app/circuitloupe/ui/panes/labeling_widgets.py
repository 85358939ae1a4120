"""The Labeling pane's dialogs and Options menu: New session (folder, by default the one just
scanned; unit; sampling plan, whose bins follow the data unless a width is given; label set),
Edit labels, and the menu of labeller, breaks, reveal and reference image."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMenu, QPlainTextEdit, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget, QWidgetAction)

from circuitloupe.core import figures
from circuitloupe.core.dataset import ScanSettings
from circuitloupe.core.labeling import BUILTIN, DEFAULT_LABELLER, SamplingPlan
from circuitloupe.core.labeling.sampling import DEFAULT_BINS, OVER
from circuitloupe.ui.widgets.controls import input_size_box, spin_box


class NewSessionDialog(QDialog):
    """Folder (or the open atlas), unit, sampling plan and label set of a new session."""

    def __init__(self, unit: str, folder: str | None = None, parent: QWidget | None = None,
                 atlas: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New labeling session")
        self.source = QComboBox()
        self.source.addItem("the folder (scanned, or its cache reused)", None)
        if atlas:
            self.source.addItem(f"the open atlas {Path(atlas).name} (its sample of positions, no scan)", atlas)
            self.source.setCurrentIndex(1)
        self.source.setToolTip("Where the candidates come from: every position of the scanned folder, or the "
                               "positions the atlas sampled for the unit's layer (instant; the atlas's images)")
        self.folder = QLineEdit(folder or "")
        self.folder.setToolTip("Folder of images to sample from (scanned first, or its cache reused); the folder "
                               "the Dataset pane scanned last is offered")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder)
        folder_row.addWidget(browse)
        self.unit = QLineEdit(unit)
        self.unit.setToolTip("The unit whose activation the sample is stratified by")
        self.name = QLineEdit()
        self.name.setPlaceholderText("session name (kept in the data folder) or a .labels path")
        self.bin_width = spin_box(0.0, 1e6, 0.0, "Activation bin width; \"from the data\": a round width giving "
                                  "about the number of bins below over the unit's observed range (the article "
                                  "used 100 for InceptionV1 mixed3b:379)")
        self.bin_width.setDecimals(4)
        self.bin_width.setSpecialValueText("from the data")
        self.bins = spin_box(2, 1000, DEFAULT_BINS, "About how many bins over the observed range, when the width "
                             "comes from the data")
        self.bin_width.valueChanged.connect(lambda width: self.bins.setEnabled(width == 0))
        self.per_bin = spin_box(1, 100000, 50, "Items drawn from each bin, without replacement")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Sampling seed: the same plan and seed give the same items in the same order")
        self.over = QComboBox()
        self.over.addItems(list(OVER))
        self.over.setToolTip("positions: every receptive field of every image is a candidate; images: one per "
                             "image, at its maximum")
        self.labels = QComboBox()
        self.labels.addItems(list(BUILTIN))
        self.labels.setToolTip("Label set (editable later with Edit labels…)")
        self.size = input_size_box("Scan input size (\"model\": the model's own input size)")
        form = QFormLayout(self)
        for label, widget in (("Sample from", self.source), ("Folder", folder_row), ("Unit", self.unit),
                              ("Session", self.name),
                              ("Bin width", self.bin_width), ("Bins", self.bins), ("Per bin", self.per_bin),
                              ("Seed", self.seed), ("Sample over", self.over), ("Labels", self.labels),
                              ("Input size", self.size)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        if folder:
            self._name_after(folder)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder", self.folder.text() or str(Path.home()))
        if folder:
            self.folder.setText(folder)
            self._name_after(folder)

    def _name_after(self, folder: str) -> None:
        if not self.name.text():
            self.name.setText(f"{self.unit.text().replace(':', '-')}-{Path(folder).name}")

    def atlas(self) -> str | None:
        """The atlas folder to sample from, or None to scan the folder."""
        return self.source.currentData()

    def plan(self) -> SamplingPlan:
        width = self.bin_width.value()
        return SamplingPlan(width or None, self.per_bin.value(), self.seed.value(), self.over.currentText(),
                            bins=self.bins.value())

    def settings(self) -> ScanSettings:
        size = self.size.value()
        return ScanSettings(size=(size, size) if size else None, workers=2)


def wrapped_label(tip: str = "", centred: bool = False) -> QLabel:
    """An empty word-wrapped label (text set later), top-aligned or centred."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter if centred else Qt.AlignmentFlag.AlignTop)
    label.setToolTip(tip)
    return label


def edit_label_text(text: str, parent: QWidget | None = None) -> str | None:
    """Let the user edit a label set's text form; the new text, or None when cancelled."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Edit labels")
    edit = QPlainTextEdit(text)
    edit.setToolTip("One label per line: name: description. A * before the name marks labels that count as the "
                    "feature (summed in the results headline). Lines are matched to the old labels by position, "
                    "so renaming keeps answers.")
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(edit)
    layout.addWidget(buttons)
    return edit.toPlainText() if dialog.exec() == QDialog.DialogCode.Accepted else None


class LabelingOptions(QToolButton):
    """The pane's Options menu: labeller name, break reminders, reveal after answering, label
    set and reference image; the pane connects to the widgets and actions it exposes."""

    def __init__(self, edit_labels: Callable[[], None], featurevis_reference: Callable[[], None],
                 file_reference: Callable[[], None]) -> None:
        super().__init__()
        self.setText("Options")
        self.setToolTip("Labeller name, break reminders, reveal after answering, label set, reference image")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        self.labeller = QLineEdit(DEFAULT_LABELLER)
        self.labeller.setToolTip("Your name: answers are kept per labeller, so two people can label one session "
                                 "and compare (Results tab)")
        self.break_every = spin_box(0, 10000, 100, "Remind me to rest after this many answers (afterimages bias "
                                    "judgements)")
        self.break_every.setSpecialValueText("never")
        self.break_every.setSuffix(" answers")
        fields = QWidget()
        form = QFormLayout(fields)
        form.addRow("Labeller", self.labeller)
        form.addRow("Break every", self.break_every)
        holder = QWidgetAction(menu)
        holder.setDefaultWidget(fields)
        menu.addAction(holder)
        self.reveal_after = menu.addAction("Reveal after answering")
        self.reveal_after.setCheckable(True)
        self.reveal_after.setToolTip("After each answer, show that item's activation and attribution. Off (blind): "
                                     "press R on an answered item to reveal it")
        menu.addAction("Edit labels…", edit_labels)
        menu.addSeparator()
        menu.addAction("Reference: the unit's feature visualisation", featurevis_reference)
        menu.addAction("Reference: an image file…", file_reference)
        self.render_reference = menu.addAction("Render the visualisation when none is cached")
        self.render_reference.setCheckable(True)
        self.render_reference.setChecked(True)
        self.setMenu(menu)


class FillLayout(QVBoxLayout):
    """Fills the dock (down to the pane's minimum size): without this, the word-wrapped labels'
    height-for-width makes the dock's scroll area grow the pane to its preferred height."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        return False


def display_image(pixels: np.ndarray, size: int) -> np.ndarray:
    """An image scaled (smoothly) so its longer side is ``size`` pixels, as uint8 [h, w, 3]."""
    return np.asarray(figures.upscale(figures.to_pil(pixels).convert("RGB"), size, smooth=True))
