"""Log pane: every message, warning and error of this session, copyable."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPlainTextEdit, QVBoxLayout

from circuitloupe.ui.widgets.pane import Pane, dock_pane


class _Relay(QObject):
    sigLine = Signal(str)


class _QtLogHandler(logging.Handler):
    """Forwards log records from any thread to the GUI thread through a signal."""

    def __init__(self, relay: _Relay) -> None:
        super().__init__(logging.INFO)
        self.relay = relay
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.relay.sigLine.emit(self.format(record))


@dock_pane("log")
class LogPane(Pane):

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        self.text.setToolTip("Messages and errors of this session; select and copy freely")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.text)
        self._relay = _Relay()
        self._relay.sigLine.connect(self.text.appendPlainText)
        self._handler = _QtLogHandler(self._relay)
        logging.getLogger("circuitloupe").addHandler(self._handler)
        state.sigMessage.connect(self._on_message)
        self.destroyed.connect(lambda *_: logging.getLogger("circuitloupe").removeHandler(self._handler))

    def _on_message(self, text: str) -> None:
        self.text.appendPlainText(text)

    def lines(self) -> list[str]:
        return self.text.toPlainText().splitlines()
