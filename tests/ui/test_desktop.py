"""The desktop experience: welcome screen, F1 sheet, themes, error dialog, projects through the
window, Copy as CLI from every pane, About, high-DPI exports and tooltips on every control."""

from __future__ import annotations

import ast
import inspect
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer, qWarning
from PySide6.QtGui import QAction, QGuiApplication, QPalette
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QApplication,
                               QComboBox, QHeaderView, QLineEdit, QMenu, QPlainTextEdit, QTabBar, QTextEdit,
                               QToolButton, QWidget)

from circuitloupe.core import project as projects
from circuitloupe.core.models import zoo
from circuitloupe.core.units import UnitRef
from circuitloupe.service import InferenceService
from circuitloupe.ui import panes as pane_package
from circuitloupe.ui.main_window import MainWindow
from circuitloupe.ui.shortcuts import ShortcutSheet, ambiguous_shortcuts, collect_bindings


def small_model() -> tuple[str, str | None]:
    """The quickest model to load: the bundled model when shipped, else InceptionV1 (random)."""
    ready = {e.name for e in zoo.entries() if e.default_weights_available()}
    return ("bundled", None) if "bundled" in ready else ("inceptionv1", "random:0")


def load(qtbot, window):
    spec, weights = small_model()
    with qtbot.waitSignal(window.service.sigModelChanged, timeout=60_000):
        job = window.load_model(spec, weights)
        job.sigFailed.connect(lambda message: pytest.fail(message))
    return spec


def stripes(path: Path) -> Path:
    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, ::8] = 255
    Image.fromarray(pixels).save(path)
    return path


# ----------------------------------------------------------------------------- the Qt binding
def test_qt_calls_do_not_drain_the_reference_count_of_none(qtbot):
    """PySide6 6.12.0 returned None from every void method without a reference: on Python 3.11
    the app (and pytest) died with "deallocating None" once enough calls were made."""
    import sys

    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(1000):
        widget.update()
        widget.setObjectName("x")
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    assert all(a - b > -100 for a, b in zip(after, before)), (before, after)


# ----------------------------------------------------------------------------- welcome screen
def test_welcome_screen_offers_three_starts_and_recent_projects(qtbot, window, tmp_path, monkeypatch):
    saved = tmp_path / "earlier.loupe"
    projects.save_project(projects.Project(notes="x"), saved)
    projects.add_recent_project(saved)
    window.show_welcome()
    assert window.welcome.isVisible() and not any(d.isVisible() for d in window.docks.values())
    assert window.welcome.recent_paths() == [saved.resolve()]

    asked = []
    monkeypatch.setattr(window, "load_model", lambda spec, weights=None: asked.append(spec))
    monkeypatch.setattr(window, "open_project_dialog", lambda: asked.append("dialog"))
    qtbot.mouseClick(window.welcome.project_button, Qt.MouseButton.LeftButton)
    assert asked == ["dialog"] and window.welcome.isVisible()
    qtbot.mouseClick(window.welcome.bundled_button, Qt.MouseButton.LeftButton)
    assert asked[-1] == window.welcome.bundled_button.property("spec")
    assert zoo.find_entry(asked[-1]).offline
    assert not window.welcome.isVisible() and window.docks["activations"].isVisible()

    window.show_welcome()
    qtbot.mouseClick(window.welcome.inception_button, Qt.MouseButton.LeftButton)
    assert asked[-1] == "inceptionv1"

    if window.welcome.default_button is not None:  # no InceptionV1 weights here: the offline default
        window.show_welcome()
        qtbot.mouseClick(window.welcome.default_button, Qt.MouseButton.LeftButton)
        assert asked[-1] == zoo.default_model_spec() == "efficientnet_lite0"

    window.show_welcome()
    window.welcome.show_at_start.setChecked(False)
    assert not window.welcome_at_start()


# ----------------------------------------------------------------------------- F1 sheet
def test_f1_lists_every_shortcut_and_none_is_ambiguous(qtbot, window):
    with qtbot.waitActive(window):
        window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    sheet = window.findChild(ShortcutSheet, "shortcut_sheet")
    assert sheet is not None and sheet.isVisible() and not sheet.isModal()
    listed = {keys for _, _, keys in sheet.rows()}
    for action in window.findChildren(QAction):
        for key in action.shortcuts():
            if not key.isEmpty():
                assert any(key.toString() in keys.split(", ") for keys in listed), action.text()
    rows = {(group, text): keys for group, text, keys in sheet.rows()}
    assert rows[("File", "Save project")] == "Ctrl+S" and rows[("Help", "Keyboard shortcuts")] == "F1"
    assert ("File", "Export PNG…") in rows and ("File", "Copy as CLI command") in rows
    if "labeling" in window.panes:  # keys a pane handles itself, declared through Pane.key_help
        assert rows[("Labeling", "skip this image")] == "S"
    assert not ambiguous_shortcuts(window), ambiguous_shortcuts(window)

    sheet.filter.setText("export")
    assert [text for _, text, _ in sheet.rows()] == ["Export PNG…"]
    assert len(collect_bindings(window)) >= 10


# ----------------------------------------------------------------------------- themes
def test_theme_switch_recolours_widgets_and_plots_and_follows_the_system(qtbot, window, monkeypatch):
    window.panes["tuning"]  # built before the switch; the Dataset pane after it (a tab first shown later)
    plots = [w for w in window.findChildren(pg.GraphicsView)]
    assert plots, "the panes should have pyqtgraph views"
    window.set_theme("dark")
    window_colour = QApplication.instance().palette().color(QPalette.ColorRole.Window)
    assert window_colour.lightness() < 80 and window.theme.dark
    assert window.panes.get_built("dataset") is None
    plots += window.panes["dataset"].findChildren(pg.GraphicsView)
    assert all(p.backgroundBrush().color().lightness() < 60 for p in plots)
    assert window.theme_actions["dark"].isChecked()
    window.set_theme("light")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 180
    assert all(p.backgroundBrush().color().lightness() > 200 for p in plots)

    from circuitloupe.ui import theme as theme_module

    hints = QGuiApplication.styleHints()
    monkeypatch.setattr(theme_module, "system_prefers_dark", lambda: True)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not window.theme.dark  # an explicit "light" choice ignores the system
    window.set_theme("system")
    assert window.theme.dark
    monkeypatch.setattr(theme_module, "system_prefers_dark", lambda: False)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not window.theme.dark
    assert MainWindow(window.service).theme.mode == "system"  # remembered for the next window


# ----------------------------------------------------------------------------- errors
def test_an_exception_anywhere_shows_a_non_modal_report_logs_it_and_the_app_lives_on(qtbot, window):
    from circuitloupe.ui.error_report import ErrorDialog, log_file

    window.errors.install()
    try:
        def broken_slot():
            raise ZeroDivisionError("a pane divided by zero")

        QTimer.singleShot(0, broken_slot)
        qtbot.waitUntil(lambda: window.errors.dialog is not None and window.errors.dialog.isVisible(), timeout=5000)
        dialog: ErrorDialog = window.errors.dialog
        assert not dialog.isModal() and dialog.windowModality() == Qt.WindowModality.NonModal
        assert "ZeroDivisionError: a pane divided by zero" in dialog.summary.text()
        assert "broken_slot" in dialog.details.toPlainText()  # the traceback, copyable
        dialog.copy_button.click()
        assert "a pane divided by zero" in QGuiApplication.clipboard().text()

        thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: dialog.count == 2, timeout=5000)
        assert "in worker-x" in dialog.summary.text()

        go = threading.Event()

        def buggy_job(ctx):
            go.wait(10)  # let the window connect to the job first
            return [][1]

        window.service.submit(buggy_job, name="buggy")
        go.set()
        qtbot.waitUntil(lambda: dialog.count == 3, timeout=10_000)
        assert "IndexError" in dialog.details.toPlainText()

        qWarning("a Qt warning for the log")
        for handler in logging.getLogger("circuitloupe").handlers:
            handler.flush()
        text = log_file().read_text(encoding="utf-8")
        assert "a pane divided by zero" in text and "Traceback" in text and "a Qt warning for the log" in text

        window.unit_edit.setText("not a unit at all")  # the window still answers
        qtbot.keyClick(window.unit_edit, "\r")
        assert window.isVisible()
    finally:
        window.errors.uninstall()


def test_log_file_rotates(tmp_path):
    from circuitloupe.ui.error_report import LOG_BACKUPS, log_file, setup_file_logging

    handler = setup_file_logging()
    assert handler.maxBytes > 0 and handler.backupCount == LOG_BACKUPS
    assert Path(handler.baseFilename) == log_file() and log_file().parent.name == "logs"


# ----------------------------------------------------------------------------- projects
def test_project_round_trip_through_the_window(qtbot, window, tmp_path):
    spec = load(qtbot, window)
    model = window.state.model
    unit = next(info for info in model.catalogue if info.channels > 3)
    window.state.set_unit(UnitRef(unit.name, 3))
    image = stripes(tmp_path / "stripes.png")
    assert window.open_image(image)
    window.panes["notes"].text.setPlainText("unit 3 likes stripes")
    from circuitloupe.core.annotations import AnnotationStore

    AnnotationStore.for_model(model).save_family("my family", f"{unit.name}:1,2")
    window.docks["log"].hide()
    assert window.projects.is_dirty() and window.windowTitle().startswith("Untitled *")

    path = tmp_path / "study.loupe"
    assert window.projects.save_as(path)
    assert not window.projects.is_dirty() and window.windowTitle().startswith("study —")
    data = json.loads(path.read_text())
    assert data["model_spec"] == spec and data["images"] == [str(image)]
    assert data["current_unit"] == f"{unit.name}:3" and data["notes"] == "unit 3 likes stripes"
    assert data["families"]["my family"] == [f"{unit.name}:1", f"{unit.name}:2"] and data["layout"]

    AnnotationStore.for_model(model).delete_family("my family")  # as on another machine
    other = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(other)
    other.show()
    with qtbot.waitSignal(other.service.sigModelChanged, timeout=60_000):
        assert other.open_project(path)
    qtbot.waitUntil(lambda: other.state.unit == UnitRef(unit.name, 3), timeout=10_000)
    assert other.state.image.name == str(image) and other.projects.open_images == [str(image)]
    assert other.panes["notes"].notes() == "unit 3 likes stripes"
    restored = AnnotationStore.for_model(other.state.model).families()["my family"]
    assert [str(u) for u in restored] == [f"{unit.name}:1", f"{unit.name}:2"]
    assert "my family" not in other.state.model.families  # the presets stay presets
    assert not other.docks["log"].isVisible() and other.docks["notes"].isVisible() is not None
    now, saved = other.projects.snapshot(), other.projects._saved or {}
    assert not other.projects.is_dirty(), {k: (v, saved.get(k)) for k, v in now.items() if v != saved.get(k)}
    assert projects.recent_projects()[0] == path.resolve()
    other.close()


@pytest.mark.parametrize("content", [b"{\"format\": \"circuitloupe-project\", \"schema_version\": 42}",
                                     b"{\"format\": \"circuitloupe-project\", \"images\": [1, 2"])
def test_newer_or_corrupt_project_gives_a_message_and_loses_nothing(qtbot, window, tmp_path, content):
    from PySide6.QtWidgets import QMessageBox

    window.panes["notes"].text.setPlainText("work in progress")
    path = tmp_path / "strange.loupe"
    path.write_bytes(content)
    messages = []
    window.state.sigMessage.connect(messages.append)
    assert not window.open_project(path)
    box = window.findChild(QMessageBox, "problem_box")
    assert box is not None and box.isVisible() and not box.isModal()
    assert "left unchanged" in box.text() and any("left unchanged" in m for m in messages)
    assert path.read_bytes() == content and window.projects.path is None
    assert window.panes["notes"].notes() == "work in progress"

    window.projects.path = path  # even if it were the current project, a plain Save refuses
    assert not window.projects.save() and path.read_bytes() == content


def test_autosave_never_touches_the_project_and_recovers_on_reopen(qtbot, window, tmp_path):
    path = tmp_path / "study.loupe"
    window.panes["notes"].text.setPlainText("saved text")
    assert window.projects.save_as(path)
    before = path.read_bytes()
    assert window.projects.autosave() is None  # nothing unsaved
    window.panes["notes"].text.setPlainText("unsaved text")
    written = window.projects.autosave()
    assert written is not None and written != path and path.read_bytes() == before
    assert window.projects.autosave() is None  # unchanged since the last autosave

    other = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(other)
    assert other.open_project(path)
    assert other.panes["notes"].notes() == "unsaved text" and other.projects.is_dirty()
    assert other.projects.save() and projects.load_project(path).notes == "unsaved text"
    assert not written.exists()
    other.close()


def test_label_sessions_and_pane_settings_go_into_the_project(window, monkeypatch, tmp_path):
    pane = window.panes["notes"]
    monkeypatch.setattr(pane, "project_state", lambda: {"label_sessions": ["/data/curves.labels"], "x": 1})
    restored = []
    monkeypatch.setattr(pane, "restore_project_state", restored.append)
    saved = window.projects.current()
    assert saved.label_sessions == ["/data/curves.labels"] and saved.panes["notes"]["x"] == 1
    path = tmp_path / "p.loupe"
    assert window.projects.save_as(path) and window.open_project(path)
    assert restored == [{"label_sessions": ["/data/curves.labels"], "x": 1}]


def test_file_menu_has_project_commands_with_shortcuts(window):
    titles = {a.text(): a for a in window.file_menu.actions()}
    assert titles["New project"].shortcut().toString() == "Ctrl+N"
    assert titles["Open project…"].shortcut().toString() == "Ctrl+O"
    assert titles["Save project"].shortcut().toString() == "Ctrl+S"
    assert titles["Save project as…"].shortcut().toString() == "Ctrl+Shift+S"
    assert window.recent_menu.title() == "Recent projects"


def test_file_open_atlas_sets_the_atlas_and_a_project_reopens_it(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from circuitloupe.core.atlas import BuildSettings, build_atlas
    from circuitloupe.core.models import load_model
    from image_folders import make_plain_folder

    images = make_plain_folder(tmp_path / "images", 4, size=40)
    build_atlas(load_model("bundled"), images, tmp_path / "atlas", BuildSettings(layers=("conv3",), batch_size=4))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args: str(tmp_path / "atlas"))
    assert window.windowTitle().startswith("Untitled —")
    next(a for a in window.file_menu.actions() if a.text() == "Open atlas…").trigger()
    assert window.state.atlas.folder == tmp_path / "atlas" and window.windowTitle().startswith("Untitled *")
    assert window.projects.save_as(tmp_path / "study.loupe")

    other = MainWindow(InferenceService("cpu"))
    qtbot.addWidget(other)
    assert other.open_project(tmp_path / "study.loupe")
    assert other.state.atlas is not None and other.state.atlas.folder == tmp_path / "atlas"
    other.close()


# ----------------------------------------------------------------------------- CLI, export, about
def test_every_pane_has_export_and_cli_buttons_and_exports_are_core_figures_at_scale(qtbot, window, tmp_path,
                                                                                      monkeypatch):
    from circuitloupe.ui.dock_title import PaneTitleBar
    from circuitloupe.ui.widgets.export import export_pane

    for name, dock in window.docks.items():
        bar = dock.titleBarWidget()
        assert isinstance(bar, PaneTitleBar) and bar.name == name
        assert bar.cli_action.isEnabled() and bar.export_action.isEnabled()
    load(qtbot, window)
    pane = window.panes["activations"]
    window.open_image(stripes(tmp_path / "s.png"))
    qtbot.waitUntil(lambda: pane.activation is not None, timeout=30_000)
    window.docks["activations"].titleBarWidget().cli_action.trigger()
    assert QGuiApplication.clipboard().text() == pane.cli_command()
    assert QGuiApplication.clipboard().text().startswith("circuitloupe activations ")

    def no_grab(*_args, **_kwargs):
        raise AssertionError("an export grabbed the screen")

    monkeypatch.setattr(QWidget, "grab", no_grab)
    assert export_pane(pane, tmp_path / "x1.png", 1.0) and export_pane(pane, tmp_path / "x3.png", 3.0)
    small, large = Image.open(tmp_path / "x1.png"), Image.open(tmp_path / "x3.png")
    assert abs(large.width / small.width - 3) < 0.05 and abs(large.height / small.height - 3) < 0.05


def test_no_pane_figure_grabs_or_renders_widgets():
    """figure() of every pane builds the image from data (core figures), never from widget pixels."""
    forbidden = {"grab", "render", "grabWindow", "toImage", "renderToImage", "ImageExporter"}
    for cls in (entry.load() for entry in pane_package.PANES):
        source = inspect.getsource(cls)
        tree = ast.parse(source.replace("\n    ", "\n") if source.startswith("    ") else source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "figure":
                names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
                names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                assert not names & forbidden, f"{cls.__name__}.figure uses {names & forbidden}"


def test_about_lists_versions_and_every_shipped_licence(qtbot, window, tmp_path, monkeypatch):
    from circuitloupe.ui import about

    text = about.about_html("cpu")
    for name in ("Circuit Loupe", "torch", "PySide6-Essentials", "pyqtgraph", "Qt", "MIT"):
        assert name in text
    real = about.bundled_licences()
    rotmnist = [lic for folder, lic in real if folder == "att_gconvs_rotmnist"]
    if rotmnist:
        assert "Erik J Bekkers" in text and "Permission is hereby granted" in text
    fake = tmp_path / "resources"
    (fake / "models" / "toy").mkdir(parents=True)
    (fake / "models" / "toy" / "LICENSE").write_text("Toy Licence 1.0\n\nYou may play with it.\n")
    monkeypatch.setattr(about, "resource_path", lambda *parts: fake.joinpath(*parts))
    text = about.about_html("cpu")
    assert "Toy Licence 1.0" in text and "You may play with it." in text
    dialog = about.AboutDialog("cpu", window)
    assert "Toy Licence 1.0" in dialog.text.toPlainText()


# ----------------------------------------------------------------------------- tooltips
INTERACTIVE = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QAbstractSlider, QAbstractItemView,
               QPlainTextEdit, QTextEdit)


def _has_tip(widget: QWidget) -> bool:
    if widget.toolTip().strip():
        return True
    if isinstance(widget, QToolButton) and widget.defaultAction() is not None:
        action = widget.defaultAction()
        return action.toolTip().replace("&", "") != action.text().replace("&", "")  # set, not Qt's default
    return False


def _is_part_of_another_control(widget: QWidget) -> bool:
    """Sub-widgets Qt builds inside a control (a spin box's editor, a combo's line edit, scroll
    bars of a view, a tab bar's scroll buttons, a menu's items) share their owner's tooltip."""
    parent = widget.parentWidget()
    if isinstance(parent, (QAbstractSpinBox, QComboBox, QTabBar, QMenu)):
        return True
    if isinstance(widget, QAbstractSlider) and widget.objectName() in ("qt_scrollarea_hcontainer",
                                                                       "qt_scrollarea_vcontainer", ""):
        ancestor = parent
        while ancestor is not None:
            if isinstance(ancestor, (QAbstractItemView, QPlainTextEdit, QTextEdit)) or \
                    type(ancestor).__name__ in ("QScrollArea", "GraphicsLayoutWidget", "PlotWidget"):
                return True
            ancestor = ancestor.parentWidget()
        return type(parent).__name__ == "QWidget" and parent.objectName().startswith("qt_scrollarea")
    return parent is not None and type(parent).__name__ == "QComboBoxPrivateContainer"


def controls_without_tooltip(root: QWidget) -> list[str]:
    """Interactive widgets under ``root`` a user would hover and find no tooltip on."""
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or isinstance(widget, (QTabBar, QHeaderView)) \
                or _is_part_of_another_control(widget):
            continue
        if widget.objectName().startswith("qt_") or widget.window() is not root.window():
            continue
        if not _has_tip(widget):
            owner, parent = "", widget.parentWidget()
            while parent is not None and not owner:
                owner = parent.objectName()
                parent = parent.parentWidget()
            missing.append(f"{type(widget).__name__} '{getattr(widget, 'text', lambda: '')()}' in {owner}")
    return missing


def test_every_control_of_the_window_and_its_panes_has_a_tooltip(qtbot, window):
    load(qtbot, window)
    window.show_welcome()
    missing_welcome = controls_without_tooltip(window.welcome)
    window.hide_welcome()
    missing = controls_without_tooltip(window) + missing_welcome
    assert not missing, "controls without a tooltip:\n" + "\n".join(sorted(set(missing)))


STARTUP_PROBE = '''
import importlib.abc, os, sys, threading
importers = []

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            importers.append(threading.current_thread() is threading.main_thread())
        return None

sys.meta_path.insert(0, Probe())
import builtins
builtins.loupe_torch_importers = importers
from circuitloupe.cli import main
sys.exit(main(["--model", "bundled", "--theme", "light", "--script", os.environ["LOUPE_SCRIPT"]]))
'''


def test_the_window_shows_before_torch_is_imported_and_torch_loads_off_the_gui_thread(tmp_path):
    """Start-up: only Qt on the GUI thread until the window is up; torch, the panes' modules and
    the model load on the inference worker."""
    import os
    import subprocess
    import sys

    script = tmp_path / "check.py"
    script.write_text("import builtins\n"
                      "loupe.wait_idle(timeout=120)\n"
                      "assert state.model is not None and state.model.spec == 'bundled'\n"
                      "print('TORCH IMPORTED ON GUI THREAD:', any(builtins.loupe_torch_importers))\n"
                      "loupe.quit(0)\n")
    env = dict(os.environ, LOUPE_SCRIPT=str(script), QT_QPA_PLATFORM="offscreen",
               CIRCUITLOUPE_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-c", STARTUP_PROBE], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TORCH IMPORTED ON GUI THREAD: False" in result.stdout, result.stdout + result.stderr[-2000:]
    shown = result.stderr.index("window shown")
    assert shown < result.stderr.index("loaded bundled")  # the window came first
