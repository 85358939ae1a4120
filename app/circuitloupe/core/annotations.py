"""A researcher's notes on a model: per-unit notes, tags and favourites, and saved families.

One SQLite file per model and weights under the user's data folder (``annotations/``). Several
writers share it, in this process or others (the browser, the curve finder and
equivariance panes, ``circuitloupe find-curves --save-family``, another window): every change is
one transaction that reads and writes only what it changes, so no writer erases another's
change, and a crash never loses what was already committed. Readers see the state of their last
load or write; :meth:`AnnotationStore.reload` picks up other writers' changes. The file uses a
rollback journal, not WAL: a WAL file is made and removed by every reader, and the browser
watches the folder for writers' changes (its journal file coming and going). A JSON store of an
earlier version (same name, ``.json``) is imported on first open and renamed ``*.json.migrated``.
A file that cannot be read is moved aside (``*.unreadable-TIME``) and a fresh store started,
with a warning.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from circuitloupe.core.dbfiles import ANNOTATIONS_ID, DatabaseFileError, check_integrity, connect, move_aside
from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import data_dir
from circuitloupe.core.units import UnitRef, parse_unit_list

_TABLES = {"meta", "units", "families"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    unit TEXT PRIMARY KEY, note TEXT NOT NULL, tags TEXT NOT NULL, favourite INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS families (name TEXT PRIMARY KEY, units TEXT NOT NULL, position INTEGER NOT NULL);
"""
@dataclass
class UnitNotes:
    """What the user wrote about one unit."""

    note: str = ""
    tags: list[str] = field(default_factory=list)
    favourite: bool = False

    def is_empty(self) -> bool:
        return not (self.note or self.tags or self.favourite)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "model"


def store_path(model_name: str, weights_id: str) -> Path:
    """The annotations file of one model with one set of weights."""
    return data_dir("annotations") / f"{_slug(model_name)}--{_slug(weights_id)}.sqlite"


class AnnotationStore:
    """Notes, tags, favourites and user families of one model; every change is saved at once.

    ``path`` is the store's ``.sqlite`` file; a ``.json`` path (an earlier version's store) means
    the ``.sqlite`` file beside it, into which the JSON file is imported.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path.with_suffix(".sqlite") if path.suffix == ".json" else path
        self.legacy = path if path.suffix == ".json" else path.with_suffix(".json")
        self.warning: str | None = None
        self._units: dict[str, UnitNotes] = {}
        self._families: dict[str, list[str]] = {}
        self._seen: int | None = None  # revision last read or written
        self._open()
        self._load()

    @classmethod
    def for_model(cls, model) -> AnnotationStore:
        """The store of a :class:`~circuitloupe.core.models.LoadedModel` (by name and weights id)."""
        return cls(store_path(model.name, model.weights_id))

    # -- reading -----------------------------------------------------------------------------
    def notes(self, unit: UnitRef | str) -> UnitNotes:
        """A copy of what is stored for ``unit`` (empty when nothing is)."""
        found = self._units.get(str(unit))
        return UnitNotes(found.note, list(found.tags), found.favourite) if found else UnitNotes()

    def note(self, unit: UnitRef | str) -> str:
        return self.notes(unit).note

    def tags(self, unit: UnitRef | str) -> list[str]:
        return self.notes(unit).tags

    def is_favourite(self, unit: UnitRef | str) -> bool:
        return self.notes(unit).favourite

    def favourites(self) -> list[UnitRef]:
        """Favourite units, sorted by layer name and channel."""
        return sorted(UnitRef.parse(key) for key, notes in self._units.items() if notes.favourite)

    def annotated(self) -> list[UnitRef]:
        """Every unit with a note, a tag or a star."""
        return sorted(UnitRef.parse(key) for key in self._units)

    def all_tags(self) -> list[str]:
        return sorted({tag for notes in self._units.values() for tag in notes.tags})

    def units_tagged(self, tag: str) -> list[UnitRef]:
        return sorted(UnitRef.parse(key) for key, notes in self._units.items() if tag in notes.tags)

    def families(self) -> dict[str, list[UnitRef]]:
        """User-defined families: name -> units, in the order saved."""
        return {name: [UnitRef.parse(u) for u in units] for name, units in self._families.items()}

    # -- writing -----------------------------------------------------------------------------
    def set_note(self, unit: UnitRef | str, text: str) -> None:
        self._update(unit, note=text.strip())

    def set_tags(self, unit: UnitRef | str, tags: Iterable[str]) -> None:
        cleaned = sorted({t.strip() for t in tags if t.strip()})
        self._update(unit, tags=cleaned)

    def set_favourite(self, unit: UnitRef | str, favourite: bool) -> None:
        self._update(unit, favourite=bool(favourite))

    def toggle_favourite(self, unit: UnitRef | str) -> bool:
        """Flip the star of ``unit`` as it is on disk; returns the new state."""
        return self._update(unit, favourite=lambda notes: not notes.favourite).favourite

    def save_family(self, name: str, units: Sequence[UnitRef | str] | str) -> list[UnitRef]:
        """Save (or replace) a family; ``units`` may be a list or text like ``mixed3b:379,385``."""
        name = name.strip()
        if not name:
            raise UserError("a family needs a name")
        refs = parse_unit_list(units) if isinstance(units, str) else [
            UnitRef.parse(u) if isinstance(u, str) else u for u in units]
        if not refs:
            raise UserError("a family needs at least one unit")
        keys = json.dumps([str(u) for u in refs])
        with self._writing() as db:
            db.execute("INSERT INTO families (name, units, position) VALUES "
                       "(?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM families)) "
                       "ON CONFLICT(name) DO UPDATE SET units=excluded.units", (name, keys))
        return refs

    def delete_family(self, name: str) -> None:
        with self._writing() as db:
            db.execute("DELETE FROM families WHERE name=?", (name,))

    def reload(self) -> bool:
        """Re-read the store if another writer changed it since this store last read or wrote it;
        True when it did (the caller should redraw what it shows)."""
        with self._reading() as db:
            if _revision(db) == self._seen:
                return False
        self._load()
        return True

    # -- storage -----------------------------------------------------------------------------
    def _update(self, unit: UnitRef | str, **changes) -> UnitNotes:
        """Change some fields of one unit in one transaction (a callable computes the new value
        from what is stored); returns the unit's notes as written."""
        key = str(UnitRef.parse(unit) if isinstance(unit, str) else unit)
        with self._writing() as db:
            row = db.execute("SELECT note, tags, favourite FROM units WHERE unit=?", (key,)).fetchone()
            notes = UnitNotes(row[0], json.loads(row[1]), bool(row[2])) if row else UnitNotes()
            for name, value in changes.items():
                setattr(notes, name, value(notes) if callable(value) else value)
            if notes.is_empty():
                db.execute("DELETE FROM units WHERE unit=?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO units (unit, note, tags, favourite) VALUES (?, ?, ?, ?)",
                           (key, notes.note, json.dumps(notes.tags), int(notes.favourite)))
        return notes

    def _connect(self) -> sqlite3.Connection:
        db = connect(self.path, ANNOTATIONS_ID, _TABLES, synchronous="FULL", journal="DELETE")
        db.executescript(_SCHEMA)
        return db

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as db:
            yield db

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken at once, so concurrent writers queue), then a reload."""
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("INSERT INTO meta (key, value) VALUES ('revision', '1') "
                           "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER) + 1")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._load()

    def _open(self) -> None:
        """Check the file (moving an unreadable one aside) and import an earlier JSON store."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._reading() as db:
                check_integrity(db, self.path)
        except DatabaseFileError as error:
            aside = move_aside(self.path, "unreadable")
            self.warning = f"could not read {self.path.name} ({error}); moved it to {aside.name} and started afresh"
        if self.legacy.is_file():
            self._migrate()

    def _migrate(self) -> None:
        with self._reading() as db:
            if _migrated(db):
                return
        with self._writing() as db:
            if _migrated(db) or not self.legacy.is_file():  # another process got there first
                return
            try:
                data = json.loads(self.legacy.read_text(encoding="utf-8"))
                units = {str(UnitRef.parse(k)): UnitNotes(str(v.get("note", "")), [str(t) for t in v.get("tags", [])],
                                                          bool(v.get("favourite", False)))
                         for k, v in data.get("units", {}).items()}
                families = {str(k): [str(UnitRef.parse(u)) for u in v] for k, v in data.get("families", {}).items()}
            except (OSError, ValueError, AttributeError, TypeError, UserError) as error:
                aside = move_aside(self.legacy, "unreadable")
                self.warning = (f"could not read {self.legacy.name} ({error}); moved it to {aside.name} and "
                                f"started afresh")
                return
            db.executemany("INSERT OR IGNORE INTO units (unit, note, tags, favourite) VALUES (?, ?, ?, ?)",
                           [(k, n.note, json.dumps(n.tags), int(n.favourite)) for k, n in units.items()
                            if not n.is_empty()])
            db.executemany("INSERT OR IGNORE INTO families (name, units, position) VALUES (?, ?, ?)",
                           [(k, json.dumps(v), i) for i, (k, v) in enumerate(families.items(), 1)])
            db.execute("INSERT INTO meta (key, value) VALUES ('migrated', ?)", (json.dumps(self.legacy.name),))
        self.legacy.replace(self.legacy.with_name(self.legacy.name + ".migrated"))

    def _load(self) -> None:
        with self._reading() as db:
            self._seen = _revision(db)
            self._units = {unit: UnitNotes(note, json.loads(tags), bool(favourite)) for unit, note, tags, favourite
                           in db.execute("SELECT unit, note, tags, favourite FROM units")}
            self._families = {name: json.loads(units) for name, units
                              in db.execute("SELECT name, units FROM families ORDER BY position")}


def _migrated(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM meta WHERE key='migrated'").fetchone() is not None


def _revision(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()
    return int(row[0]) if row else 0
