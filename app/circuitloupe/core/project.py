"""Project files: one JSON document holding a working session, with a versioned schema.

A project records the model spec and weights, the images the user opened, the atlas folder,
user families, notes, label sessions, per-pane settings and the window's pane layout (base64 of Qt's
``saveState``, kept opaque here). Saving is atomic (temp file + rename). Reading a file that a
newer Circuit Loupe wrote, or a corrupt file, raises :class:`ProjectError` with one readable
sentence and never touches the file. Autosaves go to a separate file in the user's data folder,
so an autosave can never overwrite the user's project, and recent projects are kept in a small
JSON list there too.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from circuitloupe import __version__
from circuitloupe.core.errors import UserError, WeightsError
from circuitloupe.core.paths import atomic_write_text, data_dir
from circuitloupe.core.specs import is_custom_spec, parse_random_spec

FORMAT = "circuitloupe-project"
SCHEMA_VERSION = 1
SUFFIX = ".loupe"
MAX_RECENT = 10


class ProjectError(UserError):
    """A project file that cannot be read: missing, corrupt, or from a newer version."""


@dataclass
class Project:
    """Everything a project file stores. ``layout`` and ``geometry`` are base64 strings."""

    model_spec: str | None = None
    weights: str | None = None  # a weights file path, "random:SEED", or None for the default
    images: list[str] = field(default_factory=list)  # opened images, in order; the last is current
    current_unit: str | None = None  # "layer:channel"
    families: dict[str, list[str]] = field(default_factory=dict)  # name -> ["layer:ch", ...]
    notes: str = ""
    label_sessions: list[str] = field(default_factory=list)  # label session ids or paths
    panes: dict[str, dict[str, Any]] = field(default_factory=dict)  # pane object_name -> its settings
    layout: str | None = None
    geometry: str | None = None
    theme: str | None = None  # "system", "light" or "dark"
    atlas: str | None = None  # the atlas folder the app had open (circuitloupe atlas build)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object: format, schema version, writer's version, then the fields."""
        return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "saved_by": f"circuitloupe {__version__}",
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **asdict(self)}

    @classmethod
    def from_json(cls, data: Any, source: str = "the project") -> Project:
        """Validate a decoded JSON object and build a Project (raises ProjectError)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ProjectError(f"{source} is not a Circuit Loupe project (no \"format\": \"{FORMAT}\" field); "
                               "the file was left unchanged")
        version = data.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ProjectError(f"{source} has no valid schema_version; the file was left unchanged")
        if version > SCHEMA_VERSION:
            writer = data.get("saved_by", "a newer Circuit Loupe")
            raise ProjectError(f"{source} was saved by {writer} with project format {version}, but this "
                               f"Circuit Loupe {__version__} reads format {SCHEMA_VERSION} at most; update "
                               "Circuit Loupe to open it (the file was left unchanged)")
        values = {}
        for spec in fields(cls):
            if spec.name in data and data[spec.name] is not None:
                values[spec.name] = _checked(spec.name, data[spec.name], source)
        return cls(**values)


_TYPES: dict[str, type | tuple[type, ...]] = {
    "model_spec": str, "weights": str, "images": list, "current_unit": str, "families": dict, "notes": str,
    "label_sessions": list, "panes": dict, "layout": str, "geometry": str, "theme": str,
    "atlas": str,
}


def _checked(name: str, value: Any, source: str) -> Any:
    expected = _TYPES[name]
    if not isinstance(value, expected):
        raise ProjectError(f"{source} is damaged: field \"{name}\" should be a {expected.__name__}, "
                           f"not {type(value).__name__}; the file was left unchanged")
    if name in ("images", "label_sessions"):
        return [str(item) for item in value]
    if name == "families":
        return {str(k): [str(u) for u in v] for k, v in value.items() if isinstance(v, list)}
    return value


def save_project(project: Project, path: str | Path) -> Path:
    """Write ``project`` to ``path`` atomically (a crash leaves the old file whole).

    Model, weights file and atlas folder paths are written relative to the project's folder when they lie
    inside it (so the folder can move), else absolute; relative paths in ``project`` are read
    against the current directory, as the app loaded them.
    """
    folder = Path(path).parent.absolute()
    stored = _with_file_paths(project, lambda name: _relative_if_inside(Path(name).expanduser().absolute(), folder))
    text = json.dumps(stored.to_json(), indent=2, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def check_can_overwrite(path: str | Path) -> None:
    """Raise ProjectError when ``path`` holds something a plain Save must not replace.

    A missing file, or a project this version can read, may be overwritten; a corrupt file, a
    file that is not a project, or one from a newer Circuit Loupe is kept (use Save As).
    """
    if not Path(path).exists():
        return
    try:
        load_project(path)
    except ProjectError as error:
        raise ProjectError(f"not saving over {path}: {error}; use Save As to pick another file") from None


def load_project(path: str | Path) -> Project:
    """Read a project file; raises ProjectError for a missing, corrupt or newer file.

    Relative model, weights file and atlas folder paths are resolved against the project file's folder.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"project file {path} does not exist") from None
    except OSError as error:
        raise ProjectError(f"cannot read project file {path}: {error.strerror or error}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProjectError(f"{path} is not a Circuit Loupe project (not UTF-8 text); the file was left "
                           "unchanged") from None
    except json.JSONDecodeError as error:
        raise ProjectError(f"{path} is corrupt (invalid JSON at line {error.lineno} column {error.colno}: "
                           f"{error.msg}); the file was left unchanged") from None
    folder = path.parent.absolute()
    return _with_file_paths(Project.from_json(data, str(path)), lambda name: str(folder / Path(name).expanduser()))


def model_file(project: Project) -> Path | None:
    """The Python file a ``file.py:factory`` model spec names (loading it runs that file), or None."""
    spec = project.model_spec
    return Path(spec.rpartition(":")[0]) if spec and is_custom_spec(spec) else None


def _with_file_paths(project: Project, rewrite: Callable[[str], str]) -> Project:
    """``project`` with the model file of its spec, its weights file and atlas folder passed through ``rewrite``."""
    changes: dict[str, str] = {}
    if (file := model_file(project)) is not None:
        changes["model_spec"] = f"{rewrite(str(file))}:{project.model_spec.rpartition(':')[2]}"
    try:
        names_file = bool(project.weights) and parse_random_spec(project.weights) is None
    except WeightsError:  # a malformed random:SEED; loading the model will say so
        names_file = False
    if names_file:
        changes["weights"] = rewrite(project.weights)
    if project.atlas:
        changes["atlas"] = rewrite(project.atlas)
    return replace(project, **changes)


def _relative_if_inside(path: Path, folder: Path) -> str:
    return str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)


# ----------------------------------------------------------------------------- autosave
def autosave_path(path: str | Path | None) -> Path:
    """Where the autosave of the project at ``path`` (None: an untitled project) is written.

    Autosaves live in ``data_dir("autosave")``, named by a hash of the project's absolute path,
    so they never overwrite the project file itself.
    """
    if path is None:
        return data_dir("autosave") / f"untitled{SUFFIX}"
    resolved = str(Path(path).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:16]
    return data_dir("autosave") / f"{Path(path).stem}-{digest}{SUFFIX}"


def autosave(project: Project, path: str | Path | None) -> Path:
    """Write the autosave for the project at ``path``; returns the autosave file."""
    return save_project(project, autosave_path(path))


def newer_autosave(path: str | Path | None) -> Path | None:
    """The autosave of ``path`` when it exists and is newer than the project file, else None."""
    saved = autosave_path(path)
    if not saved.is_file():
        return None
    if path is not None and Path(path).is_file() and Path(path).stat().st_mtime >= saved.stat().st_mtime:
        return None
    return saved


def discard_autosave(path: str | Path | None) -> None:
    """Remove the autosave of ``path`` (after a successful save or a deliberate discard)."""
    autosave_path(path).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- recent projects
def _recent_file() -> Path:
    return data_dir() / "recent_projects.json"


def recent_projects() -> list[Path]:
    """Recently opened or saved projects, newest first, only those that still exist."""
    try:
        entries = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [Path(p) for p in entries if isinstance(p, str) and Path(p).is_file()]


def add_recent_project(path: str | Path) -> list[Path]:
    """Put ``path`` first in the recent list (at most MAX_RECENT entries); returns the new list."""
    resolved = Path(path).expanduser().resolve()
    entries = [resolved] + [p for p in recent_projects() if p != resolved]
    entries = entries[:MAX_RECENT]
    atomic_write_text(_recent_file(), json.dumps([str(p) for p in entries], indent=2) + "\n")
    return entries


def forget_recent_project(path: str | Path) -> None:
    """Remove ``path`` from the recent list."""
    resolved = Path(path).expanduser().resolve()
    entries = [str(p) for p in recent_projects() if p != resolved]
    atomic_write_text(_recent_file(), json.dumps(entries, indent=2) + "\n")
