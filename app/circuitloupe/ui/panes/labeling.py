"""Labeling pane: label dataset crops blind, keyboard first, and see labels against activation.

Keys (with the pane focused): 1-9 give a label, S skips, Backspace or Ctrl+Z undoes the last
answer, Left/Right move back and forth, R reveals the activation and attribution of an item
already answered. Every answer is in the session file before the next crop shows. Crops are
decoded on a background thread, a few items ahead. Beside the crop, the unit's feature
visualisation (cached, or rendered once) shows its preferred orientation; Reference… can pick an
image file instead. The Results tab plots label proportions
per activation bin, the density coloured by label, and each label's share of x·p(x), plus the
agreement between labellers.
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QMenu,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from circuitloupe.core import figures
from circuitloupe.core.dataset import ScanSettings, scan
from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.images import load_image
from circuitloupe.core.labeling import (BUILTIN, DEFAULT_LABELLER, LabelResults, LabelSession,
                                        LabelSet, SamplingPlan, create_session, session_path)
from circuitloupe.core.labeling.figures import bin_label_fractions, positive_summary, view_figure
from circuitloupe.core.labeling.reference import cached_reference, is_session_model, render_reference
from circuitloupe.core.labeling.reveal import position_attribution
from circuitloupe.core.labeling.stats import UNLABELLED
from circuitloupe.service import JobContext
from circuitloupe.ui.widgets.controls import spin_box
from circuitloupe.ui.widgets.pane import Pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

DISPLAY_PX = 360
PREFETCH = 4
UNLABELLED_COLOUR = "#dddddd"


def new_session_job(ctx: JobContext, path: str, unit: str, folder: str, settings: ScanSettings, plan: SamplingPlan,
                    label_set: LabelSet) -> str:
    """Scan ``folder`` (reusing its cache) and sample a session into ``path``; returns the path."""
    result = scan(ctx.model, unit, folder, settings, progress=ctx.progress, should_stop=ctx.should_stop)
    weights = ctx.model.weights_id if ctx.model.weights_id.startswith("random") else None
    create_session(path, ctx.model, unit, result.cache, plan, label_set, weights=weights).close()
    return path


def attribution_job(ctx: JobContext, session_file: str, relpath: str, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
    """(crop [h, w, 3], gradient x input over the crop [h, w]) for one item."""
    with LabelSession(session_file) as session:
        loader = session.crop_loader()
        pixels = loader.prepared(relpath)
        return loader(relpath, y, x), position_attribution(ctx.model, session.info, pixels, y, x)


def reference_job(ctx: JobContext, session_file: str) -> tuple[str, np.ndarray]:
    """(session file, the session unit's feature visualisation), rendered if none is cached."""
    with LabelSession(session_file) as session:
        info = session.info
    return session_file, render_reference(ctx.model, info, progress=ctx.progress, should_stop=ctx.should_stop)


class NewSessionDialog(QDialog):
    """Folder, unit, sampling plan and label set of a new session."""

    def __init__(self, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New labeling session")
        self.folder = QLineEdit()
        self.folder.setToolTip("Folder of images to sample from (scanned first, or its cache reused)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder)
        folder_row.addWidget(browse)
        self.unit = QLineEdit(unit)
        self.unit.setToolTip("The unit whose activation the sample is stratified by")
        self.name = QLineEdit()
        self.name.setPlaceholderText("session name (kept in the data folder) or a .labels path")
        self.bin_width = QDoubleSpinBox()
        self.bin_width.setRange(1e-4, 1e6)
        self.bin_width.setDecimals(4)
        self.bin_width.setValue(100.0)
        self.bin_width.setToolTip("Activation bin width (the article used 100 for mixed3b:379)")
        self.per_bin = spin_box(1, 100000, 50, "Items drawn from each bin, without replacement")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Sampling seed: the same plan and seed give the same items in the same order")
        self.over = QComboBox()
        self.over.addItems(["positions", "images"])
        self.over.setToolTip("positions: every receptive field of every image is a candidate; images: one per "
                             "image, at its maximum")
        self.labels = QComboBox()
        self.labels.addItems(list(BUILTIN))
        self.labels.setToolTip("Label set (editable later with Edit labels…)")
        self.size = QSpinBox()
        self.size.setRange(0, 1024)
        self.size.setSpecialValueText("model")
        self.size.setSuffix(" px")
        self.size.setToolTip("Scan input size (\"model\": the model's own input size)")
        form = QFormLayout(self)
        for label, widget in (("Folder", folder_row), ("Unit", self.unit), ("Session", self.name),
                              ("Bin width", self.bin_width), ("Per bin", self.per_bin), ("Seed", self.seed),
                              ("Sample over", self.over), ("Labels", self.labels), ("Input size", self.size)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Image folder", self.folder.text() or str(Path.home()))
        if folder:
            self.folder.setText(folder)
            if not self.name.text():
                self.name.setText(f"{self.unit.text().replace(':', '-')}-{Path(folder).name}")

    def plan(self) -> SamplingPlan:
        return SamplingPlan(self.bin_width.value(), self.per_bin.value(), self.seed.value(), self.over.currentText())

    def settings(self) -> ScanSettings:
        size = self.size.value()
        return ScanSettings(size=(size, size) if size else None, workers=2)


class LabelingPane(Pane):
    title = "Labeling"
    object_name = "labeling"
    area = Qt.DockWidgetArea.RightDockWidgetArea
    shortcut = "Ctrl+9"

    sigCropReady = Signal(int, object)  # item id, crop [h, w, 3] or None (emitted from the decoding thread)

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.session: LabelSession | None = None
        self.index: int | None = None
        self.current_crop: np.ndarray | None = None
        self.results: LabelResults | None = None
        self.reference_pixels: np.ndarray | None = None  # the image shown beside the items
        self._crops: dict[int, np.ndarray | None] = {}
        self._pending: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-crops")
        self._loader = None
        self._shown_at = time.monotonic()
        self._since_break = 0
        self._reference_job = None
        self.sigCropReady.connect(self._on_crop_ready)
        state.sigModelChanged.connect(self._on_model_changed)
        pool = self._pool
        self.destroyed.connect(lambda *_: pool.shutdown(wait=False, cancel_futures=True))
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        new = self._button("New session…", "Sample a new session from an image folder for the current unit",
                           self.new_session_dialog)
        open_ = self._button("Open session…", "Open a .labels session file to go on labelling", self.open_dialog)
        self.session_label = QLabel("No session open.")
        self.labeller = QLineEdit(DEFAULT_LABELLER)
        self.labeller.setMinimumWidth(80)
        self.labeller.setMaximumWidth(140)
        self.labeller.setToolTip("Your name: answers are kept per labeller, so two people can label one session "
                                 "and compare (Results tab)")
        self.labeller.editingFinished.connect(self._on_labeller_changed)
        self.edit_labels = self._button("Edit labels…", "Rename, describe or add labels (answers follow renames)",
                                        self.edit_labels_dialog)
        self.reference_button = QPushButton("Reference…")
        self.reference_button.setToolTip("The image beside every item: the unit's feature visualisation (the "
                                         "reference orientation; default) or an image file of your own")
        self.reference_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        menu = QMenu(self.reference_button)
        menu.addAction("Unit's feature visualisation", self.use_featurevis_reference)
        menu.addAction("Image file…", self.reference_dialog)
        menu.addSeparator()
        self.render_reference = menu.addAction("Render the visualisation when none is cached")
        self.render_reference.setCheckable(True)
        self.render_reference.setChecked(True)
        self.render_reference.toggled.connect(lambda _on: self._show_reference())
        self.reference_button.setMenu(menu)
        self.break_every = QSpinBox()
        self.break_every.setRange(0, 10000)
        self.break_every.setValue(100)
        self.break_every.setPrefix("break every ")
        self.break_every.setSpecialValueText("no breaks")
        self.break_every.setToolTip("Remind me to rest after this many answers (afterimages bias judgements)")
        self.reveal_after = QCheckBox("reveal after answering")
        self.reveal_after.setToolTip("After each answer, show that item's activation and attribution. Off (blind): "
                                     "press R on an answered item to reveal it")
        for widget in (self.labeller, self.break_every, self.reveal_after):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        top = QHBoxLayout()
        for widget in (new, open_, self.session_label):
            top.addWidget(widget)
        top.addStretch(1)
        for widget in (QLabel("Labeller"), self.labeller, self.edit_labels, self.reference_button, self.break_every,
                       self.reveal_after):
            top.addWidget(widget)

        self.image = QLabel("Open or create a session.")
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(DISPLAY_PX, DISPLAY_PX)
        self.image.setToolTip("The item to label: a receptive-field-sized crop, shown without its activation")
        self.reference = QLabel("")
        self.reference.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reference.setWordWrap(True)
        self.reference.setMinimumSize(DISPLAY_PX // 3, DISPLAY_PX // 2)
        self.reference.setToolTip("Reference image (Reference… to change)")
        self.reference_caption = QLabel("")
        self.reference_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reference_caption.setWordWrap(True)
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reveal_text = QLabel("")
        self.reveal_text.setWordWrap(True)
        self.reveal_image = QLabel("")
        self.reveal_image.setToolTip("Attribution of the revealed item: red pixels pushed the unit up, blue down")
        self.rubric = QVBoxLayout()
        self.label_buttons: list[QPushButton] = []
        actions = QGridLayout()
        for i, (text, tip, slot) in enumerate((
                ("Skip (S)", "Skip this item; it counts as seen and can be revisited with the arrows", self.skip),
                ("Undo (⌫)", "Undo your last answer and go back to its item (Backspace or Ctrl+Z)", self.undo),
                ("← Back", "Previous item (Left arrow)", lambda: self.move(-1)),
                ("Next →", "Next item (Right arrow)", lambda: self.move(1)))):
            actions.addWidget(self._button(text, tip, slot), i // 2, i % 2)
        self.breaker = QFrame()
        self.breaker.setFrameShape(QFrame.Shape.StyledPanel)
        self.breaker_text = QLabel("")
        self.breaker_text.setWordWrap(True)
        dismiss = self._button("Back to work", "Hide this reminder", self._dismiss_break)
        breaker_layout = QHBoxLayout(self.breaker)
        breaker_layout.addWidget(self.breaker_text, 1)
        breaker_layout.addWidget(dismiss)
        self.breaker.hide()
        self.progress_bar = QProgressBar()
        self.progress_text = QLabel("")

        left = QVBoxLayout()
        images = QHBoxLayout()
        images.addWidget(self.image, 3)
        reference_column = QVBoxLayout()
        reference_column.addStretch(1)
        reference_column.addWidget(self.reference)
        reference_column.addWidget(self.reference_caption)
        reference_column.addStretch(1)
        images.addLayout(reference_column, 1)
        left.addLayout(images, 1)
        left.addWidget(self.caption)
        right = QVBoxLayout()
        right.addLayout(self.rubric)
        right.addLayout(actions)
        right.addWidget(self.reveal_text)
        right.addWidget(self.reveal_image)
        right.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addLayout(right, 2)
        label_tab = QWidget()
        label_layout = QVBoxLayout(label_tab)
        label_layout.addWidget(self.breaker)
        label_layout.addLayout(body, 1)
        label_layout.addWidget(self.progress_bar)
        label_layout.addWidget(self.progress_text)

        self.proportion_plot = self._plot("label proportion per activation bin", "proportion")
        self.density_plot = self._plot("dataset density coloured by label", "density")
        self.expected_plot = self._plot("contribution to expected value", "x · p(x)")
        self.headline = QLabel("")
        self.agreement_note = QLabel("")
        self.agreement = QTableWidget()
        self.agreement.setToolTip("Agreement between labellers on items both labelled: percent and Cohen's kappa, "
                                  "overall and per label (that label or not)")
        results_tab = QWidget()
        results_layout = QVBoxLayout(results_tab)
        results_layout.addWidget(self.headline)
        plots = QHBoxLayout()
        for plot in (self.proportion_plot, self.density_plot, self.expected_plot):
            plots.addWidget(plot)
        results_layout.addLayout(plots, 2)
        results_layout.addWidget(self.agreement_note)
        results_layout.addWidget(self.agreement, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(label_tab, "Label")
        self.tabs.addTab(results_tab, "Results")
        self.tabs.currentChanged.connect(lambda _: self.refresh_results())
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.job_progress = JobProgress("img")
        self.job_progress.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.job_progress)
        layout.addWidget(self.tabs, 1)

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(slot)
        return button

    def _plot(self, title: str, left: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title)
        plot.setLabel("left", left)
        plot.setLabel("bottom", "activation")
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.addLegend(offset=(-5, 5))
        return plot

    # ------------------------------------------------------------------ sessions
    def labeller_name(self) -> str:
        return self.labeller.text().strip() or DEFAULT_LABELLER

    def open_session(self, path: str | Path) -> None:
        """Open a session file and resume at the labeller's first unanswered item."""
        try:
            session = LabelSession(session_path(path))
        except UserError as error:
            self.state.message(str(error))
            return
        if self.session is not None:
            self.session.close()
        self.session = session
        self._crops.clear()
        self._pending.clear()
        loader = session.crop_loader()
        self._loader = loader
        self._since_break = 0
        info = session.info
        self.session_label.setText(f"<b>{session.path.stem}</b>: {info.unit}, {len(session.items)} items, "
                                   f"{Path(info.dataset).name}")
        self.session_label.setToolTip(f"{session.path}\nmodel {info.model} ({info.weights_id})\n"
                                      f"dataset {info.dataset}\nbins of {info.plan.bin_width:g}, "
                                      f"{info.plan.per_bin} per bin, seed {info.plan.seed}")
        self._build_rubric()
        self._show_reference()
        self.reveal_text.setText("")
        self.reveal_image.clear()
        self._go(session.next_open(self.labeller_name()))
        self.refresh_results()
        self.setFocus()

    def create_session(self, path: str, unit: str, folder: str, plan: SamplingPlan, label_set: LabelSet,
                       settings: ScanSettings) -> None:
        """Scan and sample a new session as a job, then open it."""
        if self.state.model is None:
            self.state.message("Load a model before creating a labeling session")
            return
        target = str(session_path(path))
        if Path(target).exists():
            self.state.message(f"{target} already exists; open it, or pick another name")
            return

        def connect(job):
            self.job_progress.show()
            self.job_progress.follow(job)
            job.sigFinished.connect(self.open_session)
            for signal in (job.sigFinished, job.sigFailed, job.sigCancelled):
                signal.connect(lambda *_: self.job_progress.hide())

        self.run_job(new_session_job, target, unit, folder, settings, plan, label_set, connect=connect,
                     name=f"new labeling session {unit}")

    def new_session_dialog(self) -> None:
        dialog = NewSessionDialog(str(self.state.unit or ""), self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        name = dialog.name.text().strip() or dialog.unit.text().replace(":", "-")
        try:
            self.create_session(name, dialog.unit.text().strip(), dialog.folder.text().strip(), dialog.plan(),
                                BUILTIN[dialog.labels.currentText()], dialog.settings())
        except UserError as error:
            self.state.message(str(error))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open labeling session", str(session_path("x").parent),
                                              "Labeling sessions (*.labels);;All files (*)")
        if path:
            self.open_session(path)

    def edit_labels_dialog(self) -> None:
        if self.session is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("Edit labels")
        text = QPlainTextEdit(self.session.label_set.to_text())
        text.setToolTip("One label per line: name: description. A * before the name marks labels that count as "
                        "the feature (summed in the results headline). Lines are matched to the old labels by "
                        "position, so renaming keeps answers.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_label_text(text.toPlainText())

    def apply_label_text(self, text: str) -> None:
        """Replace the session's label set from its text form (renames matched by position)."""
        old = self.session.label_set
        try:
            names = LabelSet.from_text(text, old.name).names
            renames = {a: b for a, b in zip(old.names, names) if a != b and a not in names}
            colours = {renames.get(l.name, l.name): l.colour for l in old.labels}
            self.session.set_label_set(LabelSet.from_text(text, old.name, colours), renames)
        except UserError as error:
            self.state.message(str(error))
            return
        self._build_rubric()
        self._update_caption()
        self.refresh_results()

    def reference_dialog(self) -> None:
        """Pick an image file to show beside every item instead of the feature visualisation."""
        if self.session is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Reference image", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.set_reference_file(path)

    def set_reference_file(self, path: str | None) -> None:
        """Show ``path`` beside every item of this session (None: the unit's feature visualisation)."""
        if self.session is None:
            return
        self.session.reference = path
        self._show_reference()
        self.setFocus()

    def use_featurevis_reference(self) -> None:
        """Drop the session's reference file and go back to the unit's feature visualisation."""
        self.set_reference_file(None)

    def _show_reference(self) -> None:
        """The session's reference file if it names one, else the unit's feature visualisation:
        from the cache at once, or rendered by a job when rendering is on."""
        self.reference.clear()
        self.reference_caption.clear()
        self.reference_pixels = None
        if self.session is None:
            return
        path = self.session.reference
        if path:
            try:
                pixels = load_image(path)
            except ImageError as error:
                self.state.message(f"{error}; showing the unit's feature visualisation instead")
            else:
                self._set_reference(pixels, f"Reference image {path} (Reference… to change)",
                                    f"reference: {Path(path).name}")
                return
        info, model = self.session.info, self.state.model
        if not is_session_model(model, info):
            self.reference.setText(f"Load {info.model} to see {info.unit}'s feature visualisation here.")
            return
        pixels = cached_reference(model, info)
        if pixels is not None:
            self._set_reference(pixels, self._featurevis_tip(info), self._featurevis_caption(info))
        elif not self.render_reference.isChecked():
            self.reference.setText(f"No feature visualisation of {info.unit} is cached.")
        elif self._reference_job is None:
            self.reference.setText(f"Rendering {info.unit}'s feature visualisation…")
            self._reference_job = self.run_job(reference_job, str(self.session.path), name=f"reference {info.unit}",
                                               on_done=self._on_reference_rendered)
            for signal in (self._reference_job.sigFailed, self._reference_job.sigCancelled):
                signal.connect(self._on_reference_stopped)

    def _on_model_changed(self, _model) -> None:
        self._show_reference()

    def _on_reference_rendered(self, result: tuple[str, np.ndarray]) -> None:
        self._reference_job = None
        session_file, pixels = result
        if self.session is None or str(self.session.path) != session_file:
            self._show_reference()  # another session opened meanwhile
        elif not self.session.reference:
            info = self.session.info
            self._set_reference(pixels, self._featurevis_tip(info), self._featurevis_caption(info))

    def _on_reference_stopped(self, *_args) -> None:
        self._reference_job = None
        if not self.reference.pixmap() or self.reference.pixmap().isNull():
            self.reference.setText("No feature visualisation (its rendering stopped).")

    def _set_reference(self, pixels: np.ndarray, tip: str, caption: str) -> None:
        self.reference_pixels = pixels
        self.reference.setPixmap(array_to_pixmap(_display(pixels, DISPLAY_PX // 2)))
        self.reference.setToolTip(tip)
        self.reference_caption.setText(caption)

    @staticmethod
    def _featurevis_caption(info) -> str:
        return f"reference: {info.unit}'s feature visualisation"

    @staticmethod
    def _featurevis_tip(info) -> str:
        return (f"Feature visualisation of {info.unit}: the reference orientation (Reference… to pick an image "
                "file instead)")

    def _build_rubric(self) -> None:
        while self.rubric.count():
            widget = self.rubric.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.label_buttons = []
        for k, label in enumerate(self.session.label_set.labels):
            button = self._button(f"{k + 1}  {label.name}", label.description, lambda _=False, k=k: self.answer(k))
            swatch = QPixmap(14, 14)
            swatch.fill(QColor(self.session.label_set.colour(label.name)))
            button.setIcon(QIcon(swatch))
            button.setStyleSheet("QPushButton { text-align: left; padding: 4px 8px; }")
            description = QLabel(label.description)
            description.setWordWrap(True)
            self.rubric.addWidget(button)
            self.rubric.addWidget(description)
            self.label_buttons.append(button)

    def _on_labeller_changed(self) -> None:
        if self.session is not None:
            self._since_break = 0
            self._go(self.session.next_open(self.labeller_name()))
            self.refresh_results()
        self.setFocus()

    # ------------------------------------------------------------------ answering
    def answer(self, k: int) -> None:
        """Give label number ``k`` (0-based) to the current item."""
        item = self._current_item()
        if item is None or k >= len(self.session.label_set.names):
            return
        seconds = time.monotonic() - self._shown_at
        try:
            self.session.answer(item.id, self.session.label_set.names[k], seconds, self.labeller_name())
        except UserError as error:
            self.state.message(str(error))
            return
        self._after_answer(item)

    def skip(self) -> None:
        item = self._current_item()
        if item is None:
            return
        self.session.skip(item.id, time.monotonic() - self._shown_at, self.labeller_name())
        self._after_answer(item)

    def undo(self) -> None:
        if self.session is None:
            return
        item = self.session.undo(self.labeller_name())
        if item is None:
            self.state.message("Nothing to undo")
            return
        self._since_break = max(0, self._since_break - 1)
        self._go(self.session.items.index(item))
        self.state.message(f"Undid the answer to item {item.order + 1}")

    def move(self, step: int) -> None:
        if self.session is None or not self.session.items:
            return
        start = self.index if self.index is not None else len(self.session.items) - 1
        self._go(min(max(start + step, 0), len(self.session.items) - 1))

    def reveal(self) -> None:
        """Show the current item's activation and attribution, if it has been answered."""
        item = self._current_item()
        if item is None:
            return
        if item.id not in self.session.answers(self.labeller_name()):
            self.state.message("Answer first: activations stay hidden until an item has an answer")
            return
        self._reveal(item)

    def _after_answer(self, item) -> None:
        self._since_break += 1
        every = self.break_every.value()
        if every and self._since_break >= every:
            self._since_break = 0
            self.breaker_text.setText(f"{every} answers since the last break. Look at something far away for a "
                                      "minute: after hundreds of similar images, afterimages bias what you see.")
            self.breaker.show()
        if self.reveal_after.isChecked():
            self._reveal(item)
        else:
            label = self.session.answers(self.labeller_name())[item.id].label
            self.reveal_text.setText(f"Item {item.order + 1}: {label or 'skipped'} (press ← then R to reveal)")
            self.reveal_image.clear()
        self._go(self.session.next_open(self.labeller_name(), self.index + 1))
        if self.tabs.currentIndex() == 1:
            self.refresh_results()

    def _dismiss_break(self) -> None:
        self.breaker.hide()
        self.setFocus()

    def _reveal(self, item) -> None:
        answer = self.session.answers(self.labeller_name()).get(item.id)
        width = self.session.info.plan.bin_width
        label = "skipped" if answer is None or answer.label is None else answer.label
        self.reveal_text.setText(f"Item {item.order + 1}: activation <b>{item.value:.4g}</b> (bin {item.bin * width:g}"
                                 f" .. {(item.bin + 1) * width:g}); your answer: {label}")
        info, model = self.session.info, self.state.model
        if model is None or (model.spec, model.weights_id) != (info.model, info.weights_id):
            self.reveal_image.setText(f"Load {info.model} ({info.weights_id}) to see the attribution.")
            return
        self.run_job(attribution_job, str(self.session.path), item.relpath, item.y, item.x,
                     name="labeling attribution",
                     on_done=self._show_attribution)

    def _show_attribution(self, result: tuple[np.ndarray | None, np.ndarray]) -> None:
        crop, heat = result
        if crop is None:
            return
        overlay = figures.heat_overlay(crop, heat, signed=True)
        self.reveal_image.setPixmap(array_to_pixmap(_display(overlay, DISPLAY_PX // 2)))

    # ------------------------------------------------------------------ showing items
    def _current_item(self):
        if self.session is None or self.index is None:
            return None
        return self.session.items[self.index]

    def _go(self, index: int | None) -> None:
        self.index = index
        self.current_crop = None
        self._update_progress()
        if index is None:
            self.image.clear()
            self.image.setText("Every item has an answer. Use ← to review, or see the Results tab.")
            self.caption.setText("")
            return
        item = self.session.items[index]
        self._update_caption()
        for ahead in range(index, min(index + PREFETCH + 1, len(self.session.items))):
            self._request(self.session.items[ahead])
        if item.id in self._crops:
            self._display(item.id)
        else:
            self.image.setText("loading…")

    def _request(self, item) -> None:
        if item.id in self._crops or item.id in self._pending:
            return
        self._pending.add(item.id)
        loader = self._loader
        self._pool.submit(lambda: self.sigCropReady.emit(item.id, loader(item.relpath, item.y, item.x)))

    def _on_crop_ready(self, item_id: int, crop: np.ndarray | None) -> None:
        self._pending.discard(item_id)
        if self.session is None:
            return
        if len(self._crops) > 64:
            self._crops.pop(next(iter(self._crops)))
        self._crops[item_id] = crop
        item = self._current_item()
        if item is not None and item.id == item_id:
            self._display(item_id)

    def _display(self, item_id: int) -> None:
        crop = self._crops[item_id]
        if crop is None:
            item = self._current_item()
            self.image.setText(f"{item.relpath} can no longer be read (moved or deleted?); skip it with S.")
            self.current_crop = None
        else:
            self.current_crop = crop
            self.image.setPixmap(array_to_pixmap(_display(crop, DISPLAY_PX)))
        self._shown_at = time.monotonic()

    def _update_caption(self) -> None:
        item = self._current_item()
        if item is None:
            return
        answer = self.session.answers(self.labeller_name()).get(item.id)
        state = "not answered" if answer is None else ("skipped" if answer.label is None else
                                                       f"your answer: {answer.label}")
        self.caption.setText(f"item {item.order + 1} of {len(self.session.items)} · {state}")

    def _update_progress(self) -> None:
        if self.session is None:
            return
        labelled, skipped, total = self.session.progress(self.labeller_name())
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(labelled + skipped)
        rate = self.session.rate(self.labeller_name())
        self.progress_text.setText(f"{labelled} labelled · {skipped} skipped · {total - labelled - skipped} to go"
                                   + (f" · {rate:.1f} per minute" if rate else ""))

    # ------------------------------------------------------------------ keys, project
    def key_help(self) -> list[tuple[str, str]]:
        """The keys of :meth:`keyPressEvent`, for the F1 sheet."""
        return [("1 … 9", "answer with label 1 … 9"), ("Backspace, Ctrl+Z", "undo the last answer"),
                ("S", "skip this image"), ("Left, Right", "previous / next image"),
                ("R", "reveal activation and attribution (after answering)")]

    def project_state(self) -> dict:
        """The open session's file, kept in the project's label sessions."""
        return {"label_sessions": [str(self.session.path)]} if self.session is not None else {}

    def restore_project_state(self, data: dict) -> None:
        sessions = data.get("label_sessions")
        if isinstance(sessions, list) and sessions:
            self.open_session(str(sessions[-1]))

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        key, text = event.key(), event.text()
        if event.matches(QKeySequence.StandardKey.Undo) or key == Qt.Key.Key_Backspace:
            self.undo()
        elif text and text in "123456789" and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.answer(int(text) - 1)
        elif key == Qt.Key.Key_S:
            self.skip()
        elif key == Qt.Key.Key_Left:
            self.move(-1)
        elif key == Qt.Key.Key_Right:
            self.move(1)
        elif key == Qt.Key.Key_R:
            self.reveal()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ------------------------------------------------------------------ results
    def refresh_results(self) -> None:
        """Recompute the labeller's results and redraw the Results tab."""
        if self.session is None:
            return
        self.results = self.session.results(self.labeller_name())
        results, label_set = self.results, self.session.label_set
        self.headline.setText(f"{self.labeller_name()}: {int(results.counts.sum())} labelled. "
                              + positive_summary(results, label_set))
        for plot in (self.proportion_plot, self.density_plot, self.expected_plot):
            plot.clear()
            plot.getPlotItem().legend.clear()
        if len(results.numbers):
            edges = np.stack([results.numbers, results.numbers + 1], axis=1).ravel() * results.bin_width
            bottom = np.zeros(len(edges))
            for k, name in enumerate(results.names):
                top = bottom + np.repeat(results.proportions[:, k], 2)
                colour = label_set.colour(name)
                fill = pg.FillBetweenItem(pg.PlotCurveItem(edges, bottom), pg.PlotCurveItem(edges, top),
                                          brush=pg.mkBrush(colour))
                self.proportion_plot.addItem(fill)
                self.proportion_plot.getPlotItem().legend.addItem(pg.BarGraphItem(x=[0], height=[0], width=1,
                                                                                  brush=colour), name)
                bottom = top
        dataset = results.dataset
        total = dataset.counts.sum()
        xpx = dataset.relu_sums / (total * dataset.width) if total else dataset.relu_sums
        self._stacked(self.density_plot, dataset.density(), positive_only=False)
        self._stacked(self.expected_plot, xpx, positive_only=True)
        self._fill_agreement()

    def _stacked(self, plot: pg.PlotWidget, heights: np.ndarray, positive_only: bool) -> None:
        results, label_set = self.results, self.session.label_set
        dataset = results.dataset
        centres, fractions, names = bin_label_fractions(results)
        keep = centres > 0 if positive_only else np.ones(len(centres), bool)
        bottom = np.zeros(len(centres))
        for k, name in enumerate(names):
            part = heights * fractions[:, k]
            colour = UNLABELLED_COLOUR if name == UNLABELLED else label_set.colour(name)
            share = f" {results.shares[name]:.0%}" if positive_only else ""
            bars = pg.BarGraphItem(x=centres[keep], height=part[keep], y0=bottom[keep], width=dataset.width,
                                   brush=colour, pen=None, name=name + share)
            plot.addItem(bars)
            bottom = bottom + part

    def _fill_agreement(self) -> None:
        labellers = self.session.labellers()
        me = self.labeller_name()
        others = [name for name in labellers if name != me]
        names = self.session.label_set.names
        self.agreement.clear()
        shown = me in labellers and bool(others)
        self.agreement.setVisible(shown)
        self.agreement_note.setText(f"Agreement of {me} with the other labellers of this session:" if shown else
                                    "Agreement appears when a second labeller (type another name above) has "
                                    "labelled items of this session too.")
        if not shown:
            return
        pairs = [self.session.agreement(me, other) for other in others]
        self.agreement.setRowCount(len(names) + 1)
        self.agreement.setColumnCount(2 * len(pairs))
        headers = []
        for pair in pairs:
            headers += [f"{me} / {pair['labellers'][1]} %", "kappa"]
        self.agreement.setHorizontalHeaderLabels(headers)
        self.agreement.setVerticalHeaderLabels(["all labels", *names])
        for c, pair in enumerate(pairs):
            rows = [pair] + [pair["per_label"][name] for name in names]
            for r, stats in enumerate(rows):
                self.agreement.setItem(r, 2 * c, QTableWidgetItem(_number(stats["percent"], "{:.1f}")))
                self.agreement.setItem(r, 2 * c + 1, QTableWidgetItem(_number(stats["kappa"], "{:.3f}")))

    # ------------------------------------------------------------------ export
    def figure(self, scale: float = 1.0) -> Image.Image | None:
        if self.session is None:
            return None
        results = self.session.results(self.labeller_name())
        if not results.counts.sum():
            return None
        return view_figure(results, self.session.label_set, "results", scale)

    def cli_command(self) -> str | None:
        if self.session is None:
            return None
        return (f"circuitloupe label stats {shlex.quote(str(self.session.path))} --labeller "
                f"{shlex.quote(self.labeller_name())} --out label-results.png --json label-results.json")


def _display(pixels: np.ndarray, size: int) -> np.ndarray:
    """An image scaled (smoothly) so its longer side is ``size`` pixels, as uint8 [h, w, 3]."""
    return np.asarray(figures.upscale(figures.to_pil(pixels).convert("RGB"), size, smooth=True))


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None else form.format(value)

