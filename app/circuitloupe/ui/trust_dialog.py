"""Ask before a project runs the Python model file it names (path and SHA-256 shown).

The decision logic is Qt-free in :mod:`circuitloupe.core.trust`; this module only asks.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from circuitloupe.core import trust
from circuitloupe.core.project import Project

TRUST_BUTTON = "Trust this file"


def ask(parent: QWidget | None, file: trust.ModelFile, project_path: Path) -> bool:
    """Show the file's path and SHA-256 and ask; True when the user picks "Trust this file"."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Run this model file?",
                      f"The project <b>{html.escape(project_path.name)}</b> loads its model from a Python file. "
                      "Loading it runs that file's code with your permissions.<br><br>Trust it only if you "
                      "know where the project and this file come from.", parent=parent)
    box.setObjectName("trust_box")
    box.setInformativeText(f"<p style='white-space:pre'>File:       <code>{html.escape(str(file.path))}</code><br>"
                           f"SHA-256: <code>{file.sha256}</code></p>")
    trust_button = box.addButton(TRUST_BUTTON, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(box.addButton("Don't open", QMessageBox.ButtonRole.RejectRole))
    box.exec()
    return box.clickedButton() is trust_button


def confirm_project_model(parent: QWidget | None, project: Project, project_path: str | Path) -> bool:
    """True when ``project``'s model file may run: none, trusted before with this content, or trusted
    now by the user (remembered for this path and content)."""
    file = trust.needs_consent(project)
    if file is None:
        return True
    if not ask(parent, file, Path(project_path)):
        return False
    trust.remember(file)
    return True
