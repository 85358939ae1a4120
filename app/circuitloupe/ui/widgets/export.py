"""Export a pane's figure to PNG at a chosen scale (File > Export PNG…, Ctrl+E)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QWidget)

from circuitloupe.core.figures import save_png
from circuitloupe.ui.settings import settings
from circuitloupe.ui.widgets.pane import Pane


class ExportDialog(QDialog):
    """Ask for a PNG path and a scale factor."""

    def __init__(self, default_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export PNG")
        self.path_edit = QLineEdit(str(export_folder() / f"{default_name}.png"))
        self.path_edit.setToolTip("Where to write the PNG")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit)
        row.addWidget(browse)
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.5, 8.0)
        self.scale.setSingleStep(0.5)
        self.scale.setValue(2.0)
        self.scale.setToolTip("Figure scale: 2 writes twice the pixels of the on-screen size (for print)")
        form = QFormLayout(self)
        form.addRow("File", row)
        form.addRow("Scale", self.scale)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", self.path_edit.text(), "PNG images (*.png)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".png") else path + ".png")


def export_folder() -> Path:
    """The folder of the last export (the home folder before the first one)."""
    folder = Path(str(settings().value("export_folder", "") or Path.home()))
    return folder if folder.is_dir() else Path.home()


def export_pane(pane: Pane, path: str | Path, scale: float) -> bool:
    """Render ``pane``'s figure at ``scale`` into ``path``; False when it has nothing to show."""
    image = pane.figure(scale)
    if image is None:
        return False
    save_png(image, path)
    return True


def export_with_dialog(pane: Pane) -> None:
    """Ask where (proposing the last folder and a name with model and unit), then export."""
    dialog = ExportDialog(pane.export_name(), pane)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    path = dialog.path_edit.text()
    if export_pane(pane, path, dialog.scale.value()):
        settings().setValue("export_folder", str(Path(path).resolve().parent))
        pane.state.message(f"exported {pane.title} to {path}")
    else:
        pane.state.message(f"{pane.title} has nothing to export yet")
