"""The project controller: the working session as a project file, autosaved and recoverable.

It owns what a project is made of that no pane holds (its file, the opened images, the atlas,
user families) and collects the rest from the panes (``project_state``, the Notes pane) and from
the window (layout, geometry, theme) through :class:`ProjectWindow`. Open, save, save as, new,
autosave with recovery on reopen, recent projects, and whether there are unsaved changes.
Works without a window: pass no ``window`` and a :class:`LazyPanes` with no panes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from circuitloupe.core import project as projects
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.project import Project, ProjectError
from circuitloupe.ui.lazy_panes import LazyPanes
from circuitloupe.ui.model_controller import ModelController
from circuitloupe.ui.state import AppState, OpenImage
from circuitloupe.ui.trust_dialog import confirm_project_model

log = logging.getLogger(__name__)
AUTOSAVE_MS = 30_000
PROJECT_FILTER = f"Circuit Loupe projects (*{projects.SUFFIX});;All files (*)"
_NOT_CHANGES = ("layout", "geometry", "saved_at", "theme")  # a project differs by its content only


class ProjectWindow(Protocol):
    """What a project stores of the window, and how the window shows a project."""

    def window_state(self) -> dict[str, str | None]:
        """``layout``, ``geometry`` (base64) and ``theme``."""

    def apply_window_state(self, project: Project) -> None:
        """Show the panes (not the welcome screen) in ``project``'s layout, geometry and theme."""


class ProjectController(QObject):
    """``sigTitle`` carries the window title (project name, ``*`` when unsaved); ``sigProblem``
    (title, text) a problem the user must see (also the status line)."""

    sigTitle = Signal(str)
    sigProblem = Signal(str, str)

    def __init__(self, state: AppState, models: ModelController, panes: LazyPanes,
                 window: ProjectWindow | None = None, parent: QWidget | None = None,
                 autosave_ms: int = AUTOSAVE_MS) -> None:
        super().__init__(parent)
        self.state, self.models, self.panes, self.window = state, models, panes, window
        self.dialog_parent = parent
        self.path: Path | None = None  # the project's file; None while untitled
        self.open_images: list[str] = []
        self._saved: dict | None = None  # snapshots: what was saved, what was autosaved
        self._autosaved: dict | None = None
        self._pending: Project | None = None  # a project waiting for its model
        self._clean_when_restored = False
        self._started = False
        self._timer = QTimer(self)
        self._timer.setInterval(autosave_ms)
        self._timer.timeout.connect(self.autosave)
        models.sigArrived.connect(self._on_model_arrived)
        models.sigLoaded.connect(self._on_model_loaded)
        models.sigFailed.connect(self._on_model_failed)

    def start(self) -> None:
        """The session so far counts as saved; autosave every ``autosave_ms`` from now on."""
        self._started = True
        self._saved = self.snapshot()
        self._timer.start()
        self.refresh_title()

    def pane_built(self, name: str) -> None:
        """A pane built after the last save or autosave (first shown since) is as it was then:
        its settings join both snapshots, so showing a pane does not count as a change."""
        if self._saved is None and self._autosaved is None:
            return
        now = self.snapshot()["panes"]
        for snapshot in (self._saved, self._autosaved):
            if snapshot is not None:
                if name in now:
                    snapshot["panes"][name] = now[name]
                else:
                    snapshot["panes"].pop(name, None)

    def stop(self) -> None:
        """Autosave unsaved changes and stop the timer (the app is closing)."""
        self.autosave()
        self._timer.stop()

    # ----------------------------------------------------------------- what a project holds
    def current(self, with_layout: bool = True) -> Project:
        """The session as a Project (what Save writes); ``with_layout`` adds the window's layout."""
        model = self.state.model
        panes = {name: data for name, pane in self.panes.built().items() if (data := pane.project_state())}
        sessions: list[str] = []
        for data in panes.values():
            sessions += [str(s) for s in data.get("label_sessions", []) if str(s) not in sessions]
        window = self.window.window_state() if with_layout and self.window is not None else {}
        return Project(
            model_spec=model.spec if model is not None else None,
            weights=self.models.weights if model is not None else None,
            images=list(self.open_images),
            current_unit=str(self.state.unit) if self.state.unit is not None else None,
            families=self._families(),
            notes=notes.notes() if (notes := self.panes.get_built("notes")) is not None else "",
            label_sessions=sessions, panes=panes,
            atlas=str(self.state.atlas.folder) if self.state.atlas is not None else None, **window)

    def snapshot(self) -> dict:
        """What counts as a change (layout and window geometry do not)."""
        data = self.current(with_layout=False).to_json()
        for key in _NOT_CHANGES:
            data.pop(key, None)
        return data

    def is_dirty(self) -> bool:
        return self.snapshot() != self._saved

    def title(self) -> str:
        if not self._started:
            return "Circuit Loupe"
        name = self.path.stem if self.path is not None else "Untitled"
        return f"{name}{' *' if self.is_dirty() else ''} — Circuit Loupe"

    def refresh_title(self, *_args) -> None:
        self.sigTitle.emit(self.title())

    def open_image(self, path: str | Path) -> bool:
        """Open an image file or ``sample:NAME`` as the current image; False (and a message) if unreadable."""
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

    def open_atlas(self, folder: str | Path) -> bool:
        """Make the atlas at ``folder`` the app's atlas; False (and a message) if it cannot be read."""
        try:
            atlas = self.state.open_atlas(folder)
        except UserError as error:
            self.state.message(str(error))
            return False
        self.state.message(f"Atlas {folder}: {atlas.images} images, {', '.join(atlas.layers)}")
        self.refresh_title()
        return True

    def _families(self) -> dict[str, list[str]]:
        """The model's preset families and the user's saved ones (the browser's annotation store)."""
        model = self.state.model
        if model is None:
            return {}
        families = {name: list(units) for name, units in model.families.items()}
        for name, units in AnnotationStore.for_model(model).families().items():
            families[name] = [str(u) for u in units]
        return families

    # ----------------------------------------------------------------- open
    def new(self) -> None:
        """Autosave the current project, then start an empty one (model and atlas stay open)."""
        self.autosave()
        self.path = None
        self.open_images.clear()
        if "notes" in self.panes:
            self.panes["notes"].set_notes("")
        self._saved = self.snapshot()
        self.refresh_title()
        self.state.message("new project")

    def open_dialog(self) -> None:
        start = str(self.path.parent if self.path else Path.home())
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open project", start, PROJECT_FILTER)
        if path:
            self.open(path)

    def open(self, path: str | Path) -> bool:
        """Open a project file, with its autosave's unsaved changes when newer. A corrupt or newer
        file, or a model file the user does not trust, gives a message and changes nothing."""
        path = Path(path)
        untitled = path == projects.autosave_path(None)
        try:
            loaded = projects.load_project(path)
        except ProjectError as error:
            self.problem("Cannot open project", str(error))
            return False
        recovered = None if untitled else projects.newer_autosave(path)
        if recovered is not None:
            try:
                loaded = projects.load_project(recovered)
            except ProjectError as error:
                log.warning("ignoring unreadable autosave %s: %s", recovered, error)
                recovered = None
        if not confirm_project_model(self.dialog_parent, loaded, path):  # a model file runs only with consent
            self.state.message(f"did not open {path}: its model file was not trusted")
            return False
        self.autosave()
        self.path = None if untitled else path
        self._saved = None
        self._clean_when_restored = not (recovered or untitled)
        self.apply(loaded)
        if not untitled:
            projects.add_recent_project(path)
        if recovered is not None or untitled:
            self.state.message(f"recovered unsaved changes from the autosave of {recovered or path}; "
                               "Save to keep them")
        else:
            self.state.message(f"opened project {path}")
        self.refresh_title()
        return True

    def apply(self, loaded: Project) -> None:
        """Show ``loaded``: layout, theme, notes, images, atlas, then model and panes."""
        if self.window is not None:
            self.window.apply_window_state(loaded)
        if "notes" in self.panes:
            self.panes["notes"].set_notes(loaded.notes)
        self.open_images = []
        missing = [name for name in loaded.images if not self.open_image(name)]
        if missing:
            self.state.message(f"{len(missing)} image(s) of the project could not be opened: {', '.join(missing)}")
        self._apply_atlas(loaded.atlas)
        model = self.state.model
        if loaded.model_spec and (model is None or model.spec != loaded.model_spec
                                  or (loaded.weights or None) != (self.models.weights or None)):
            self._pending = loaded
            self.models.load(loaded.model_spec, loaded.weights)
        else:
            if model is not None:
                self._restore_families(model, loaded.families)
            self._restore_after_model(loaded)

    def _apply_atlas(self, folder: str | None) -> None:
        """The project's atlas, or none; a missing or damaged atlas is one status line."""
        if folder is None:
            self.state.close_atlas()
            return
        try:
            self.state.open_atlas(folder)
        except UserError as error:
            self.state.close_atlas()
            reason = "is missing" if not Path(folder).is_dir() else f"could not be read: {error}"
            self.state.message(f"the project's atlas {folder} {reason}; the project opened without it")

    def _on_model_arrived(self, model) -> None:
        if self._pending is not None and self._pending.model_spec == model.spec:
            self._restore_families(model, self._pending.families)

    def _on_model_loaded(self, model) -> None:
        pending = self._pending
        if pending is not None and pending.model_spec == model.spec:
            self._pending = None
            self._restore_after_model(pending)

    def _on_model_failed(self, _spec: str, _message: str) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._restore_after_model(pending)

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
            self._saved = self._autosaved = self.snapshot()
        self.refresh_title()

    # ----------------------------------------------------------------- save
    def save(self) -> bool:
        """Save to the project's file (asks for one the first time). Never replaces an unreadable file."""
        if self.path is None:
            return self.save_as()
        try:
            projects.check_can_overwrite(self.path)
        except ProjectError as error:
            self.problem("Not saved", str(error))
            return False
        return self._write(self.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(self.path or Path.home() / f"study{projects.SUFFIX}")
            path, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Save project as", start, PROJECT_FILTER)
            if not path:
                return False
            if not path.endswith(projects.SUFFIX):
                path += projects.SUFFIX
        return self._write(Path(path))

    def _write(self, path: Path) -> bool:
        try:
            projects.save_project(self.current(), path)
        except OSError as error:
            self.problem("Not saved", f"could not write {path}: {error.strerror or error}")
            return False
        projects.discard_autosave(self.path)
        self.path = path
        projects.discard_autosave(path)
        projects.add_recent_project(path)
        self._saved = self._autosaved = self.snapshot()
        self.refresh_title()
        self.state.message(f"saved project {path}")
        return True

    def autosave(self) -> Path | None:
        """Write unsaved changes to the autosave file (never to the project file itself)."""
        snapshot = self.snapshot()
        if snapshot == self._saved or snapshot == self._autosaved:
            return None
        if self.path is None and not (snapshot["notes"].strip() or snapshot["images"]
                                      or snapshot["label_sessions"]):
            return None  # an untitled session with nothing of the user's in it
        try:
            written = projects.autosave(self.current(), self.path)
        except OSError as error:
            log.warning("autosave failed: %s", error)
            return None
        self._autosaved = snapshot
        log.info("autosaved to %s", written)
        return written

    def problem(self, title: str, text: str) -> None:
        """A problem the user must see: the status line, the log and ``sigProblem``."""
        self.state.message(text)
        log.warning("%s: %s", title, text)
        self.sigProblem.emit(title, text)
