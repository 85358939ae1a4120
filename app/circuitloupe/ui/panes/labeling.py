"""Labeling pane: label dataset crops blind, keyboard first, and see labels against activation.

Keys work wherever the focus is inside the pane: 1-9 label, S skips, Backspace or Ctrl+Z undoes
(the item shows again, unanswered), Left/Right move, R reveals an answered item's activation and
attribution. Each answer is saved before the next crop shows, and confirmed under the buttons.
Crops are decoded a few items ahead on a thread; beside them, the unit's feature visualisation.
Session logic: :class:`~circuitloupe.core.labeling.controller.LabelingController`; jobs:
:mod:`circuitloupe.core.labeling.jobs`; Results tab: :mod:`.labeling_results`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QDialog, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QScrollArea, QSizePolicy, QTabWidget, QVBoxLayout, QWidget)

from circuitloupe import tasks
from circuitloupe.core import figures
from circuitloupe.core.dataset import ScanSettings
from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.images import load_image
from circuitloupe.core.labeling import (BUILTIN, DEFAULT_LABELLER, LabelResults, LabelSession, LabelSet, SamplingPlan,
                                        session_path)
from circuitloupe.core.labeling.controller import LabelingController
from circuitloupe.core.labeling.jobs import atlas_session_job, attribution_job, new_session_job, reference_job
from circuitloupe.core.labeling.reference import cached_reference, is_session_model
from circuitloupe.tasks import LabelStatsRequest, LabelStatsResult
from circuitloupe.ui.panes.labeling_widgets import (FillLayout, LabelingOptions, NewSessionDialog, display_image,
                                                    edit_label_text, wrapped_label)
from circuitloupe.ui.panes.labeling_results import LabelResultsView
from circuitloupe.ui.widgets.pane import Pane, dock_pane
from circuitloupe.ui.widgets.progress import JobProgress
from circuitloupe.ui.widgets.scaled_image import ScaledImage
from circuitloupe.ui.widgets.unit_grid import array_to_pixmap

DISPLAY_PX = 360
PREFETCH = 4


@dock_pane("labeling")
class LabelingPane(Pane):

    sigCropReady = Signal(int, object)  # item id, crop [h, w, 3] or None (emitted from the decoding thread)

    def __init__(self, service, state, parent=None) -> None:
        super().__init__(service, state, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.controller: LabelingController | None = None
        self.current_crop: np.ndarray | None = None
        self.results: LabelResults | None = None
        self.reference_pixels: np.ndarray | None = None  # the image shown beside the items
        self._crops: dict[int, np.ndarray | None] = {}
        self._pending: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="label-crops")
        self._loader = None
        self._reference_job = None
        self.sigCropReady.connect(self._on_crop_ready)
        state.sigModelChanged.connect(lambda _model: self._show_reference())
        pool = self._pool
        self.destroyed.connect(lambda *_: pool.shutdown(wait=False, cancel_futures=True))
        self._build()
        self._install_keys()

    @property
    def session(self) -> LabelSession | None:
        return None if self.controller is None else self.controller.session

    @property
    def index(self) -> int | None:
        return None if self.controller is None else self.controller.index

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        """Sized for a dock of about 450 x 330 px (1366x768 screens): options sit in a menu, the
        images shrink, the rubric's descriptions scroll; no button is ever cut off."""
        top = QHBoxLayout()
        for text, tip, slot in (
                ("New…", "Sample a new session from an image folder for the current unit", self.new_session_dialog),
                ("Open…", "Open a .labels session file to go on labelling", self.open_dialog),
                ("Export CSV…", "Write every labeller's answers as CSV (as circuitloupe label export does)",
                 self.export_dialog)):
            top.addWidget(self._button(text, tip, slot))
        self.options = LabelingOptions(self.edit_labels_dialog, self.use_featurevis_reference, self.reference_dialog)
        self.labeller, self.break_every = self.options.labeller, self.options.break_every
        self.reveal_after, self.render_reference = self.options.reveal_after, self.options.render_reference
        self.labeller.editingFinished.connect(self._on_labeller_changed)
        self.render_reference.toggled.connect(lambda _on: self._show_reference())
        self.options.menu().aboutToHide.connect(self.setFocus)
        top.addWidget(self.options)
        self.session_label = QLabel("No session open.")
        self.session_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.session_label, 1)

        self.image = ScaledImage("Open or create a session.", smallest=120, largest=DISPLAY_PX)
        self.image.setToolTip("The item to label: a receptive-field-sized crop, shown without its activation")
        self.reference = ScaledImage("", smallest=48, largest=DISPLAY_PX // 2)
        self.reference.setToolTip("Reference image (Options › Reference to change)")
        self.reference_caption, self.caption = wrapped_label(centred=True), wrapped_label(centred=True)
        self.confirm = wrapped_label("The last answer given, as saved in the session file")
        self.reveal_text = wrapped_label()
        self.reveal_image = ScaledImage("", smallest=0, largest=DISPLAY_PX // 2)
        self.reveal_image.setToolTip("Attribution of the revealed item: red pixels pushed the unit up, blue down")
        self.label_grid = QGridLayout()
        self.label_buttons: list[QPushButton] = []
        self.rubric = wrapped_label("The label set's rubric")
        rubric_area = QScrollArea()
        rubric_area.setWidget(self.rubric)
        rubric_area.setWidgetResizable(True)
        rubric_area.setFrameShape(QFrame.Shape.NoFrame)
        rubric_area.viewport().setAutoFillBackground(False)
        actions = QGridLayout()
        for i, (text, tip, slot) in enumerate((
                ("Skip (S)", "Skip this item; it counts as seen and can be revisited with the arrows", self.skip),
                ("Undo (⌫)", "Undo your last answer and show its item again (Backspace or Ctrl+Z)", self.undo),
                ("← Back", "Previous item (Left arrow)", lambda: self.move(-1)),
                ("Next →", "Next item (Right arrow)", lambda: self.move(1)))):
            actions.addWidget(self._button(text, tip, slot), i // 2, i % 2)
        self.breaker = QFrame()
        self.breaker.setFrameShape(QFrame.Shape.StyledPanel)
        self.breaker_text = wrapped_label()
        breaker_layout = QHBoxLayout(self.breaker)
        breaker_layout.addWidget(self.breaker_text, 1)
        breaker_layout.addWidget(self._button("Back to work", "Hide this reminder", self._dismiss_break))
        self.breaker.hide()
        self.progress_bar = QProgressBar()
        self.progress_text = QLabel("")

        images = QHBoxLayout()
        images.addWidget(self.image, 3)
        reference_column = QVBoxLayout()
        reference_column.addWidget(self.reference, 1)
        reference_column.addWidget(self.reference_caption)
        images.addLayout(reference_column, 1)
        left = QVBoxLayout()
        left.addLayout(images, 1)
        left.addWidget(self.caption)
        right = QVBoxLayout()
        right.addLayout(self.label_grid)
        right.addLayout(actions)
        right.addWidget(self.confirm)
        right.addWidget(self.reveal_text)
        right.addWidget(self.reveal_image, 1)
        right.addWidget(rubric_area, 1)
        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addLayout(right, 2)
        label_tab = QWidget()
        label_layout = QVBoxLayout(label_tab)
        label_layout.setContentsMargins(4, 4, 4, 4)
        label_layout.addWidget(self.breaker)
        label_layout.addLayout(body, 1)
        label_layout.addWidget(self.progress_bar)
        label_layout.addWidget(self.progress_text)

        self.results_view = LabelResultsView()
        self.tabs = QTabWidget()
        self.tabs.addTab(label_tab, "Label")
        self.tabs.addTab(self.results_view, "Results")
        self.tabs.currentChanged.connect(lambda _: self.refresh_results())
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.job_progress = JobProgress("img")
        self.job_progress.hide()
        layout = FillLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.job_progress)
        layout.addWidget(self.tabs, 1)

    def _button(self, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.pressed.connect(self.setFocus)  # a click anywhere in the pane gives it the keys
        button.clicked.connect(slot)
        return button

    def _install_keys(self) -> None:
        """The labeling keys, live whenever the focus is anywhere in the pane (listed by F1)."""
        bindings = [((str(k + 1),), f"answer with label {k + 1}", lambda k=k: self.answer(k)) for k in range(9)]
        bindings += [(("S",), "skip this image", self.skip),
                     (("Backspace", QKeySequence.StandardKey.Undo), "undo the last answer", self.undo),
                     (("Left",), "previous image", lambda: self.move(-1)),
                     (("Right",), "next image", lambda: self.move(1)),
                     (("R",), "reveal activation and attribution (after answering)", self.reveal)]
        for keys, description, slot in bindings:
            shortcut = QShortcut(self)
            shortcut.setKeys([k for key in keys for k in (QKeySequence.keyBindings(key) if isinstance(
                key, QKeySequence.StandardKey) else [QKeySequence(key)])])
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.setWhatsThis(description)
            shortcut.activated.connect(slot)

    # ------------------------------------------------------------------ sessions
    def labeller_name(self) -> str:
        return self.labeller.text().strip() or DEFAULT_LABELLER

    def open_session(self, path: str | Path) -> None:
        """Open a session file and resume at the labeller's first unanswered item."""
        try:
            controller = LabelingController.open(path, self.labeller_name())
        except UserError as error:
            self.state.message(str(error))
            return
        if self.controller is not None:
            self.controller.close()
        self.controller = controller
        self._crops.clear()
        self._pending.clear()
        self._loader = controller.session.crop_loader()
        self._show_session_label()
        self._build_rubric()
        self._show_reference()
        for label in (self.confirm, self.reveal_text, self.reveal_image):
            label.clear()
        self._show_current()
        self.refresh_results()
        self.setFocus()

    def _show_session_label(self) -> None:
        text, details = self.controller.summary()
        self.session_label.setText(text)
        self.session_label.setToolTip(details)

    def create_session(self, path: str, unit: str, folder: str, plan: SamplingPlan, label_set: LabelSet,
                       settings: ScanSettings, atlas: str | None = None) -> None:
        """Scan and sample a new session as a job (from ``atlas``'s sample instead, when given), then open it."""
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

        job, source = (atlas_session_job, (atlas,)) if atlas else (new_session_job, (folder, settings))
        self.run_job(job, target, unit, *source, plan, label_set, connect=connect, name=f"new labeling session {unit}")

    def new_session_dialog(self) -> None:
        atlas = str(self.state.atlas.folder) if self.state.atlas is not None else None
        dialog = NewSessionDialog(str(self.state.unit or ""), self.state.folder, self, atlas=atlas)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        name = dialog.name.text().strip() or dialog.unit.text().replace(":", "-")
        try:
            self.create_session(name, dialog.unit.text().strip(), dialog.folder.text().strip(), dialog.plan(),
                                BUILTIN[dialog.labels.currentText()], dialog.settings(), dialog.atlas())
        except UserError as error:
            self.state.message(str(error))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open labeling session", str(session_path("x").parent),
                                              "Labeling sessions (*.labels);;All files (*)")
        if path:
            self.open_session(path)

    def export_dialog(self) -> None:
        if self.session is None:
            self.state.message("Open a labeling session to export its answers")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export answers", f"{self.session.path.stem}-answers.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> None:
        """Write every labeller's answers to ``path`` as CSV (the rows ``label export --csv`` writes)."""
        try:
            count = self.controller.export_csv(path)
        except (OSError, UserError) as error:
            self.state.message(f"Could not write {path}: {error}")
            return
        self.state.message(f"{count} answers written to {path}")

    def edit_labels_dialog(self) -> None:
        if self.session is not None:
            text = edit_label_text(self.session.label_set.to_text(), self)
            if text is not None:
                self.apply_label_text(text)

    def apply_label_text(self, text: str) -> None:
        """Replace the session's label set from its text form (renames matched by position)."""
        try:
            self.controller.edit_labels(text)
        except UserError as error:
            self.state.message(str(error))
            return
        self._build_rubric()
        self._show_answer_state()
        self.refresh_results()

    # ------------------------------------------------------------------ reference image
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
                self._set_reference(pixels, f"Reference image {path} (Options › Reference to change)",
                                    f"reference: {Path(path).name}")
                return
        info, model = self.session.info, self.state.model
        if not is_session_model(model, info):
            self.reference.setText(f"Load {info.model} to see {info.unit}'s feature visualisation here.")
            return
        pixels = cached_reference(model, info)
        if pixels is not None:
            self._set_featurevis(pixels, info)
        elif not self.render_reference.isChecked():
            self.reference.setText(f"No feature visualisation of {info.unit} is cached.")
        elif self._reference_job is None:
            self.reference.setText(f"Rendering {info.unit}'s feature visualisation…")
            self._reference_job = self.run_job(reference_job, str(self.session.path), name=f"reference {info.unit}",
                                               on_done=self._on_reference_rendered)
            for signal in (self._reference_job.sigFailed, self._reference_job.sigCancelled):
                signal.connect(self._on_reference_stopped)

    def _on_reference_rendered(self, result: tuple[str, np.ndarray]) -> None:
        self._reference_job = None
        session_file, pixels = result
        if self.session is None or str(self.session.path) != session_file:
            self._show_reference()  # another session opened meanwhile
        elif not self.session.reference:
            self._set_featurevis(pixels, self.session.info)

    def _on_reference_stopped(self, *_args) -> None:
        self._reference_job = None
        if not self.reference.pixmap() or self.reference.pixmap().isNull():
            self.reference.setText("No feature visualisation (its rendering stopped).")

    def _set_featurevis(self, pixels: np.ndarray, info) -> None:
        tip = f"Feature visualisation of {info.unit}: the reference orientation (Options › Reference to change)"
        self._set_reference(pixels, tip, f"reference: {info.unit}'s feature visualisation")

    def _set_reference(self, pixels: np.ndarray, tip: str, caption: str) -> None:
        self.reference_pixels = pixels
        self.reference.setPixmap(array_to_pixmap(display_image(pixels, DISPLAY_PX // 2)))
        self.reference.setToolTip(tip)
        self.reference_caption.setText(caption)

    def _build_rubric(self) -> None:
        """One button per label (two columns) and the rubric's descriptions below, scrolling."""
        while self.label_grid.count():
            widget = self.label_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.label_buttons = []
        label_set = self.session.label_set
        for k, label in enumerate(label_set.labels):
            button = self._button(f"{k + 1}  {label.name}", label.description, lambda _=False, k=k: self.answer(k))
            button.setCheckable(True)
            swatch = QPixmap(14, 14)
            swatch.fill(QColor(label_set.colour(label.name)))
            button.setIcon(QIcon(swatch))
            self.label_grid.addWidget(button, k // 2, k % 2)
            self.label_buttons.append(button)
        self.rubric.setText("<br>".join(f"<b>{k + 1} {label.name}</b>: {label.description}"
                                        for k, label in enumerate(label_set.labels)))

    def _on_labeller_changed(self) -> None:
        if self.controller is not None and self.labeller_name() != self.controller.labeller:
            self.controller.set_labeller(self.labeller_name())
            self._show_session_label()
            self.confirm.clear()
            self._show_current()
            self.refresh_results()
        self.setFocus()

    # ------------------------------------------------------------------ answering
    def answer(self, k: int) -> None:
        """Give label number ``k`` (0-based) to the current item."""
        if self.controller is not None:
            self._after_answer(self.controller.answer(k))

    def skip(self) -> None:
        if self.controller is not None:
            self._after_answer(self.controller.skip())

    def undo(self) -> None:
        """Undo the last answer: its item shows again, with no label chosen and nothing revealed."""
        if self.controller is None:
            return
        item = self.controller.undo()
        if item is None:
            self.state.message("Nothing to undo")
            return
        for label in (self.reveal_text, self.reveal_image):
            label.clear()
        self.confirm.setText(f"↶ undid the answer to item {item.order + 1}; it is shown again, unanswered")
        self._show_current()
        self.state.message(f"Undid the answer to item {item.order + 1}")

    def move(self, step: int) -> None:
        if self.controller is not None:
            self.controller.move(step)
            self._show_current()

    def reveal(self) -> None:
        """Show the current item's activation and attribution, if it has been answered."""
        item = None if self.controller is None else self.controller.current
        if item is None:
            return
        if self.controller.answer_to(item) is None:
            self.state.message("Answer first: activations stay hidden until an item has an answer")
            return
        self._reveal(item)

    def _after_answer(self, answer) -> None:
        if answer is None:  # nothing to answer: undo a clicked button's check
            self._show_answer_state()
            return
        controller = self.controller
        item = controller.item(answer.item)
        colour = "transparent" if answer.label is None else self.session.label_set.colour(answer.label)
        self.confirm.setText(f'<span style="background:{colour}">&nbsp;&nbsp;&nbsp;</span> '
                             f"<b>{controller.confirmation(answer)}</b>")
        every = self.break_every.value()
        if controller.break_due(every):
            self.breaker_text.setText(f"{every} answers since the last break. Look at something far away for a "
                                      "minute: after hundreds of similar images, afterimages bias what you see.")
            self.breaker.show()
        if self.reveal_after.isChecked():
            self._reveal(item)
        else:
            self.reveal_text.setText("Blind: press ← then R to reveal an answered item.")
            self.reveal_image.clear()
        self._show_current()
        if self.tabs.currentIndex() == 1:
            self.refresh_results()

    def _dismiss_break(self) -> None:
        self.breaker.hide()
        self.setFocus()

    def _reveal(self, item) -> None:
        self.reveal_text.setText(self.controller.reveal_text(item))
        info, model = self.session.info, self.state.model
        if not is_session_model(model, info):
            self.reveal_image.setText(f"Load {info.model} ({info.weights_id}) to see the attribution.")
            return
        self.run_job(attribution_job, str(self.session.path), item.relpath, item.y, item.x,
                     name="labeling attribution", on_done=self._show_attribution)

    def _show_attribution(self, result: tuple[np.ndarray | None, np.ndarray]) -> None:
        crop, heat = result
        if crop is not None:
            overlay = figures.heat_overlay(crop, heat, signed=True)
            self.reveal_image.setPixmap(array_to_pixmap(display_image(overlay, DISPLAY_PX // 2)))

    # ------------------------------------------------------------------ showing items
    def _show_current(self) -> None:
        """Show the controller's current item: its crop (decoded ahead), caption and chosen label."""
        self.current_crop = None
        self._update_progress()
        self._show_answer_state()
        item = self.controller.current
        if item is None:
            self.image.clear()
            self.image.setText("Every item has an answer. Use ← to review, or see the Results tab.")
            return
        items = self.controller.items
        for ahead in items[self.index:self.index + PREFETCH + 1]:
            self._request(ahead)
        if item.id in self._crops:
            self._display(item.id)
        else:
            self.image.setText("loading…")

    def _show_answer_state(self) -> None:
        """Caption and label buttons follow the current item's answer (none checked when unanswered)."""
        self.caption.setText(self.controller.caption())
        answer = self.controller.answer_to(self.controller.current)
        chosen = None if answer is None else answer.label
        for button, name in zip(self.label_buttons, self.session.label_set.names):
            button.setChecked(name == chosen)
            font = button.font()
            font.setBold(name == chosen)
            button.setFont(font)

    def _request(self, item) -> None:
        if item.id in self._crops or item.id in self._pending:
            return
        self._pending.add(item.id)
        loader = self._loader
        self._pool.submit(lambda: self.sigCropReady.emit(item.id, loader(item.relpath, item.y, item.x)))

    def _on_crop_ready(self, item_id: int, crop: np.ndarray | None) -> None:
        self._pending.discard(item_id)
        if self.controller is None:
            return
        if len(self._crops) > 64:
            self._crops.pop(next(iter(self._crops)))
        self._crops[item_id] = crop
        item = self.controller.current
        if item is not None and item.id == item_id:
            self._display(item_id)

    def _display(self, item_id: int) -> None:
        crop = self._crops[item_id]
        if crop is None:
            self.image.clear()
            self.image.setText(f"{self.controller.current.relpath} can no longer be read (moved or deleted?); "
                               "skip it with S.")
            self.current_crop = None
        else:
            self.current_crop = crop
            self.image.setPixmap(array_to_pixmap(display_image(crop, DISPLAY_PX)))
        self.controller.shown()

    def _update_progress(self) -> None:
        labelled, skipped, total = self.session.progress(self.controller.labeller)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(labelled + skipped)
        self.progress_text.setText(self.controller.progress_text())

    # ------------------------------------------------------------------ project
    def project_state(self) -> dict:
        """The open session's file, kept in the project's label sessions."""
        return {"label_sessions": [str(self.session.path)]} if self.session is not None else {}

    def restore_project_state(self, data: dict) -> None:
        sessions = data.get("label_sessions")
        if isinstance(sessions, list) and sessions:
            self.open_session(str(sessions[-1]))

    # ------------------------------------------------------------------ results
    def refresh_results(self) -> None:
        """Recompute the labeller's results and redraw the Results tab."""
        if self.controller is not None:
            self.results = self.controller.results()
            self.results_view.show_results(self.controller, self.results)

    # ------------------------------------------------------------------ export
    @property
    def result(self) -> LabelStatsResult | None:
        """The labeller's results as ``circuitloupe label stats`` computes them (None before any answer)."""
        if self.controller is None:
            return None
        result = tasks.run(tasks.TaskContext(None), self._stats_request())
        return result if result.results.counts.sum() else None

    def _stats_request(self) -> LabelStatsRequest:
        return LabelStatsRequest(str(self.session.path), labeller=self.controller.labeller)

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        result = self.result
        return None if result is None else result.figure(scale)

    def cli_command(self) -> str | None:
        if self.controller is None:
            return None
        return tasks.command_line(self._stats_request(), [], {"out": "FIG.png"})

