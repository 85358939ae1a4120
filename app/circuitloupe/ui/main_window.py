"""The main window: toolbar (model and unit), dock panes, menus, welcome screen, themes, status bar.

What it shows comes from two controllers it wires to its widgets: the model controller
(``ui/model_controller.py``: loading, weights prompts) and the project controller
(``ui/project_controller.py``: open/save/autosave, images, atlas); the default dock
arrangement is ``ui/layout.py``.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabBar,
                               QWidget)

from circuitloupe.core import project as projects
from circuitloupe.core.paths import data_dir
from circuitloupe.core.project import Project
from circuitloupe.core.resources import resource_path
from circuitloupe.service import InferenceService, Job
from circuitloupe.ui.dock_title import PaneTitleBar
from circuitloupe.ui.error_report import ErrorReporter
from circuitloupe.ui.job_status import JobStatus
from circuitloupe.ui.lazy_panes import LazyPanes
from circuitloupe.ui.layout import (arrange, fit_to_screen, layout_text, make_docks, place_pane, restore_layout,
                                    restore_layout_text, save_layout, unelide_tabs)
from circuitloupe.ui.model_controller import ModelController
from circuitloupe.ui.model_toolbar import ModelToolBar
from circuitloupe.ui.panes import EAGER, PANES, PaneEntry
from circuitloupe.ui.project_controller import ProjectController
from circuitloupe.ui.settings import settings
from circuitloupe.ui.state import AppState
from circuitloupe.ui.theme import MODES, ThemeManager
from circuitloupe.ui.widgets.pane import Pane

log = logging.getLogger(__name__)


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


def _shortcut_order(shortcut: str | None) -> tuple[int, str]:
    """Ctrl+1 … Ctrl+9, then Ctrl+0 (the keyboard's order), then other shortcuts, then none."""
    digit = shortcut[-1] if shortcut and shortcut.startswith("Ctrl+") and len(shortcut) == 6 else ""
    if digit.isdigit():
        return (int(digit) or 10, "")
    return (11 if shortcut else 12, shortcut or "")


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
        self.panes = LazyPanes(self._make_pane)
        self.docks: dict[str, QDockWidget] = {}
        self.models = ModelController(service, self.state, self)
        self.projects = ProjectController(self.state, self.models, self.panes, self, self)
        self._active_pane: Pane | None = None
        self._docks_before_welcome: list[str] | None = None
        self._ready = False  # panes, menus and welcome screen built
        self._when_ready: list[Callable[[], Any]] = []
        self._first_start = False
        self.welcome = None

        self._build_toolbar()
        self._build_status_bar()
        self.models.sigLoading.connect(self._on_model_loading)
        for signal in (self.models.sigLoaded, self.models.sigFailed):
            signal.connect(self._show_loaded_model)
            signal.connect(self._import_pane_modules)
        self.models.sigWelcomeWanted.connect(self.show_welcome)
        self._pane_modules_imported = False
        self._docks_moving = False  # a layout is being applied (see _placing_docks)
        self.projects.sigTitle.connect(self.setWindowTitle)
        self.projects.sigProblem.connect(self.show_problem)
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
        self.toolbar.fill_models()
        self.device_label.setText(f"device: {self.service.device}")
        self.model_label.setText("no model")
        self._build_docks()
        self._build_welcome()
        self._build_menus()
        from circuitloupe.ui.widgets.samples_menu import install_samples_menu  # File > Sample images
        install_samples_menu(self.file_menu, self.state, self.open_image)
        self.state.sigMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        for signal in (self.state.sigModelChanged, self.state.sigUnitChanged, self.state.sigImageChanged,
                       self.state.sigAtlasChanged):
            signal.connect(self.projects.refresh_title)
        QApplication.instance().focusChanged.connect(self._on_focus_changed)
        with self._placing_docks():
            self._first_start = not restore_layout(self, settings())
        self._ready = True
        for name in EAGER:
            self.panes.ensure(name)
        self.projects.start()
        if self._first_start and self.isVisible():
            self._first_start = False
            with self._placing_docks():
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

    def _once_built(self, action: Callable[[str | Path], bool], path: str | Path) -> bool:
        """``action(path)`` now, or once the panes are built (then True: it will be done)."""
        if self._ready:
            return action(path)
        self._when_ready.append(lambda: action(path))
        return True

    # ----------------------------------------------------------------- construction
    def _build_toolbar(self) -> None:
        self.toolbar = ModelToolBar(self.models, self.state)
        self.addToolBar(self.toolbar)
        self.model_combo, self.unit_edit = self.toolbar.model_combo, self.toolbar.unit_edit
        self.random_weights = self.toolbar.random_weights

    def _build_docks(self) -> None:
        """A dock for every pane; a pane is built when its dock first shows (or it is asked for)."""
        self.docks.update(make_docks(self, PANES, lambda dock, entry: PaneTitleBar(
            dock, entry, lambda: self.export_pane(self.panes[entry.name]),
            lambda: self.copy_pane_command(self.panes[entry.name]))))
        for entry in PANES:
            self.panes.add(entry)
            self.docks[entry.name].visibilityChanged.connect(
                lambda visible, name=entry.name: self._on_dock_visibility(name, visible))
        self.panes.on_built.append(self._on_pane_built)

    def _on_dock_visibility(self, name: str, visible: bool) -> None:
        if visible and not self._docks_moving:  # shown by a person (a tab, a shortcut), not a layout
            self.panes.ensure(name)

    @contextmanager
    def _placing_docks(self) -> Iterator[None]:
        """Docks show and hide while a layout is applied: the panes left on screen are built after."""
        self._docks_moving = True
        try:
            yield
        finally:
            self._docks_moving = False
            QTimer.singleShot(0, self._build_shown_panes)  # once the layout has given the docks their places

    def _make_pane(self, entry: PaneEntry) -> Pane:
        cls = entry.load()
        self.theme.configure_plots()  # pyqtgraph's colours, now that the pane's module imported it
        return cls(self.service, self.state)

    def _on_pane_built(self, name: str, pane: Pane) -> None:
        place_pane(self.docks[name], pane)
        if name == "notes":
            pane.sigEdited.connect(self.projects.refresh_title)
        self.projects.pane_built(name)

    def _import_pane_modules(self, *_args) -> None:
        """Once the first model shows (or fails to load, or the welcome screen shows), import the
        modules of the panes not built yet on the worker, in the background: a first click on
        their tab then only builds the pane."""
        if self._pane_modules_imported:
            return
        self._pane_modules_imported = True
        later = [entry for entry in PANES if self.panes.get_built(entry.name) is None]
        job = self.service.submit(lambda _ctx: [entry.load() for entry in later], name="importing pane modules",
                                  priority="background")
        # what is alive now (modules, torch, the model) stays: a full collection (on the GUI thread,
        # see ui/gui_gc.py) then skips these 0.2 million objects and takes ms, not 0.13 s
        job.sigFinished.connect(lambda _result: gc.freeze())

    def _build_shown_panes(self) -> None:
        """The panes on screen (a dock a restored layout left showing need not signal it). A dock
        tabbed behind another is visible too, but covered: nothing of it is on screen."""
        for name, dock in self.docks.items():
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                self.panes.ensure(name)

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
        self._action(file_menu, "New project", QKeySequence.StandardKey.New, self.projects.new,
                     "Start a new, empty project (the current one is autosaved first)")
        self._action(file_menu, "Open project…", QKeySequence.StandardKey.Open, self.open_project_dialog,
                     "Open a saved project: model, images, atlas, families, notes, label sessions and layout")
        self.recent_menu = file_menu.addMenu("Recent projects")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(file_menu, "Save project", QKeySequence.StandardKey.Save, self.projects.save,
                     "Save the project (model, images, atlas, families, notes, label sessions, layout)")
        self._action(file_menu, "Save project as…", QKeySequence.StandardKey.SaveAs, lambda: self.projects.save_as(),
                     "Save the project under a new file name")
        file_menu.addSeparator()
        self._action(file_menu, "Open image…", "Ctrl+I", self.open_image_dialog,
                     "Open an image file to analyse (or drop one on the window)")
        self._action(file_menu, "Open model file…", None, self.models.open_model_file_dialog,
                     "Open a Python file with a model factory (file.py:factory)")
        self._action(file_menu, "Open atlas…", None, self.open_atlas_dialog,
                     "Open an atlas folder (circuitloupe atlas build): unit cards show its statistics and examples")
        self._action(file_menu, "Open weights…", None, lambda: self.models.open_weights_dialog(),
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
        for entry in sorted(PANES, key=lambda e: _shortcut_order(e.shortcut)):
            self.pane_actions[entry.name] = self._action(self.view_menu, entry.title, entry.shortcut,
                                                         lambda _=False, n=entry.name: self.show_pane(n),
                                                         f"Show, raise and focus the {entry.title} pane")
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
        self.jobs = JobStatus(self.service, bar)
        self.jobs.sigEnded.connect(self.projects.refresh_title)  # a job may change what a project holds
        self.jobs.sigBug.connect(self.errors.sigError)
        self.model_label = QLabel("no model")
        self.device_label = QLabel("device: …")
        for widget in (self.model_label, self.device_label):
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
        self._import_pane_modules()

    def hide_welcome(self) -> None:
        """Hide the start page and bring the panes back."""
        if self._docks_before_welcome is None:
            return
        self.takeCentralWidget()
        self.welcome.setParent(self)
        self.welcome.hide()
        with self._placing_docks():
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

        self.panes.build_all()  # the sheet lists the keys of every pane

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
        return self.models.load(spec, weights)

    def _on_model_loading(self, spec: str) -> None:
        self.hide_welcome()
        self.model_label.setText(f"loading {spec}…")

    def _show_loaded_model(self, *_args) -> None:
        self.model_label.setText(self.models.status_text())

    def open_image_dialog(self) -> None:
        from circuitloupe.core.images import IMAGE_SUFFIXES

        patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", str(Path.home()), f"Images ({patterns})")
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Open an image file or ``sample:NAME`` (once the panes are built); False if unreadable."""
        return self._once_built(self.projects.open_image, path)

    def open_atlas_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open atlas", str(Path.home()))
        if folder:
            self.projects.open_atlas(folder)

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

    def window_state(self) -> dict[str, str | None]:
        """What a project stores of the window: pane layout and geometry (base64), theme."""
        welcome = self.welcome_visible()
        self.hide_welcome()  # the layout of the panes, not of the welcome screen
        state = layout_text(self)
        if welcome:
            self.show_welcome()
        return {**state, "theme": self.theme.mode}

    def apply_window_state(self, project: Project) -> None:
        """Show the panes in ``project``'s layout, geometry and theme."""
        self.hide_welcome()
        with self._placing_docks():
            restore_layout_text(self, project.layout, project.geometry)
        if project.theme in MODES:
            self.set_theme(project.theme)

    def open_project_dialog(self) -> None:
        self.projects.open_dialog()

    def open_project(self, path: str | Path) -> bool:
        """Open a project file (once the panes are built); False when it could not be opened."""
        return self._once_built(self.projects.open, path)

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
        """A readable problem in a non-modal message box (the controllers log it and say it in the status bar)."""
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
        return next((p for p in self.panes.built().values() if p.isVisible() and p.figure() is not None), None)

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
        return self.jobs.busy()

    # ----------------------------------------------------------------- show, close
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._first_start and self._ready:
            self._first_start = False
            with self._placing_docks():
                arrange(self, self.docks)
        elif self._ready:
            unelide_tabs(self)

    def closeEvent(self, event) -> None:
        if not self._ready:  # closed while starting: nothing of the user's to keep yet
            self.errors.uninstall()
            self.service.shutdown()
            super().closeEvent(event)
            return
        self.projects.stop()
        self.hide_welcome()
        save_layout(self, settings())
        self.errors.uninstall()
        self.service.shutdown()
        super().closeEvent(event)

