"""The dialog for a model whose weights could not be downloaded (offline, a proxy, a firewall).

It says why, names the URL, and offers the two ways on: open a local copy of the weights file,
or open a model whose weights came with the app (EfficientNet-Lite0) instead.
"""

from __future__ import annotations

import html
import re
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

_URL = re.compile(r"https?://[^\s()]+[^\s().,;]")


def is_download_failure(message: str) -> bool:
    return message.startswith("could not download ") or " could not download " in message


def offline_alternative(failed: str) -> str | None:
    """The first zoo model whose weights came with the app (EfficientNet-Lite0), other than ``failed``."""
    from circuitloupe.core.models import zoo

    return next((e.name for e in zoo.entries()
                 if e.offline and e.name != failed and e.default_weights_available()), None)


def show_missing_weights(parent: QWidget, spec: str, message: str, open_weights: Callable[[], None],
                         open_model: Callable[[str], None]) -> QMessageBox:
    """A non-modal box: why ``spec`` did not load, the URL, "Open weights file…" and "Open X instead"."""
    url = next(iter(_URL.findall(message)), None)
    box = QMessageBox(parent)
    box.setObjectName("missing_weights_box")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(f"{spec}: weights not available")
    box.setTextFormat(Qt.TextFormat.RichText)
    where = f' from <a href="{html.escape(url)}">{html.escape(url)}</a>' if url else ""
    box.setText(f"<b>{html.escape(spec)}'s weights could not be downloaded</b>{where}.<br>They download once; "
                "offline, open a copy of the file you saved elsewhere, or continue with a model whose "
                "weights came with Circuit Loupe.")
    reason = message.split(").", 1)[0] + ")." if ")." in message else message  # not the CLI's hint
    box.setInformativeText(html.escape(reason))
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    open_file = box.addButton("Open weights file…", QMessageBox.ButtonRole.ActionRole)
    open_file.setToolTip(f"Load {spec} with a local .pth or .safetensors file")
    open_file.clicked.connect(open_weights)
    alternative = offline_alternative(spec)
    if alternative is not None:
        other = box.addButton(f"Open {alternative} instead", QMessageBox.ButtonRole.AcceptRole)
        other.setObjectName("open_alternative")
        other.setToolTip(f"{alternative}: its weights came with the app, so it works offline")
        other.clicked.connect(lambda: open_model(alternative))
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
