"""The welcome screen: the most useful ways to start, and the recent projects.

1. Open InceptionV1 (the Circuits network; its weights download once, or are already cached),
2. without InceptionV1's weights, open the app's default model, a real ImageNet network whose
   weights are installed with the app (EfficientNet-Lite0),
3. open the bundled model (trained here, works with no network at all),
4. open a project file.

The screen only emits signals; the main window acts on them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QIcon, QPainter, QPalette, QPixmap, QPolygonF
from PySide6.QtWidgets import (QCheckBox, QCommandLinkButton, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout, QWidget)

from circuitloupe import __version__
from circuitloupe.core import project
from circuitloupe.core.models import zoo
from circuitloupe.core.resources import resource_path

INCEPTION = "inceptionv1"


def offline_model_spec() -> str:
    """The model that works with no network: the bundled model when shipped, else another offline one."""
    ready = [entry.name for entry in zoo.entries() if entry.offline and entry.default_weights_available()]
    if "bundled" in ready:
        return "bundled"
    return ready[0] if ready else zoo.default_model_spec()


def _inception_status() -> str:
    entry = next((e for e in zoo.entries() if e.name == INCEPTION), None)
    if entry is not None and entry.default_weights_available():
        return "Lucid's InceptionV1, the network of the Circuits articles (weights cached on this machine)."
    return ("Lucid's InceptionV1, the network of the Circuits articles. Its weights download once "
            "(about 27 MB); offline, use File > Open weights… with a local copy.")


class WelcomeScreen(QWidget):
    """Start-up page. ``sigOpenModel(spec)``, ``sigOpenProject(path)``, ``sigBrowseProject()``."""

    sigOpenModel = Signal(str)
    sigOpenProject = Signal(str)
    sigBrowseProject = Signal()
    sigShowAtStartChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setAutoFillBackground(True)
        title = QLabel("Circuit Loupe")
        font = QFont(title.font())
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        subtitle = QLabel(f"Version {__version__}. Take a trained vision network apart the way the Distill "
                          "Circuits thread did: neurons, weights, feature visualisations, attribution, "
                          "tuning curves, equivariance and human labels.")
        subtitle.setWordWrap(True)
        logo = QLabel()
        icon = resource_path("icons", "circuitloupe.svg")
        if icon.is_file():
            logo.setPixmap(QIcon(str(icon)).pixmap(QSize(96, 96)))

        offline = offline_model_spec()
        self.inception_button = self._start_button(
            "Open InceptionV1", _inception_status(), lambda: self.sigOpenModel.emit(INCEPTION))
        self.bundled_button = self._start_button(
            f"Open the bundled model ({offline})",
            "A small network trained here on rendered curves, angles and lines; it has curve detectors "
            "and needs no network." if offline == "bundled" else
            f"{offline}: a network whose weights are installed with the app, so it works offline.",
            lambda: self.sigOpenModel.emit(offline))
        self.bundled_button.setProperty("spec", offline)
        default = zoo.default_model_spec()
        self.default_button = None
        if default not in (INCEPTION, offline):
            # Offline, the app's default is a real ImageNet network (EfficientNet-Lite0) whose
            # weights came with it: the quickest way to real features, with sample photos.
            self.default_button = self._start_button(
                f"Open {default} (ImageNet, works offline)",
                f"{zoo.find_entry(default).description}; its weights are installed with the app, and a "
                "sample photo opens with it.", lambda: self.sigOpenModel.emit(default))
            self.default_button.setProperty("spec", default)
        self.project_button = self._start_button(
            "Open a project…", "Continue a saved study: model, images, families, notes, label sessions "
            "and pane layout.", self.sigBrowseProject.emit)

        self.other_buttons: list[QPushButton] = []
        for entry in zoo.entries():
            if entry.offline and entry.name not in (offline, INCEPTION, default) and entry.default_weights_available():
                button = QPushButton(f"Open {entry.name}")
                button.setFlat(True)
                button.setToolTip(f"{entry.description} (works offline)")
                button.clicked.connect(lambda _=False, name=entry.name: self.sigOpenModel.emit(name))
                self.other_buttons.append(button)

        self.recent = QListWidget()
        self.recent.setMaximumHeight(260)
        self.recent.setObjectName("recent_projects")
        self.recent.setToolTip("Recent projects: double-click (or Enter) to open one")
        self.recent.itemActivated.connect(lambda item: self.sigOpenProject.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.open_recent = QPushButton("Open selected")
        self.open_recent.setToolTip("Open the selected recent project")
        self.open_recent.clicked.connect(self._open_selected)
        self.show_at_start = QCheckBox("Show this screen at start-up")
        self.show_at_start.setToolTip("When off, Circuit Loupe reopens the last model at start-up instead")
        self.show_at_start.setChecked(True)
        self.show_at_start.toggled.connect(self.sigShowAtStartChanged)

        header = QHBoxLayout()
        header.addWidget(logo)
        titles = QVBoxLayout()
        titles.addWidget(title)
        titles.addWidget(subtitle)
        header.addLayout(titles, 1)
        starts = QVBoxLayout()
        starts.addWidget(QLabel("<b>Start</b>"))
        for button in (self.inception_button, self.default_button, self.bundled_button, self.project_button):
            if button is not None:
                starts.addWidget(button)
        if self.other_buttons:
            starts.addSpacing(8)
            starts.addWidget(QLabel("Other models that work offline:"))
            others = QHBoxLayout()
            for button in self.other_buttons:
                others.addWidget(button)
            others.addStretch(1)
            starts.addLayout(others)
        starts.addStretch(1)
        recent_box = QVBoxLayout()
        recent_box.addWidget(QLabel("<b>Recent projects</b>"))
        recent_box.addWidget(self.recent)
        recent_box.addWidget(self.open_recent, 0, Qt.AlignmentFlag.AlignRight)
        recent_box.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(starts, 3)
        columns.addSpacing(24)
        columns.addLayout(recent_box, 2)
        body = QVBoxLayout()
        body.addLayout(header)
        body.addSpacing(16)
        body.addLayout(columns, 1)
        body.addWidget(self.show_at_start)
        page = QWidget()
        page.setLayout(body)
        page.setMaximumWidth(960)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(32, 32, 32, 32)
        outer.addWidget(page)
        self.refresh()

    def _start_button(self, text: str, description: str, slot) -> QCommandLinkButton:
        button = QCommandLinkButton(text, description)
        button.setToolTip(description)
        button.setIcon(self._arrow())
        button.clicked.connect(slot)
        return button

    def _arrow(self) -> QIcon:
        """A right-pointing arrow in the palette's text colour (readable in light and dark themes)."""
        pixmap = QPixmap(32, 32)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.Highlight))
        painter.drawPolygon(QPolygonF([QPointF(9, 5), QPointF(25, 16), QPointF(9, 27)]))
        painter.end()
        return QIcon(pixmap)

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "project_button"):
            for button in (self.inception_button, self.bundled_button, self.project_button):
                button.setIcon(self._arrow())
        super().changeEvent(event)

    def refresh(self) -> None:
        """Re-read the recent projects (and an untitled autosave, if one is waiting)."""
        self.recent.clear()
        untitled = project.newer_autosave(None)
        if untitled is not None:
            item = QListWidgetItem("Unsaved project (recovered from autosave)")
            item.setData(Qt.ItemDataRole.UserRole, str(untitled))
            item.setToolTip(str(untitled))
            self.recent.addItem(item)
        for path in project.recent_projects():
            item = QListWidgetItem(f"{path.stem}  —  {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.recent.addItem(item)
        if self.recent.count() == 0:
            empty_note = QListWidgetItem("No recent projects yet (File > Save project… makes one)")
            empty_note.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(empty_note)
        self.open_recent.setEnabled(any(self.recent.item(i).data(Qt.ItemDataRole.UserRole)
                                        for i in range(self.recent.count())))

    def recent_paths(self) -> list[Path]:
        return [Path(p) for i in range(self.recent.count())
                if (p := self.recent.item(i).data(Qt.ItemDataRole.UserRole))]

    def _open_selected(self) -> None:
        item = self.recent.currentItem() or self.recent.item(0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole):
            self.sigOpenProject.emit(item.data(Qt.ItemDataRole.UserRole))
