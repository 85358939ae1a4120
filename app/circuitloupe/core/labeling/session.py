"""Labeling sessions: a sampled set of dataset crops and every answer to them, in SQLite.

A session file holds what was sampled (model, unit, dataset, scan settings, receptive field,
label set, sampling plan and the dataset's distribution in the plan's bins) and an
append-only answer log. Every answer is committed (WAL, synchronous=FULL) the moment it is
given, with its time and the seconds it took; undo marks an answer undone rather than
deleting it. The current answer of a labeller to an item is their latest one not undone; a
skip is an answer with no label.

A new session is sampled completely, into a file beside its destination, before it replaces
(``os.replace``) an old session of that name, so a mistake never costs an existing session.
Opening checks the file is a session (its application id, or its tables) before anything is
written to it, and that SQLite finds no damaged pages; otherwise one :class:`UserError` line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from circuitloupe.core.dataset import CropLoader, DatasetCache, ReceptiveField, receptive_field, resolve_target
from circuitloupe.core.atlas.store import Atlas
from circuitloupe.core.dbfiles import LABEL_SESSION_ID, DatabaseFileError, check_integrity, connect
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling.labelsets import CURVE_LABELS, LabelSet
from circuitloupe.core.labeling.sampling import SamplingPlan, bin_of, stratified_sample
from circuitloupe.core.labeling.stats import (DatasetBins, agreement, expected_value_shares, label_counts,
                                              proportions)
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.paths import atomic_write_text, data_dir
from circuitloupe.core.units import UnitRef

SUFFIX = ".labels"
DEFAULT_LABELLER = "me"
MAX_BINS = 10_000  # activation bins a session's distribution may span
_TABLES = {"meta", "items", "answers"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, ord INTEGER NOT NULL UNIQUE, relpath TEXT NOT NULL, y INTEGER NOT NULL,
    x INTEGER NOT NULL, value REAL NOT NULL, bin INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item INTEGER NOT NULL REFERENCES items(id), labeller TEXT NOT NULL,
    label TEXT, answered_at REAL NOT NULL, seconds REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS answers_by_labeller ON answers (labeller, item);
"""


@dataclass(frozen=True)
class Item:
    """One thing to label: position (y, x) of an image, its pre-ReLU value and activation bin."""

    id: int
    order: int
    relpath: str
    y: int
    x: int
    value: float
    bin: int


@dataclass(frozen=True)
class Answer:
    """A labeller's answer to an item; ``label`` None means skipped. ``answered_at`` is epoch seconds."""

    id: int
    item: int
    labeller: str
    label: str | None
    answered_at: float
    seconds: float


@dataclass(frozen=True)
class SessionInfo:
    """What a session was sampled from (enough to show crops without the model)."""

    model: str
    weights: str | None
    weights_id: str
    unit: str
    dataset: str
    input_size: tuple[int, int]
    resize: str
    pad_colour: tuple[float, ...]
    receptive: ReceptiveField
    plan: SamplingPlan
    dataset_bins: DatasetBins
    created: float


@dataclass(frozen=True)
class LabelResults:
    """Label proportions per activation bin and each label's share of the expected value."""

    names: list[str]
    bin_width: float
    numbers: np.ndarray
    counts: np.ndarray
    proportions: np.ndarray
    shares: dict[str, float]
    positive_share: float
    dataset: DatasetBins

    def to_json(self) -> dict:
        return {"labels": self.names, "bin_width": self.bin_width,
                "bins": [{"low": round(float(b * self.bin_width), 9), "high": round(float((b + 1) * self.bin_width), 9),
                          "counts": dict(zip(self.names, map(int, row))),
                          "proportions": dict(zip(self.names, map(float, p)))}
                         for b, row, p in zip(self.numbers, self.counts, self.proportions)],
                "expected_value_shares": self.shares, "positive_share": self.positive_share,
                "totals": dict(zip(self.names, map(int, self.counts.sum(axis=0))))}


def session_path(name_or_path: str | Path) -> Path:
    """A session given as a path (anything with a suffix or a folder part) or a bare name,
    which lives in the user's data folder as ``labels/NAME.labels``."""
    text = str(name_or_path)
    if "/" in text or "\\" in text or Path(text).suffix:
        return Path(text)
    return data_dir("labels") / f"{text}{SUFFIX}"


def create_session(path: str | Path, model: LoadedModel, unit: UnitRef | str, cache: DatasetCache,
                   plan: SamplingPlan = SamplingPlan(), label_set: LabelSet = CURVE_LABELS,
                   weights: str | None = None, overwrite: bool = False) -> LabelSession:
    """Sample a new session from a scanned dataset. ``weights`` is the weights spec to record
    (so attribution can reload the model); the model is needed for the receptive field only.
    With ``overwrite`` an existing session at ``path`` is replaced, atomically, once the new one
    is complete; any error before that leaves it as it was."""
    path = _new_path(path, overwrite)
    target = resolve_target(model, unit)
    if target.unit is None:
        raise UserError(f"a labeling session needs a unit (layer:channel), not the layer {target.layer}")
    maps = cache.values(target.unit.channel, "pre")
    if maps.size == 0:
        raise UserError(f"no scanned images in {cache.key.dataset}; scan the folder first")
    records = cache.images()
    n, h, w = maps.shape
    if plan.over == "images":
        flat = maps.reshape(n, -1)
        where = flat.argmax(axis=1)
        candidates = np.stack([np.arange(n), where // w, where % w], axis=1)
        values = flat[np.arange(n), where]
    else:
        grid = np.indices((n, h, w)).reshape(3, -1).T
        candidates, values = grid, maps.ravel()
    source = {"dataset": cache.key.dataset, "input_size": list(cache.input_size), "resize": cache.resize,
              "pad_colour": list(cache.pad_colour)}

    def locate(index: int) -> tuple[str, int, int]:
        image, y, x = candidates[index]
        return records[int(image)].relpath, int(y), int(x)

    return _sample(path, model, target.unit, receptive_field(model, cache.key.layer, cache.input_size), source,
                   locate, values, plan, label_set, weights)


def create_session_from_atlas(path: str | Path, model: LoadedModel, unit: UnitRef | str, atlas: Atlas,
                              plan: SamplingPlan = SamplingPlan(), label_set: LabelSet = CURVE_LABELS,
                              weights: str | None = None, overwrite: bool = False) -> LabelSession:
    """Sample a new session from an atlas's seeded sample of positions (no scan): the same
    stratified draw, per activation bin, over the positions the atlas kept for the unit's layer.
    The session's dataset distribution is that sample's (a uniform sample of every position)."""
    from circuitloupe.core.atlas.figures import covers

    path = _new_path(path, overwrite)
    target = resolve_target(model, unit)
    if target.unit is None:
        raise UserError(f"a labeling session needs a unit (layer:channel), not the layer {target.layer}")
    if not covers(atlas, model, target.unit):
        raise UserError(f"the atlas {atlas.folder} was not built with this model and weights for "
                        f"{target.unit.layer}; it has {', '.join(atlas.layers)} of {atlas.meta['model']}")
    if plan.over != "positions":
        raise UserError("an atlas keeps a sample of positions, not every image's maximum: sample over positions")
    sample = atlas.unit(target.unit).sample
    if not sample:
        raise UserError(f"the atlas {atlas.folder} keeps no sampled positions (built with --reservoir 0)")
    meta = atlas.meta
    source = {"dataset": str(atlas.root), "input_size": list(meta["input_size"]), "resize": meta["resize"],
              "pad_colour": list(meta["pad_colour"]), "atlas": str(atlas.folder)}
    receptive = receptive_field(model, atlas.layers[target.unit.layer].source, tuple(meta["input_size"]))
    return _sample(path, model, target.unit, receptive, source, lambda i: (sample[i].file, sample[i].y, sample[i].x),
                   np.array([e.value for e in sample], np.float64), plan, label_set, weights)


def _new_path(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; open it to go on labelling, or pick another name")
    return path


def _sample(path: Path, model: LoadedModel, unit: UnitRef, receptive: ReceptiveField, source: dict,
            locate: Callable[[int], tuple[str, int, int]], values: np.ndarray, plan: SamplingPlan,
            label_set: LabelSet, weights: str | None) -> LabelSession:
    """Draw the plan's items from the candidates with ``values`` (``locate(i)``: candidate i's
    file, y and x) and write the session; ``source`` says where the images are and how they
    were prepared."""
    plan = plan.resolved(values)  # default bins follow the unit's observed range
    _check_plan(plan, values)
    chosen = stratified_sample(values, plan)
    if chosen.size == 0:
        raise UserError(f"no values fall inside the sampling range; the unit's values run from "
                        f"{float(values.min()):.4g} to {float(values.max()):.4g}")
    bins = DatasetBins.from_values(values, plan.bin_width)
    meta = {
        "format": 1, "model": model.spec, "weights": weights, "weights_id": model.weights_id, "unit": str(unit),
        **source,
        "receptive": {"size": list(receptive.size), "stride": list(receptive.stride),
                      "offset": list(receptive.offset), "grid": list(receptive.grid),
                      "input_size": list(receptive.input_size)},
        "plan": plan.to_json(), "dataset_bins": bins.to_json(), "label_set": label_set.to_json(),
        "created": time.time(),
    }
    item_bins = bin_of(values[chosen], plan.bin_width)
    items = [(order, *locate(int(i)), float(values[i]), int(b)) for order, (i, b) in enumerate(zip(chosen, item_bins))]
    _write_new(path, meta, items)
    return LabelSession(path)


def _check_plan(plan: SamplingPlan, values: np.ndarray) -> None:
    """One readable error for limits and bin widths that cannot give a session."""
    for name, limit in (("low", plan.low), ("high", plan.high)):
        if limit is not None and not math.isfinite(limit):
            raise UserError(f"the {name} limit must be a finite number, not {limit}")
    if plan.low is not None and plan.high is not None and plan.low >= plan.high:
        raise UserError(f"the low limit ({plan.low:g}) must be below the high limit ({plan.high:g})")
    low, high = float(values.min()), float(values.max())
    bins = math.floor(high / plan.bin_width) - math.floor(low / plan.bin_width) + 1
    if bins > MAX_BINS:
        raise UserError(f"a bin width of {plan.bin_width:g} cuts the values ({low:.4g} to {high:.4g}) into {bins:,} "
                        f"bins; pick a width of at least {(high - low) / MAX_BINS:.3g}")


def _write_new(path: Path, meta: dict, items: list[tuple]) -> None:
    """Write a complete session beside ``path``, then move it over ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
    try:
        db = _create(building)
        with db:
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            db.executemany("INSERT INTO items (ord, relpath, y, x, value, bin) VALUES (?, ?, ?, ?, ?, ?)", items)
        db.execute("PRAGMA journal_mode=DELETE")  # everything in the one file that is moved
        db.close()
        for suffix in ("-wal", "-shm"):  # the old session's: they must not be replayed onto the new one
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(building, path)
    except BaseException:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
        raise


class LabelSession:
    """An open session file. Every write is committed before the call returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"no labeling session at {self.path}")
        try:
            self.db = connect(self.path, LABEL_SESSION_ID, _TABLES, synchronous="FULL")
        except DatabaseFileError as error:
            raise UserError(f"not a labeling session: {error}") from None
        try:
            check_integrity(self.db, self.path)
            meta = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
            self.info = _info(meta)
            self.label_set = LabelSet.from_json(meta["label_set"])
            self.items = [Item(*row) for row in self.db.execute(
                "SELECT id, ord, relpath, y, x, value, bin FROM items ORDER BY ord")]
        except DatabaseFileError as error:
            self.db.close()
            raise UserError(f"{error}; sqlite3's .recover command may save the answers in it") from None
        except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as error:
            self.db.close()
            raise UserError(f"{self.path} is not a labeling session ({error})") from None
        self._index = {item.id: i for i, item in enumerate(self.items)}

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> LabelSession:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --------------------------------------------------------------- answering
    def answer(self, item_id: int, label: str, seconds: float = 0.0, labeller: str = DEFAULT_LABELLER) -> Answer:
        """Record ``label`` for an item (committed before returning)."""
        if label not in self.label_set.names:
            raise UserError(f"'{label}' is not a label of this session ({', '.join(self.label_set.names)})")
        return self._write(item_id, label, seconds, labeller)

    def skip(self, item_id: int, seconds: float = 0.0, labeller: str = DEFAULT_LABELLER) -> Answer:
        """Record that the labeller skipped an item."""
        return self._write(item_id, None, seconds, labeller)

    def undo(self, labeller: str = DEFAULT_LABELLER) -> Item | None:
        """Undo the labeller's latest answer (or skip); returns its item, or None if nothing is left."""
        row = self.db.execute("SELECT id, item FROM answers WHERE labeller=? AND undone=0 ORDER BY id DESC LIMIT 1",
                              (labeller,)).fetchone()
        if row is None:
            return None
        with self.db:
            self.db.execute("UPDATE answers SET undone=1 WHERE id=?", (row[0],))
        return self.items[self._index[row[1]]]

    def _write(self, item_id: int, label: str | None, seconds: float, labeller: str) -> Answer:
        if item_id not in self._index:
            raise UserError(f"item {item_id} is not in this session")
        now = time.time()
        with self.db:
            cursor = self.db.execute("INSERT INTO answers (item, labeller, label, answered_at, seconds) "
                                     "VALUES (?, ?, ?, ?, ?)", (item_id, labeller, label, now, float(seconds)))
        return Answer(int(cursor.lastrowid), item_id, labeller, label, now, float(seconds))

    # --------------------------------------------------------------- reading
    def answers(self, labeller: str = DEFAULT_LABELLER) -> dict[int, Answer]:
        """Item id -> the labeller's current answer."""
        rows = self.db.execute("SELECT id, item, labeller, label, answered_at, seconds FROM answers "
                               "WHERE labeller=? AND undone=0 ORDER BY id", (labeller,))
        return {row[1]: Answer(*row) for row in rows}

    def labellers(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT labeller FROM answers WHERE undone=0 ORDER BY labeller")]

    def next_open(self, labeller: str = DEFAULT_LABELLER, start: int = 0) -> int | None:
        """Index (in :attr:`items`) of the first item from ``start`` on with no answer, wrapping
        around; None when every item is answered or skipped."""
        answered = self.answers(labeller)
        count = len(self.items)
        for step in range(count):
            index = (start + step) % count
            if self.items[index].id not in answered:
                return index
        return None

    def progress(self, labeller: str = DEFAULT_LABELLER) -> tuple[int, int, int]:
        """(labelled, skipped, total items)."""
        answers = self.answers(labeller).values()
        labelled = sum(a.label is not None for a in answers)
        return labelled, sum(a.label is None for a in answers), len(self.items)

    def rate(self, labeller: str = DEFAULT_LABELLER, window: int = 20, pause: float = 300.0) -> float:
        """Answers per minute over the labeller's last ``window`` answers within the current
        sitting (a gap over ``pause`` seconds starts a new one); 0 with fewer than two."""
        times = [r[0] for r in self.db.execute("SELECT answered_at FROM answers WHERE labeller=? ORDER BY id DESC "
                                               "LIMIT ?", (labeller, window))]
        sitting = times[:1]
        for t in times[1:]:
            if sitting[-1] - t > pause:
                break
            sitting.append(t)
        if len(sitting) < 2 or sitting[0] <= sitting[-1]:
            return 0.0
        return 60.0 * (len(sitting) - 1) / (sitting[0] - sitting[-1])

    def crop_loader(self) -> CropLoader:
        """Crops of this session's items, decoded as the scan decoded them (no model needed)."""
        info = self.info
        return CropLoader(info.dataset, info.input_size, info.resize, info.pad_colour, info.receptive)

    # --------------------------------------------------------------- label set
    def set_label_set(self, label_set: LabelSet, renames: dict[str, str] | None = None) -> None:
        """Replace the label set; ``renames`` (old -> new) carries answers over to renamed labels.
        A label that has answers cannot be dropped."""
        renames = renames or {}
        used = {r[0] for r in self.db.execute("SELECT DISTINCT label FROM answers WHERE label IS NOT NULL")}
        lost = [name for name in used if renames.get(name, name) not in label_set.names]
        if lost:
            raise UserError(f"labels {', '.join(sorted(lost))} have answers; keep them or rename them")
        with self.db:
            for old, new in renames.items():
                self.db.execute("UPDATE answers SET label=? WHERE label=?", (new, old))
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('label_set', ?)",
                            (json.dumps(label_set.to_json()),))
        self.label_set = label_set

    @property
    def reference(self) -> str | None:
        """Path of the reference image shown beside each item (e.g. the unit's feature visualisation)."""
        row = self.db.execute("SELECT value FROM meta WHERE key='reference'").fetchone()
        return json.loads(row[0]) if row else None

    @reference.setter
    def reference(self, path: str | None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('reference', ?)", (json.dumps(path),))

    # --------------------------------------------------------------- results
    def results(self, labeller: str = DEFAULT_LABELLER) -> LabelResults:
        """Label proportions per bin and expected-value shares for one labeller."""
        answers = self.answers(labeller)
        names = self.label_set.names
        labelled = [(item.bin, answers[item.id].label) for item in self.items if item.id in answers]
        numbers, counts = label_counts([b for b, _ in labelled], [l for _, l in labelled], names)
        props = proportions(counts)
        shares = expected_value_shares(self.info.dataset_bins, numbers, props, names)
        positive = sum(shares[n] for n in self.label_set.positive_names())
        return LabelResults(names, self.info.plan.bin_width, numbers, counts, props, shares, positive,
                            self.info.dataset_bins)

    def agreement(self, first: str, second: str) -> dict:
        """Agreement of two labellers over the items both labelled (skips left out)."""
        a, b = self.answers(first), self.answers(second)
        both = [i.id for i in self.items if i.id in a and i.id in b
                and a[i.id].label is not None and b[i.id].label is not None]
        result = agreement([a[i].label for i in both], [b[i].label for i in both], self.label_set.names)
        return {"labellers": [first, second], **result}

    # --------------------------------------------------------------- export
    def export_rows(self, labeller: str | None = None) -> list[dict]:
        """One row per current answer (all labellers unless one is named), in item order."""
        rows = []
        for name in ([labeller] if labeller else self.labellers()):
            answers = self.answers(name)
            for item in self.items:
                answer = answers.get(item.id)
                if answer is None:
                    continue
                rows.append({"item": item.order, "file": item.relpath, "y": item.y, "x": item.x,
                             "value": item.value, "bin_low": round(item.bin * self.info.plan.bin_width, 9),
                             "labeller": name, "label": answer.label if answer.label is not None else "",
                             "skipped": answer.label is None, "seconds": round(answer.seconds, 3),
                             "answered_at": _iso(answer.answered_at)})
        return rows

    def export_csv(self, path: str | Path, labeller: str | None = None) -> int:
        """Write answers as CSV (atomically); returns the number of rows."""
        rows = self.export_rows(labeller)
        buffer = io.StringIO()
        fields = ["item", "file", "y", "x", "value", "bin_low", "labeller", "label", "skipped", "seconds", "answered_at"]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())
        return len(rows)

    def export_json(self, path: str | Path, labeller: str | None = None) -> int:
        """Write the session description and answers as JSON (atomically); returns the row count."""
        rows = self.export_rows(labeller)
        info = self.info
        data = {"model": info.model, "weights": info.weights, "weights_id": info.weights_id, "unit": info.unit,
                "dataset": info.dataset, "plan": info.plan.to_json(), "label_set": self.label_set.to_json(),
                "answers": rows}
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return len(rows)


def _create(path: Path) -> sqlite3.Connection:
    db = connect(path, LABEL_SESSION_ID, _TABLES, synchronous="FULL")
    db.executescript(_SCHEMA)
    return db


def _info(meta: dict) -> SessionInfo:
    rf = meta["receptive"]
    return SessionInfo(
        meta["model"], meta["weights"], meta["weights_id"], meta["unit"], meta["dataset"], tuple(meta["input_size"]),
        meta["resize"], tuple(meta["pad_colour"]),
        ReceptiveField(tuple(rf["size"]), tuple(rf["stride"]), tuple(rf["offset"]), tuple(rf["grid"]),
                       tuple(rf["input_size"])),
        SamplingPlan.from_json(meta["plan"]), DatasetBins.from_json(meta["dataset_bins"]), float(meta["created"]))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")
