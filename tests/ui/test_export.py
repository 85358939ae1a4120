"""Export PNG: the dialog proposes a file name with model and unit, in the folder of the last export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog

from circuitloupe.ui.panes.activations import ActivationsPane
from circuitloupe.ui.state import AppState
from circuitloupe.ui.widgets import export


def test_export_dialog_proposes_model_and_unit_and_remembers_the_folder(qtbot, service, inception, tmp_path,
                                                                        monkeypatch):
    import numpy as np

    state = AppState()
    pane = ActivationsPane(service, state)
    qtbot.addWidget(pane)
    state.set_model(inception)
    state.set_unit("mixed3b:379")
    from PIL import Image

    stripes = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    Image.fromarray(stripes).convert("RGB").save(tmp_path / "stripes.png")  # the activations task reads the file
    state.open_image_file(tmp_path / "stripes.png")
    qtbot.waitUntil(lambda: pane.activation is not None, timeout=30_000)
    proposed = []

    def accept(dialog) -> int:  # the user keeps the proposed name, in a folder of their choice
        proposed.append(Path(dialog.path_edit.text()))
        dialog.path_edit.setText(str(tmp_path / "figures" / proposed[-1].name))
        return QDialog.DialogCode.Accepted

    (tmp_path / "figures").mkdir()
    monkeypatch.setattr(export.ExportDialog, "exec", accept)
    export.export_with_dialog(pane)
    assert proposed[0].name == "inceptionv1_mixed3b-379_activations.png"
    assert (tmp_path / "figures" / proposed[0].name).is_file()
    state.set_unit("mixed3a:7")
    export.export_with_dialog(pane)
    assert proposed[1] == tmp_path / "figures" / "inceptionv1_mixed3a-7_activations.png"  # the last folder
