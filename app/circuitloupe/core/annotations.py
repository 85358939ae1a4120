"""A researcher's notes on a model: per-unit notes, tags and favourites, and saved families.

One JSON file per model and weights under the user's data folder (``annotations/``). Several
writers share it (the browser, the curve finder and equivariance panes, ``circuitloupe
find-curves --save-family``, another window): every change re-reads the file, applies itself to
what is on disk and rewrites it atomically, so no writer erases another's change and a crash
never loses what was already saved. Readers see the state of their last load or write;
:meth:`AnnotationStore.reload` picks up other writers' changes. A file that cannot be read is
moved aside (``*.unreadable``) and a fresh store started, with a warning.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import atomic_write_text, data_dir
from circuitloupe.core.units import UnitRef, parse_unit_list

FORMAT_VERSION = 1


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
    return data_dir("annotations") / f"{_slug(model_name)}--{_slug(weights_id)}.json"


class AnnotationStore:
    """Notes, tags, favourites and user families of one model; every change is saved at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warning: str | None = None
        self._units: dict[str, UnitNotes] = {}
        self._families: dict[str, list[str]] = {}
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) last read or written
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
        self.reload()
        state = not self.is_favourite(unit)
        self.set_favourite(unit, state)
        return state

    def save_family(self, name: str, units: Sequence[UnitRef | str] | str) -> list[UnitRef]:
        """Save (or replace) a family; ``units`` may be a list or text like ``mixed3b:379,385``."""
        name = name.strip()
        if not name:
            raise UserError("a family needs a name")
        refs = parse_unit_list(units) if isinstance(units, str) else [
            UnitRef.parse(u) if isinstance(u, str) else u for u in units]
        if not refs:
            raise UserError("a family needs at least one unit")
        keys = [str(u) for u in refs]
        self._change(lambda: self._families.__setitem__(name, keys))
        return refs

    def delete_family(self, name: str) -> None:
        self._change(lambda: self._families.pop(name, None))

    def reload(self) -> bool:
        """Re-read the file if another writer changed it since this store last read or wrote it;
        True when it did (the caller should redraw what it shows)."""
        if self._signature() == self._seen:
            return False
        self._load()
        return True

    # -- storage -----------------------------------------------------------------------------
    def _update(self, unit: UnitRef | str, **changes) -> None:
        key = str(UnitRef.parse(unit) if isinstance(unit, str) else unit)

        def apply() -> None:
            notes = self._units.get(key, UnitNotes())
            for name, value in changes.items():
                setattr(notes, name, value)
            if notes.is_empty():
                self._units.pop(key, None)
            else:
                self._units[key] = notes

        self._change(apply)

    def _change(self, apply: Callable[[], object]) -> None:
        """Read-modify-write: take the file's current state, apply one change, write it back."""
        self._load()
        apply()
        self._save()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _load(self) -> None:
        self._units, self._families = {}, {}
        self._seen = self._signature()
        if self._seen is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            units = {str(UnitRef.parse(k)): UnitNotes(str(v.get("note", "")), [str(t) for t in v.get("tags", [])],
                                                      bool(v.get("favourite", False)))
                     for k, v in data.get("units", {}).items()}
            families = {str(k): [str(UnitRef.parse(u)) for u in v] for k, v in data.get("families", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError, UserError) as error:
            aside = self.path.with_name(f"{self.path.name}.{time.strftime('%Y%m%d-%H%M%S')}.unreadable")
            self.path.replace(aside)
            self.warning = f"could not read {self.path.name} ({error}); moved it to {aside.name} and started afresh"
            self._seen = None
            return
        self._units, self._families = units, families

    def _save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "units": {key: {"note": n.note, "tags": n.tags, "favourite": n.favourite}
                      for key, n in sorted(self._units.items())},
            "families": self._families,
        }
        atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")
        self._seen = self._signature()
