"""The main window: model picker, unit picker, dock panes, status bar and menus."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QLabel, QLineEdit,
                               QMainWindow, QMessageBox, QProgressBar, QToolBar, QWidget)

from circuitloupe import __version__
from circuitloupe.core.errors import UserError
from circuitloupe.core.images import IMAGE_SUFFIXES
from circuitloupe.core.models import zoo
from circuitloupe.core.paths import data_dir
from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.panes import pane_classes
from circuitloupe.ui.state import AppState
from circuitloupe.ui.widgets.export import export_with_dialog
from circuitloupe.ui.widgets.pane import Pane

log = logging.getLogger(__name__)
OPEN_MODEL_FILE = "Open model file…"


def settings() -> QSettings:
    """Window layout and last model, stored in the user's data folder."""
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, service: InferenceService, state: AppState | None = None) -> None:
        super().__init__()
        self.service = service
        self.state = state or AppState()
        self.setWindowTitle("Circuit Loupe")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self.setDockNestingEnabled(True)
        self.panes: dict[str, Pane] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._active_pane: Pane | None = None
        self._weights: str | None = None

        self._build_toolbar()
        self._build_panes()
        self._build_menus()
        self._build_status_bar()
        service.sigModelChanged.connect(self._on_model_loaded)
        service.sigSubmitted.connect(self._follow_job)
        self.state.sigUnitChanged.connect(lambda unit: self.unit_edit.setText(str(unit)))
        self.state.sigMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        self._restore_layout()

    # ----------------------------------------------------------------- construction
    def _build_toolbar(self) -> None:
        bar = QToolBar("Model")
        bar.setObjectName("model_toolbar")
        self.addToolBar(bar)
        bar.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumWidth(220)
        self.model_combo.setToolTip("Pick a zoo model, type any torchvision classifier name, or open a "
                                    "model file (path/to/file.py:factory)")
        for entry in zoo.entries():
            self.model_combo.addItem(entry.name)
            self.model_combo.setItemData(self.model_combo.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.insertSeparator(self.model_combo.count())
        for name in ("googlenet", "alexnet", "vgg16", "resnet50"):
            self.model_combo.addItem(name)
        self.model_combo.addItem(OPEN_MODEL_FILE)
        self.model_combo.lineEdit().returnPressed.connect(lambda: self._on_model_picked(self.model_combo.currentText()))
        self.model_combo.activated.connect(lambda i: self._on_model_picked(self.model_combo.itemText(i)))
        bar.addWidget(self.model_combo)
        self.random_weights = QAction("Random weights", self)
        self.random_weights.setCheckable(True)
        self.random_weights.setToolTip("Load the model with seeded random weights (seed 0) instead of trained ones")
        bar.addAction(self.random_weights)
        bar.addSeparator()
        bar.addWidget(QLabel(" Unit "))
        self.unit_edit = QLineEdit()
        self.unit_edit.setPlaceholderText("mixed3b:379")
        self.unit_edit.setMaximumWidth(200)
        self.unit_edit.setToolTip("Type a unit (layer:channel, e.g. mixed3b:379 or 3b:379) and press Enter")
        self.unit_edit.returnPressed.connect(self._on_unit_typed)
        bar.addWidget(self.unit_edit)

    def _build_panes(self) -> None:
        for cls in pane_classes():
            pane = cls(self.service, self.state)
            dock = QDockWidget(pane.title, self)
            dock.setObjectName(f"dock_{pane.object_name}")
            dock.setWidget(pane)
            self.addDockWidget(pane.area, dock)
            self.panes[pane.object_name] = pane
            self.docks[pane.object_name] = dock
        by_area: dict = {}
        for name, dock in self.docks.items():
            by_area.setdefault(self.panes[name].area, []).append(dock)
        for docks in by_area.values():
            for other in docks[1:]:
                self.tabifyDockWidget(docks[0], other)
            docks[0].raise_()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu
        self._action(file_menu, "Open image…", QKeySequence.StandardKey.Open, self.open_image_dialog,
                     "Open an image file to analyse (or drop one on the window)")
        self._action(file_menu, "Open model file…", None, self.open_model_file_dialog,
                     "Open a Python file with a model factory (file.py:factory)")
        self._action(file_menu, "Open weights…", None, self.open_weights_dialog,
                     "Load the current model's weights from a local .pth or .safetensors file")
        file_menu.addSeparator()
        self._action(file_menu, "Export PNG…", "Ctrl+E", self.export_active,
                     "Export the active pane's figure to PNG at a chosen scale")
        self._action(file_menu, "Copy as CLI command", "Ctrl+Shift+C", self.copy_cli_command,
                     "Copy the command line that reproduces the active pane's figure")
        file_menu.addSeparator()
        self._action(file_menu, "Quit", QKeySequence.StandardKey.Quit, self.close, "Quit Circuit Loupe")
        self.view_menu = self.menuBar().addMenu("&View")
        for name, dock in self.docks.items():
            action = dock.toggleViewAction()
            shortcut = self.panes[name].shortcut
            if shortcut:
                action.setShortcut(shortcut)
            self.view_menu.addAction(action)
        self.help_menu = self.menuBar().addMenu("&Help")
        self._action(self.help_menu, "About Circuit Loupe", None, self.show_about, "Versions and licences")

    def _action(self, menu, text: str, shortcut, slot, tip: str) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.job_label = QLabel("")
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(180)
        self.job_bar.setVisible(False)
        self.model_label = QLabel("no model")
        self.device_label = QLabel(f"device: {self.service.device}")
        for widget in (self.job_label, self.job_bar, self.model_label, self.device_label):
            bar.addPermanentWidget(widget)

    # ----------------------------------------------------------------- models
    def load_model(self, spec: str, weights: str | None = None) -> Job:
        """Load ``spec`` on the service; the panes follow when it is ready."""
        if weights is None and self.random_weights.isChecked():
            weights = "random:0"
        self.model_label.setText(f"loading {spec}…")
        job = self.service.load(spec, weights)
        job.sigFailed.connect(self._on_model_failed)
        return job

    def _on_model_picked(self, text: str) -> None:
        if text == OPEN_MODEL_FILE:
            self.open_model_file_dialog()
        elif text and (self.state.model is None or text != self.state.model.spec):
            self.load_model(text.strip())

    def _on_model_loaded(self, model) -> None:
        self.model_label.setText(f"{model.name} · {model.weights_description}")
        self.model_combo.setCurrentText(model.spec)
        self.state.set_model(model)
        self.state.message(f"loaded {model.spec}: {len(model.catalogue)} layers, {model.weights_description}")
        if not model.weights_id.startswith("random"):
            settings().setValue("last_model", model.spec)

    def _on_model_failed(self, message: str) -> None:
        current = self.state.model
        self.model_label.setText(f"{current.name} · {current.weights_description}" if current else "no model")
        self.state.message(message)

    def open_model_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model file", str(Path.home()), "Python files (*.py)")
        if path:
            from PySide6.QtWidgets import QInputDialog

            factory, ok = QInputDialog.getText(self, "Factory", "Function that returns the model:", text="build")
            if ok and factory:
                self.load_model(f"{path}:{factory}")

    def open_weights_dialog(self) -> None:
        if self.state.model is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open weights", str(Path.home()),
                                              "Weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.load_model(self.state.model.spec, path)

    # ----------------------------------------------------------------- units, images
    def _on_unit_typed(self) -> None:
        try:
            self.state.activate_unit(self.unit_edit.text())
        except UserError as error:
            self.state.message(str(error))

    def open_image_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(Path.home()), f"Images ({patterns})")
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        try:
            self.state.open_image_file(path)
            self.state.message(f"opened {path}")
        except UserError as error:
            self.state.message(str(error))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_image(url.toLocalFile())
                break

    # ----------------------------------------------------------------- export, status
    def _on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        widget = new
        while widget is not None and not isinstance(widget, Pane):
            widget = widget.parentWidget()
        if widget is not None:
            self._active_pane = widget

    def active_pane(self) -> Pane | None:
        if self._active_pane is not None and self._active_pane.isVisible():
            return self._active_pane
        return next((p for p in self.panes.values() if p.isVisible() and p.figure() is not None), None)

    def export_active(self) -> None:
        pane = self.active_pane()
        if pane is None:
            self.state.message("no pane has a figure to export yet")
            return
        export_with_dialog(pane)

    def copy_cli_command(self) -> None:
        pane = self.active_pane()
        command = pane.cli_command() if pane is not None else None
        if command:
            QGuiApplication.clipboard().setText(command)
            self.state.message(f"copied: {command}")
        else:
            self.state.message("the active pane has no command to copy")

    def _follow_job(self, job: Job) -> None:
        def started() -> None:
            self.job_label.setText(job.name)
            self.job_bar.setVisible(True)
            self.job_bar.setRange(0, 0)

        def progress(step: int, total: int, _preview) -> None:
            self.job_bar.setRange(0, max(total, 1))
            self.job_bar.setValue(step)

        def done(*_args) -> None:
            self.job_bar.setVisible(False)
            self.job_label.setText("")

        job.sigStarted.connect(started)
        job.sigProgress.connect(progress)
        for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
            signal.connect(done)

    def show_about(self) -> None:
        import torch

        QMessageBox.about(self, "About Circuit Loupe",
                          f"Circuit Loupe {__version__}\nPyTorch {torch.__version__}\nDevice: {self.service.device}")

    # ----------------------------------------------------------------- persistence
    def _restore_layout(self) -> None:
        stored = settings()
        geometry, layout = stored.value("geometry"), stored.value("window_state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if layout is not None:
            self.restoreState(layout)

    def closeEvent(self, event) -> None:
        stored = settings()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("window_state", self.saveState())
        self.service.shutdown()
        super().closeEvent(event)


def last_model_spec() -> str | None:
    value = settings().value("last_model")
    return str(value) if value else None
