"""The main window: model picker, unit picker, dock panes, projects, themes, menus, status bar.

Over 600 lines: the window still holds project/autosave and model loading beside the
layout; splitting them into controllers is the part of issue 15 left to do.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QFrame, QLabel, QLineEdit,
                               QMainWindow, QMessageBox, QProgressBar, QScrollArea, QTabBar, QToolBar, QWidget)

from circuitloupe.core import project as projects
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import data_dir
from circuitloupe.core.project import Project, ProjectError
from circuitloupe.core.resources import resource_path
from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.dock_title import PaneTitleBar
from circuitloupe.ui.error_report import ErrorReporter
from circuitloupe.ui.layout import arrange, fit_to_screen, unelide_tabs
from circuitloupe.ui.missing_weights import is_download_failure, show_missing_weights
from circuitloupe.ui.panes import pane_classes
from circuitloupe.ui.state import AppState, OpenImage
from circuitloupe.ui.theme import MODES, ThemeManager
from circuitloupe.ui.trust_dialog import confirm_project_model
from circuitloupe.ui.widgets.pane import Pane

log = logging.getLogger(__name__)
OPEN_MODEL_FILE = "Open model file…"
AUTOSAVE_MS = 30_000
PROJECT_FILTER = f"Circuit Loupe projects (*{projects.SUFFIX});;All files (*)"


def settings() -> QSettings:
    """Window layout, theme and last model, stored in the user's data folder."""
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)


def app_icon() -> QIcon:
    """The Circuit Loupe icon (SVG plus rendered PNG sizes from resources/icons)."""
    icon = QIcon()
    folder = resource_path("icons")
    for png in sorted(folder.glob("circuitloupe-*.png")):
        icon.addFile(str(png))
    svg = folder / "circuitloupe.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    return icon


def _scrolling(pane: Pane) -> QScrollArea:
    """The pane in a frameless scroll area: a dock can shrink below the pane's minimum size (small
    screens, many docks side by side) and the pane scrolls instead of pushing the window wider."""
    area = QScrollArea()
    area.setObjectName(f"scroll_{pane.object_name}")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(pane)
    return area


def _shortcut_order(shortcut: str | None) -> tuple[int, str]:
    """Ctrl+1 … Ctrl+9, then Ctrl+0 (the keyboard's order), then other shortcuts, then none."""
    digit = shortcut[-1] if shortcut and shortcut.startswith("Ctrl+") and len(shortcut) == 6 else ""
    if digit.isdigit():
        return (int(digit) or 10, "")
    return (11 if shortcut else 12, shortcut or "")


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64()).decode("ascii")


def _unb64(text: str | None) -> QByteArray | None:
    return QByteArray.fromBase64(text.encode("ascii")) if text else None


class MainWindow(QMainWindow):
    """``deferred``: show at once with the toolbar and status bar only, and build the panes,
    menus and welcome screen when the service's worker has imported torch (``sigReady``), so
    the window appears before torch is imported. Otherwise (tests, scripts) build everything
    now, waiting for the worker if need be."""

    def __init__(self, service: InferenceService, state: AppState | None = None, theme: str | None = None,
                 deferred: bool = False) -> None:
        super().__init__()
        self.service = service
        self.state = state or AppState()
        app = QApplication.instance()
        stored_theme = str(settings().value("theme", "system"))
        self.theme = app.findChild(ThemeManager) or ThemeManager(app)
        self.theme.set_mode(theme or (stored_theme if stored_theme in MODES else "system"))
        self.errors = ErrorReporter(self)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        fit_to_screen(self)
        self.setDockNestingEnabled(True)
        self.panes: dict[str, Pane] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.open_images: list[str] = []
        self.project_path: Path | None = None
        self._saved_snapshot: dict | None = None
        self._autosaved_snapshot: dict | None = None
        self._pending_project: Project | None = None
        self._active_pane: Pane | None = None
        self._weights: str | None = None
        self._jobs: weakref.WeakSet[Job] = weakref.WeakSet()  # queued or running (the service holds them)
        self._docks_before_welcome: list[str] | None = None
        self._clean_when_restored = False
        self._requested_weights: dict[str, str | None] = {}  # spec -> weights asked for
        self._loading_spec: str | None = None
        self._ready = False  # panes, menus and welcome screen built
        self._when_ready: list[Callable[[], Any]] = []
        self._first_start = False
        self.welcome = None

        self._build_toolbar()
        self._build_status_bar()
        service.sigModelChanged.connect(self._on_model_loaded)
        service.sigSubmitted.connect(self._follow_job)
        if deferred:
            self.model_label.setText("starting…")
            service.sigReady.connect(self._build_rest)
            if service.wait_ready(0):
                QTimer.singleShot(0, self._build_rest)
        else:
            service.wait_ready()
            self._build_rest()

    def _build_rest(self, *_args) -> None:
        """Everything that needs torch (panes, the zoo's model list, the welcome screen)."""
        if self._ready:
            return
        self._fill_model_combo()
        self.device_label.setText(f"device: {self.service.device}")
        self.model_label.setText("no model")
        import pyqtgraph  # noqa: F401 (the panes' plots): the theme sets its colours now

        self.theme.set_mode(self.theme.mode)
        self._build_panes()
        self._build_welcome()
        self._build_menus()
        from circuitloupe.ui.widgets.samples_menu import install_samples_menu  # File > Sample images
        install_samples_menu(self.file_menu, self.state, self.open_image)
        self.state.sigUnitChanged.connect(lambda unit: self.unit_edit.setText(str(unit)))
        self.state.sigMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        for signal in (self.state.sigModelChanged, self.state.sigUnitChanged, self.state.sigImageChanged):
            signal.connect(lambda *_: self._update_title())
        if "notes" in self.panes:
            self.panes["notes"].sigEdited.connect(self._update_title)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        self._restore_layout()
        self._ready = True
        self._saved_snapshot = self._snapshot()
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        self._autosave_timer.start()
        self._update_title()
        if self._first_start and self.isVisible():
            self._first_start = False
            arrange(self, self.docks)
        pending, self._when_ready = self._when_ready, []
        for fn in pending:
            fn()

    def when_ready(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` once the panes are built (now, if they are)."""
        if self._ready:
            fn()
        else:
            self._when_ready.append(fn)

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
        # Enter on a listed name also emits ``activated``: typed names not in the list go through
        # returnPressed, listed ones through activated, so one choice loads once.
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.lineEdit().returnPressed.connect(self._on_model_typed)
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

    def _fill_model_combo(self) -> None:
        from circuitloupe.core.models import zoo

        text = self.model_combo.currentText()
        for entry in zoo.entries():
            self.model_combo.addItem(entry.name)
            self.model_combo.setItemData(self.model_combo.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.insertSeparator(self.model_combo.count())
        for name in ("googlenet", "alexnet", "vgg16", "resnet50"):
            self.model_combo.addItem(name)
        self.model_combo.addItem(OPEN_MODEL_FILE)
        self.model_combo.setCurrentText(text)

    def _build_panes(self) -> None:
        for cls in pane_classes():
            pane = cls(self.service, self.state)
            dock = QDockWidget(pane.title, self)
            dock.setObjectName(f"dock_{pane.object_name}")
            dock.setWidget(_scrolling(pane))
            dock.setTitleBarWidget(PaneTitleBar(dock, pane, self.export_pane, self.copy_pane_command))
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

    def _build_welcome(self) -> None:
        from circuitloupe.ui.welcome import WelcomeScreen

        self.welcome = WelcomeScreen()
        self.welcome.show_at_start.setChecked(self.welcome_at_start())
        self.welcome.sigOpenModel.connect(self._start_with_model)
        self.welcome.sigOpenProject.connect(self.open_project)
        self.welcome.sigBrowseProject.connect(self.open_project_dialog)
        self.welcome.sigShowAtStartChanged.connect(lambda on: settings().setValue("show_welcome", on))
        self.welcome.hide()  # the central widget only while shown: without one the docks share the window

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.file_menu = file_menu
        self._action(file_menu, "New project", QKeySequence.StandardKey.New, self.new_project,
                     "Start a new, empty project (the current one is autosaved first)")
        self._action(file_menu, "Open project…", QKeySequence.StandardKey.Open, self.open_project_dialog,
                     "Open a saved project: model, images, families, notes, label sessions and layout")
        self.recent_menu = file_menu.addMenu("Recent projects")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(file_menu, "Save project", QKeySequence.StandardKey.Save, self.save_project,
                     "Save the project (model, images, families, notes, label sessions, layout)")
        self._action(file_menu, "Save project as…", QKeySequence.StandardKey.SaveAs, self.save_project_as,
                     "Save the project under a new file name")
        file_menu.addSeparator()
        self._action(file_menu, "Open image…", "Ctrl+I", self.open_image_dialog,
                     "Open an image file to analyse (or drop one on the window)")
        self._action(file_menu, "Open model file…", None, self.open_model_file_dialog,
                     "Open a Python file with a model factory (file.py:factory)")
        self._action(file_menu, "Open atlas…", None, self.open_atlas_dialog,
                     "Open an atlas folder (circuitloupe atlas build): unit cards show its statistics and examples")
        self._action(file_menu, "Open weights…", None, lambda: self.open_weights_dialog(),
                     "Load the current model's weights from a local .pth or .safetensors file")
        file_menu.addSeparator()
        self._action(file_menu, "Export PNG…", "Ctrl+E", self.export_active,
                     "Export the active pane's figure to PNG at a chosen scale")
        self._action(file_menu, "Copy as CLI command", "Ctrl+Shift+C", self.copy_cli_command,
                     "Copy the command line that reproduces the active pane's figure")
        file_menu.addSeparator()
        self._action(file_menu, "Quit", "Ctrl+Q", self.close, "Quit Circuit Loupe")

        self.view_menu = self.menuBar().addMenu("&View")
        # Ctrl+1 … Ctrl+0 show, raise and focus a pane; they never hide one (a dock's own close
        # button does), so pressing one twice, or on a pane tabbed behind another, brings it up.
        self.pane_actions: dict[str, QAction] = {}
        for name in sorted(self.panes, key=lambda n: _shortcut_order(self.panes[n].shortcut)):
            title = self.panes[name].title
            self.pane_actions[name] = self._action(self.view_menu, title, self.panes[name].shortcut,
                                                   lambda _=False, n=name: self.show_pane(n),
                                                   f"Show, raise and focus the {title} pane")
        self.view_menu.addSeparator()
        self._action(self.view_menu, "Welcome screen", None, self.show_welcome,
                     "Show the start page: open InceptionV1, the bundled model or a project")
        theme_menu = self.view_menu.addMenu("Theme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for mode in MODES:
            label = "Follow the system" if mode == "system" else mode.capitalize()
            action = self._action(theme_menu, label, None, lambda _=False, m=mode: self.set_theme(m),
                                  f"Use the {mode} colour theme" if mode != "system" else
                                  "Light or dark as the operating system says, changing when it does")
            action.setCheckable(True)
            action.setChecked(mode == self.theme.mode)
            group.addAction(action)
            self.theme_actions[mode] = action

        self.help_menu = self.menuBar().addMenu("&Help")
        self._action(self.help_menu, "Keyboard shortcuts", "F1", self.show_shortcuts,
                     "List every keyboard shortcut of the window and its panes")
        self._action(self.help_menu, "Open log folder", None, self.open_log_folder,
                     "Open the folder with the log files (errors and their details)")
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
        self.job_bar.setToolTip("Progress of the running job")
        self.model_label = QLabel("no model")
        self.device_label = QLabel("device: …")
        for widget in (self.job_label, self.job_bar, self.model_label, self.device_label):
            bar.addPermanentWidget(widget)

    # ----------------------------------------------------------------- welcome, theme, panes
    def welcome_at_start(self) -> bool:
        return str(settings().value("show_welcome", "true")).lower() in ("true", "1")

    def show_welcome(self) -> None:
        """Show the start page in place of the panes."""
        if not self._ready:
            self.when_ready(self.show_welcome)
            return
        if self._docks_before_welcome is not None:
            return
        self.welcome.refresh()
        self._docks_before_welcome = [name for name, dock in self.docks.items() if not dock.isHidden()]
        for dock in self.docks.values():
            dock.hide()
        for bar in self.findChildren(QTabBar):  # the tab bars of tabified docks outlive their docks
            if bar.parentWidget() is self:
                bar.hide()
        self.setCentralWidget(self.welcome)
        self.welcome.show()

    def hide_welcome(self) -> None:
        """Hide the start page and bring the panes back."""
        if self._docks_before_welcome is None:
            return
        self.takeCentralWidget()
        self.welcome.setParent(self)
        self.welcome.hide()
        for name in self._docks_before_welcome:
            self.docks[name].show()
        self._docks_before_welcome = None

    def _start_with_model(self, spec: str) -> None:
        self.hide_welcome()
        self.load_model(spec)

    def set_theme(self, mode: str) -> None:
        """"system", "light" or "dark"; remembered for the next start."""
        self.theme.set_mode(mode)
        self.theme_actions[mode].setChecked(True)
        settings().setValue("theme", mode)

    def show_pane(self, name: str) -> None:
        """Show, raise and focus the pane ``name`` (its ``object_name``)."""
        self.hide_welcome()
        dock, pane = self.docks[name], self.panes[name]
        dock.show()
        dock.raise_()
        if pane.focusPolicy() == Qt.FocusPolicy.NoFocus:
            pane.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # keys reach panes that handle their own
        (pane.focusWidget() or pane).setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._active_pane = pane

    def show_shortcuts(self) -> None:
        from circuitloupe.ui.shortcuts import ShortcutSheet

        sheet = self.findChild(ShortcutSheet, "shortcut_sheet") or ShortcutSheet(self)
        sheet.refresh()
        sheet.show()
        sheet.raise_()

    def show_about(self) -> None:
        from circuitloupe.ui.about import AboutDialog

        AboutDialog(str(self.service.device), self).show()

    def open_log_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(data_dir("logs"))))

    # ----------------------------------------------------------------- models
    def load_model(self, spec: str, weights: str | None = None) -> Job:
        """Load ``spec`` on the service; the panes follow when it is ready."""
        if weights is None and self.random_weights.isChecked():
            weights = "random:0"
        self.hide_welcome()
        self.model_label.setText(f"loading {spec}…")
        self._requested_weights[spec] = weights
        self._loading_spec = spec
        job = self.service.load(spec, weights)
        job.sigFailed.connect(lambda message: self._on_model_failed(spec, weights, message))
        return job

    def _show_loaded_model_name(self) -> None:
        """The Model box names the loaded model (never one that failed or was only asked for)."""
        self.model_combo.setCurrentText(self.state.model.spec if self.state.model is not None else "")

    def _on_model_typed(self) -> None:
        text = self.model_combo.currentText().strip()
        if self.model_combo.findText(text) < 0:
            self._on_model_picked(text)

    def _on_model_picked(self, text: str) -> None:
        text = text.strip()
        if text == OPEN_MODEL_FILE:
            self._show_loaded_model_name()
            self.open_model_file_dialog()
        elif text and text != self._loading_spec and (self.state.model is None or text != self.state.model.spec):
            self.load_model(text)

    def _on_model_loaded(self, model) -> None:
        self._loading_spec = None
        self.model_label.setText(f"{model.name} · {model.weights_description}")
        self.model_combo.setCurrentText(model.spec)
        default = model.weights_spec if model.is_random else None
        self._weights = self._requested_weights.pop(model.spec, default)
        pending = self._pending_project
        if pending is not None and pending.model_spec == model.spec:
            self._restore_families(model, pending.families)
        self.state.set_model(model)
        self.state.message(f"loaded {model.spec}: {len(model.catalogue)} layers, {model.weights_description}")
        if not model.is_random:
            settings().setValue("last_model", model.spec)
        if pending is not None and pending.model_spec == model.spec:
            self._pending_project = None
            self._restore_after_model(pending)

    def _on_model_failed(self, spec: str, weights: str | None, message: str) -> None:
        self._loading_spec = None
        current = self.state.model
        self.model_label.setText(f"{current.name} · {current.weights_description}" if current else "no model")
        self._show_loaded_model_name()
        self.state.message(message)
        if weights is None and is_download_failure(message):
            if current is None:
                self.show_welcome()  # nothing to show behind the dialog but the start page
            show_missing_weights(self, spec, message, lambda: self.open_weights_dialog(spec), self.load_model)
        if self._pending_project is not None:
            self._restore_after_model(self._pending_project)
            self._pending_project = None

    def open_model_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model file", str(Path.home()), "Python files (*.py)")
        if path:
            from PySide6.QtWidgets import QInputDialog

            factory, ok = QInputDialog.getText(self, "Factory", "Function that returns the model:", text="build")
            if ok and factory:
                self.load_model(f"{path}:{factory}")

    def open_atlas_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open atlas", str(Path.home()))
        if folder:
            try:
                atlas = self.state.open_atlas(folder)
            except UserError as error:
                self.state.message(str(error))
                return
            self.state.message(f"Atlas {folder}: {atlas.images} images, {', '.join(atlas.layers)}")

    def open_weights_dialog(self, spec: str | None = None) -> None:
        """Load ``spec`` (default: the current model) with weights from a local file."""
        spec = spec or (self.state.model.spec if self.state.model is not None else None)
        if spec is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Open weights for {spec}", str(Path.home()),
                                              "Weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.load_model(spec, path)

    # ----------------------------------------------------------------- units, images
    def _on_unit_typed(self) -> None:
        try:
            self.state.activate_unit(self.unit_edit.text())
        except UserError as error:
            self.state.message(str(error))

    def open_image_dialog(self) -> None:
        from circuitloupe.core.images import IMAGE_SUFFIXES

        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(Path.home()), f"Images ({patterns})")
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Open an image file or ``sample:NAME`` as the current image; False (and a message) if unreadable."""
        if not self._ready:
            self.when_ready(lambda: self.open_image(path))
            return True
        name = str(path)
        try:
            if name.startswith("sample:"):
                from circuitloupe.core.samples import load_sample

                self.state.set_image(OpenImage(name, load_sample(name)))
            else:
                self.state.open_image_file(path)
        except UserError as error:
            self.state.message(str(error))
            return False
        if name in self.open_images:
            self.open_images.remove(name)
        self.open_images.append(name)
        self.state.message(f"opened {name}")
        return True

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                path = url.toLocalFile()
                if path.endswith(projects.SUFFIX):
                    self.open_project(path)
                else:
                    self.open_image(path)
                break

    # ----------------------------------------------------------------- projects
    def welcome_visible(self) -> bool:
        return self._docks_before_welcome is not None

    def current_project(self, with_layout: bool = True) -> Project:
        """The window's state as a Project (what Save writes); ``with_layout`` adds the pane layout."""
        model = self.state.model
        panes = {name: data for name, pane in self.panes.items() if (data := pane.project_state())}
        sessions: list[str] = []
        for data in panes.values():
            sessions += [str(s) for s in data.get("label_sessions", []) if str(s) not in sessions]
        notes = self.panes["notes"].notes() if "notes" in self.panes else ""
        return Project(
            model_spec=model.spec if model is not None else None,
            weights=self._weights if model is not None else None,
            images=list(self.open_images),
            current_unit=str(self.state.unit) if self.state.unit is not None else None,
            families=self._families(),
            notes=notes, label_sessions=sessions, panes=panes,
            layout=_b64(self._layout_state()) if with_layout else None,
            geometry=_b64(self.saveGeometry()) if with_layout else None, theme=self.theme.mode)

    def _layout_state(self) -> QByteArray:
        if self._docks_before_welcome is None:
            return self.saveState()
        self.hide_welcome()
        state = self.saveState()
        self.show_welcome()
        return state

    def _snapshot(self) -> dict:
        """What counts as a change (layout and window geometry do not)."""
        data = self.current_project(with_layout=False).to_json()
        for key in ("layout", "geometry", "saved_at", "theme"):
            data.pop(key, None)
        return data

    def is_dirty(self) -> bool:
        return self._snapshot() != self._saved_snapshot

    def _update_title(self) -> None:
        if not self._ready:
            self.setWindowTitle("Circuit Loupe")
            return
        name = self.project_path.stem if self.project_path is not None else "Untitled"
        self.setWindowTitle(f"{name}{' *' if self.is_dirty() else ''} — Circuit Loupe")

    def new_project(self) -> None:
        """Autosave the current project, then start an empty one (the model stays open)."""
        self.autosave()
        self.project_path = None
        self.open_images.clear()
        if "notes" in self.panes:
            self.panes["notes"].set_notes("")
        self._saved_snapshot = self._snapshot()
        self._update_title()
        self.state.message("new project")

    def open_project_dialog(self) -> None:
        start = str(self.project_path.parent if self.project_path else Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start, PROJECT_FILTER)
        if path:
            self.open_project(path)

    def open_project(self, path: str | Path) -> bool:
        """Open a project file. A corrupt or newer file gives a message and changes nothing."""
        if not self._ready:
            self.when_ready(lambda: self.open_project(path))
            return True
        path = Path(path)
        untitled = path == projects.autosave_path(None)
        try:
            loaded = projects.load_project(path)
        except ProjectError as error:
            self.show_problem("Cannot open project", str(error))
            return False
        recovered = None if untitled else projects.newer_autosave(path)
        if recovered is not None:
            try:
                loaded = projects.load_project(recovered)
            except ProjectError as error:
                log.warning("ignoring unreadable autosave %s: %s", recovered, error)
                recovered = None
        if not confirm_project_model(self, loaded, path):  # a project's model file runs only with consent
            self.state.message(f"did not open {path}: its model file was not trusted")
            return False
        self.autosave()
        self.project_path = None if untitled else path
        self._saved_snapshot = None
        self._clean_when_restored = not (recovered or untitled)
        self.apply_project(loaded)
        if not untitled:
            projects.add_recent_project(path)
        if recovered is not None or untitled:
            self.state.message(f"recovered unsaved changes from the autosave of {recovered or path}; "
                               "Save to keep them")
        else:
            self.state.message(f"opened project {path}")
        self._update_title()
        return True

    def apply_project(self, loaded: Project) -> None:
        """Make the window show ``loaded``: layout, theme, notes, images, then model and panes."""
        self.hide_welcome()
        if (geometry := _unb64(loaded.geometry)) is not None:
            self.restoreGeometry(geometry)
        if (layout := _unb64(loaded.layout)) is not None:
            self.restoreState(layout)
        if loaded.theme in MODES:
            self.set_theme(loaded.theme)
        if "notes" in self.panes:
            self.panes["notes"].set_notes(loaded.notes)
        self.open_images = []
        missing = [name for name in loaded.images if not self.open_image(name)]
        if missing:
            self.state.message(f"{len(missing)} image(s) of the project could not be opened: {', '.join(missing)}")
        model = self.state.model
        if loaded.model_spec and (model is None or model.spec != loaded.model_spec
                                  or (loaded.weights or None) != (self._weights or None)):
            self._pending_project = loaded
            self.load_model(loaded.model_spec, loaded.weights)
        else:
            if model is not None:
                self._restore_families(model, loaded.families)
            self._restore_after_model(loaded)

    def _families(self) -> dict[str, list[str]]:
        """The model's preset families and the user's saved ones (the browser's annotation store)."""
        model = self.state.model
        if model is None:
            return {}
        families = {name: list(units) for name, units in model.families.items()}
        for name, units in AnnotationStore.for_model(model).families().items():
            families[name] = [str(u) for u in units]
        return families

    def _restore_families(self, model, families: dict[str, list[str]]) -> None:
        """Save the project's own families (not the model's presets) where the panes find them."""
        store = AnnotationStore.for_model(model)
        saved = store.families()
        for name, units in families.items():
            if name not in model.families and name not in saved:
                try:
                    store.save_family(name, units)
                except UserError as error:
                    self.state.message(f"family '{name}' of the project was not restored: {error}")

    def _restore_after_model(self, loaded: Project) -> None:
        if loaded.current_unit and self.state.model is not None:
            try:
                self.state.set_unit(loaded.current_unit)
            except UserError as error:
                self.state.message(str(error))
        for name, data in loaded.panes.items():
            if name in self.panes and isinstance(data, dict):
                try:
                    self.panes[name].restore_project_state(data)
                except Exception:  # one pane's bad state must not stop the others
                    log.exception("could not restore the %s pane's project settings", name)
        if self._clean_when_restored:
            self._clean_when_restored = False
            self._saved_snapshot = self._autosaved_snapshot = self._snapshot()
        self._update_title()

    def save_project(self) -> bool:
        """Save to the project's file (asks for one the first time). Never replaces an unreadable file."""
        if self.project_path is None:
            return self.save_project_as()
        try:
            projects.check_can_overwrite(self.project_path)
        except ProjectError as error:
            self.show_problem("Not saved", str(error))
            return False
        return self._write_project(self.project_path)

    def save_project_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(self.project_path or Path.home() / f"study{projects.SUFFIX}")
            path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, PROJECT_FILTER)
            if not path:
                return False
            if not path.endswith(projects.SUFFIX):
                path += projects.SUFFIX
        return self._write_project(Path(path))

    def _write_project(self, path: Path) -> bool:
        try:
            projects.save_project(self.current_project(), path)
        except OSError as error:
            self.show_problem("Not saved", f"could not write {path}: {error.strerror or error}")
            return False
        projects.discard_autosave(self.project_path)
        self.project_path = path
        projects.discard_autosave(path)
        projects.add_recent_project(path)
        self._saved_snapshot = self._snapshot()
        self._autosaved_snapshot = self._saved_snapshot
        self._update_title()
        self.state.message(f"saved project {path}")
        return True

    def autosave(self) -> Path | None:
        """Write unsaved changes to the autosave file (never to the project file itself)."""
        snapshot = self._snapshot()
        if snapshot == self._saved_snapshot or snapshot == self._autosaved_snapshot:
            return None
        if self.project_path is None and not (snapshot["notes"].strip() or snapshot["images"]
                                              or snapshot["label_sessions"]):
            return None  # an untitled session with nothing of the user's in it
        try:
            written = projects.autosave(self.current_project(), self.project_path)
        except OSError as error:
            log.warning("autosave failed: %s", error)
            return None
        self._autosaved_snapshot = snapshot
        log.info("autosaved to %s", written)
        return written

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = projects.recent_projects()
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
        if not recent:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    def show_problem(self, title: str, text: str) -> None:
        """A readable problem: status bar, log, and a non-modal message box."""
        self.state.message(text)
        log.warning("%s: %s", title, text)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("problem_box")
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

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
        self.export_pane(pane)

    def export_pane(self, pane: Pane) -> None:
        """Export ``pane``'s figure (rendered by core at a chosen scale, not a screen grab)."""
        self._active_pane = pane
        from circuitloupe.ui.widgets.export import export_with_dialog

        export_with_dialog(pane)

    def copy_cli_command(self) -> None:
        pane = self.active_pane()
        if pane is None:
            self.state.message("the active pane has no command to copy")
            return
        self.copy_pane_command(pane)

    def copy_pane_command(self, pane: Pane) -> str | None:
        """Copy the command that reproduces ``pane``'s result to the clipboard."""
        self._active_pane = pane
        command = pane.cli_command()
        if command:
            QGuiApplication.clipboard().setText(command)
            self.state.message(f"copied: {command}")
        else:
            self.state.message(f"{pane.title} has no result to reproduce yet")
        return command

    def busy(self) -> bool:
        """True while any submitted job is queued or running."""
        return bool(self._jobs)

    def _follow_job(self, job: Job) -> None:
        """Show ``job`` in the status bar while it runs. The window never keeps it alive: its
        handlers reach it through a weak reference (a job holds its arguments, e.g. an image)."""
        self._jobs.add(job)
        ref = weakref.ref(job)

        def started() -> None:
            self.job_label.setText(ref().name if ref() is not None else "")
            self.job_bar.setVisible(True)
            self.job_bar.setRange(0, 0)

        def progress(step: int, total: int, _preview) -> None:
            self.job_bar.setRange(0, max(total, 1))
            self.job_bar.setValue(step)

        def done(*_args) -> None:
            self._jobs.discard(ref())
            self.job_bar.setVisible(False)
            self.job_label.setText("")
            self._update_title()

        def failed(message: str) -> None:
            details = ref().details if ref() is not None else ""
            if details:  # a bug, not a user's mistake: show it with its traceback
                self.errors.sigError.emit(message, details)

        job.sigStarted.connect(started)
        job.sigProgress.connect(progress)
        job.sigFailed.connect(failed)
        for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
            signal.connect(done)

    # ----------------------------------------------------------------- persistence
    def _restore_layout(self) -> None:
        stored = settings()
        geometry, layout = stored.value("geometry"), stored.value("window_state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if layout is not None:
            self.restoreState(layout)
        self._first_start = layout is None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._first_start and self._ready:
            self._first_start = False
            arrange(self, self.docks)
        elif self._ready:
            unelide_tabs(self)

    def closeEvent(self, event) -> None:
        if not self._ready:  # closed while starting: nothing of the user's to keep yet
            self.errors.uninstall()
            self.service.shutdown()
            super().closeEvent(event)
            return
        self.autosave()
        self.hide_welcome()
        stored = settings()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("window_state", self.saveState())
        self._autosave_timer.stop()
        self.errors.uninstall()
        self.service.shutdown()
        super().closeEvent(event)


def last_model_spec() -> str | None:
    value = settings().value("last_model")
    return str(value) if value else None
