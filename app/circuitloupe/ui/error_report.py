"""Errors never kill the app: they are logged to a rotating file and shown without blocking.

:class:`ErrorReporter` installs ``sys.excepthook`` (an exception in any slot, event handler or
timer lands there), ``threading.excepthook`` (worker threads) and a Qt message handler (Qt's own
warnings go to the log file). Each uncaught exception is written with its traceback to
``data_dir("logs")/circuitloupe.log`` (rotated at 1 MB, five old files kept) and shown in one
non-modal :class:`ErrorDialog` whose details can be copied. Job failures that are bugs (not a
user's mistake) are reported the same way by the main window.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QtMsgType, QUrl, Signal, qInstallMessageHandler
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout,
                               QWidget)

from circuitloupe.core.paths import data_dir

log = logging.getLogger("circuitloupe.errors")
LOG_NAME = "circuitloupe.log"
LOG_BYTES = 1_000_000
LOG_BACKUPS = 5


def log_file() -> Path:
    """The current log file (in the user's data folder)."""
    return data_dir("logs") / LOG_NAME


def setup_file_logging() -> RotatingFileHandler:
    """Send the ``circuitloupe`` loggers to the rotating log file (once per file)."""
    target = log_file()
    logger = logging.getLogger("circuitloupe")
    logger.setLevel(min(logger.level or logging.INFO, logging.INFO))
    for handler in list(logger.handlers):
        if isinstance(handler, RotatingFileHandler):
            if Path(handler.baseFilename) == target:
                return handler
            logger.removeHandler(handler)
            handler.close()
    handler = RotatingFileHandler(target, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
    logger.addHandler(handler)
    return handler


class ErrorDialog(QDialog):
    """A non-modal window listing the errors of this session, with copyable details."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error_dialog")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setWindowTitle("Circuit Loupe: something went wrong")
        self.resize(640, 380)
        self.count = 0
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint = QLabel("The app keeps running. The details below are also in the log file; "
                           "copy them into a bug report.")
        self.hint.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setToolTip("Tracebacks of this session's errors; select and copy freely")
        buttons = QDialogButtonBox()
        self.copy_button = QPushButton("Copy details")
        self.copy_button.setToolTip("Copy all error details to the clipboard")
        self.copy_button.clicked.connect(self.copy_details)
        self.log_button = QPushButton("Open log folder")
        self.log_button.setToolTip(f"Open {log_file().parent} in the file manager")
        self.log_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file().parent))))
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setToolTip("Hide this window (errors keep being logged)")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.log_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.hint)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def add(self, summary: str, details: str) -> None:
        """Append one error and show the window without taking the keyboard from the user."""
        self.count += 1
        more = f" ({self.count} errors this session)" if self.count > 1 else ""
        self.summary.setText(f"<b>{_escape(summary)}</b>{more}")
        separator = "\n" + "-" * 72 + "\n" if self.details.toPlainText() else ""
        self.details.appendPlainText(f"{separator}{summary}\n\n{details.rstrip()}")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.show()
        self.raise_()

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self.details.toPlainText())


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ErrorReporter(QObject):
    """Installs the exception hooks and the Qt message handler; shows errors in an ErrorDialog.

    ``sigError(summary, details)`` carries reports from any thread to the GUI thread.
    """

    sigError = Signal(str, str)

    def __init__(self, parent_window: QWidget | None = None) -> None:
        super().__init__(parent_window)
        self.window = parent_window
        self.dialog: ErrorDialog | None = None
        self._previous: tuple | None = None
        self._reporting = threading.local()
        self.sigError.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        """Take over ``sys.excepthook``, ``threading.excepthook`` and Qt's message handler."""
        setup_file_logging()
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook, qInstallMessageHandler(_qt_message))
        sys.excepthook = self.excepthook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        """Give the hooks back to whoever had them before :meth:`install`."""
        if self._previous is not None:
            sys.excepthook, threading.excepthook, qt_handler = self._previous
            qInstallMessageHandler(qt_handler)
            self._previous = None

    def excepthook(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        """Log and show an uncaught exception; Ctrl+C still quits."""
        if issubclass(kind, KeyboardInterrupt):
            if self._previous is not None:
                self._previous[0](kind, error, tb)
            return
        self.report(f"{kind.__name__}: {error}", "".join(traceback.format_exception(kind, error, tb)))

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "a thread"
        self.report(f"{args.exc_type.__name__} in {name}: {args.exc_value}",
                    "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    def report(self, summary: str, details: str) -> None:
        """Write an error to the log file and show it (safe to call from any thread)."""
        if getattr(self._reporting, "active", False):  # an error while reporting: log only
            sys.__stderr__.write(details)
            return
        self._reporting.active = True
        try:
            log.error("%s\n%s", summary, details.rstrip())
            self.sigError.emit(summary, details)
        finally:
            self._reporting.active = False

    def _show(self, summary: str, details: str) -> None:
        if self.dialog is None:
            self.dialog = ErrorDialog(self.window)
        self.dialog.add(summary, details)


_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}


def _qt_message(kind: QtMsgType, context, message: str) -> None:
    """Qt's own messages go to the log (file and log pane) instead of the terminal only."""
    where = f" ({context.file}:{context.line})" if context is not None and context.file else ""
    logging.getLogger("circuitloupe.qt").log(_QT_LEVELS.get(kind, logging.WARNING), "%s%s", message, where)
