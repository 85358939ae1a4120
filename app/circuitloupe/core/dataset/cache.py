"""The activation cache: memory-mapped arrays plus a small SQLite index per scan key.

A cache belongs to one (model, weights, layer, dataset folder, preprocessing, channels) key
and lives in ``data_dir("dataset-cache", KEY)``:

- ``index.sqlite`` (WAL): ``meta`` (the key's parts and the layer's shape), ``images`` (one
  row per file: size, mtime, status ``ok``/``bad``/``retry`` (a read that may work next time),
  error, segment, row and checksum of its arrays) and ``segments``.
- ``segN.pre.npy`` [rows, channels, H, W] float32: pre-ReLU values (the layer's own value when
  it has no pre-ReLU); ``segN.post.npy`` only when the post-ReLU value is not ``relu(pre)``;
  ``segN.summary.npy`` [rows, channels, 6]: pre max, mean, centre, post max, mean, centre.

Each scan run appends one segment sized for the files it has to scan and commits image rows
batch by batch after their arrays are written (see :mod:`.segments`), so a cancelled or killed
scan keeps what it finished and the next run scans only the rest. Each image row holds a
checksum of its arrays: :meth:`DatasetCache.verify` (run by every scan) drops rows that do not
match so they are scanned again; an index that is not a readable database is moved aside.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitloupe.core.dataset.segments import (SUMMARY_FIELDS, SegmentWriter, check_space, row_checksum,
                                                segment_file, summarise)
from circuitloupe.core.dbfiles import CACHE_INDEX_ID, DatabaseFileError, check_integrity, connect
from circuitloupe.core.paths import data_dir

log = logging.getLogger(__name__)
CACHE_FOLDER = "dataset-cache"
_verified: dict[Path, tuple] = {}  # folder -> file signature when this process last verified it
_TABLES = {"meta", "images", "segments"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    relpath TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', segment INTEGER, row INTEGER,
    scanned_at REAL NOT NULL, checksum INTEGER);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY, rows INTEGER NOT NULL, has_post INTEGER NOT NULL, created REAL NOT NULL);
"""


@dataclass(frozen=True)
class CacheKey:
    """What a cache's contents depend on. ``channels`` is None for the whole layer."""

    model: str
    weights_id: str
    layer: str
    dataset: str
    preprocessing: str
    channels: tuple[int, ...] | None

    def digest(self) -> str:
        text = json.dumps([self.model, self.weights_id, self.layer, self.dataset, self.preprocessing,
                           list(self.channels) if self.channels is not None else None])
        return hashlib.sha1(text.encode()).hexdigest()[:20]

    def covers(self, channels: tuple[int, ...] | None) -> bool:
        """Whether this cache holds every channel in ``channels`` (None: the whole layer)."""
        if self.channels is None:
            return True
        return channels is not None and set(channels) <= set(self.channels)


@dataclass(frozen=True)
class ImageRecord:
    """A scanned image: its path relative to the dataset folder and where its arrays are."""

    relpath: str
    segment: int
    row: int


class DatasetCache:
    """One cache folder. Open with :func:`open_cache` or :func:`create_cache`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.db = _connect(self.folder / "index.sqlite")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        self.key = CacheKey(json.loads(meta["model"]), json.loads(meta["weights_id"]), json.loads(meta["layer"]),
                            json.loads(meta["dataset"]), json.loads(meta["preprocessing"]),
                            _tuple_or_none(json.loads(meta["channels"])))
        self.has_pre_relu = bool(json.loads(meta["has_pre_relu"]))
        self.input_size = tuple(json.loads(meta["input_size"]))
        self.resize = json.loads(meta["resize"])
        self.pad_colour = tuple(json.loads(meta["pad_colour"]))
        self.layer_channels = int(json.loads(meta["layer_channels"]))
        self._maps: dict[tuple[int, str], np.ndarray] = {}

    # ------------------------------------------------------------------ metadata
    @property
    def root(self) -> Path:
        return Path(self.key.dataset)

    @property
    def channels(self) -> tuple[int, ...]:
        """The layer channels stored, in storage order."""
        return self.key.channels if self.key.channels is not None else tuple(range(self.layer_channels))

    def channel_index(self, channel: int) -> int:
        """Storage index of a layer channel; KeyError if this cache does not hold it."""
        if self.key.channels is None:
            if not 0 <= channel < self.layer_channels:
                raise KeyError(channel)
            return channel
        return self.key.channels.index(channel)

    def updated(self) -> float:
        """Time (epoch seconds) of the last scanned image, or the cache's creation time."""
        row = self.db.execute("SELECT MAX(scanned_at) FROM images").fetchone()
        created = self.db.execute("SELECT value FROM meta WHERE key='created'").fetchone()
        return float(row[0] if row[0] is not None else json.loads(created[0]))

    def known(self) -> dict[str, tuple[int, int, str]]:
        """relpath -> (size, mtime_ns, status) for every file the index knows."""
        return {r: (s, m, st) for r, s, m, st in self.db.execute("SELECT relpath, size, mtime_ns, status FROM images")}

    def images(self) -> list[ImageRecord]:
        """Scanned images, sorted by path."""
        rows = self.db.execute("SELECT relpath, segment, row FROM images WHERE status='ok' ORDER BY relpath")
        return [ImageRecord(*row) for row in rows]

    def bad(self) -> list[tuple[str, str]]:
        """(relpath, error) of files that could not be read or decoded."""
        return list(self.db.execute("SELECT relpath, error FROM images WHERE status!='ok' ORDER BY relpath"))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images WHERE status='ok'").fetchone()[0]

    # ------------------------------------------------------------------ arrays
    def values(self, channel: int, kind: str = "pre") -> np.ndarray:
        """One channel's maps for every scanned image: float32 [N, H, W] in :meth:`images` order.

        ``kind`` is ``pre`` (pre-ReLU; the layer's value where it has none) or ``post``.
        """
        index = self.channel_index(channel)
        records = self.images()
        if not records:
            return np.zeros((0, 0, 0), np.float32)
        parts = []
        for segment, rows, order in _group(records):
            parts.append((order, self._read(segment, kind, rows, index)))
        out = np.empty((len(records), *parts[0][1].shape[1:]), np.float32)
        for order, array in parts:
            out[order] = array
        return out

    def summaries(self, channel: int) -> dict[str, np.ndarray]:
        """Per-image summaries of one channel: ``pre_max``, ``pre_mean``, ``pre_centre``,
        ``post_max``, ``post_mean``, ``post_centre`` -> float32 [N] in :meth:`images` order."""
        index = self.channel_index(channel)
        records = self.images()
        out = np.empty((len(records), len(SUMMARY_FIELDS)), np.float32)
        for segment, rows, order in _group(records):
            out[order] = self._array(segment, "summary")[rows, index]
        return {name: out[:, i] for i, name in enumerate(SUMMARY_FIELDS)}

    def _read(self, segment: int, kind: str, rows: np.ndarray, index: int) -> np.ndarray:
        if kind not in ("pre", "post"):
            raise ValueError(f"kind must be 'pre' or 'post', not {kind!r}")
        if kind == "post" and self.has_pre_relu:
            if (self.folder / f"seg{segment}.post.npy").exists():
                return np.asarray(self._array(segment, "post")[rows, index], np.float32)
            return np.maximum(np.asarray(self._array(segment, "pre")[rows, index], np.float32), 0)
        return np.asarray(self._array(segment, "pre")[rows, index], np.float32)

    def _array(self, segment: int, kind: str) -> np.ndarray:
        key = (segment, kind)
        if key not in self._maps:
            self._maps[key] = np.load(segment_file(self.folder, segment, kind), mmap_mode="r")
        return self._maps[key]

    # ------------------------------------------------------------------ checking
    def verify(self, repair: bool = True) -> list[str]:
        """Check every scanned image's arrays against its checksum, and the index's pages;
        return the paths of images that do not verify and, with ``repair``, forget them (so
        the next scan redoes them). Reads the whole cache (about 1 GB/s) unless this process
        already verified it unchanged since. Raises
        :class:`~circuitloupe.core.dbfiles.DatabaseFileError` for a damaged index."""
        if _verified.get(self.folder) == self._signature():
            return []
        check_integrity(self.db, self.folder / "index.sqlite")
        segments = dict(self.db.execute("SELECT id, rows FROM segments"))
        rows = self.db.execute("SELECT relpath, segment, row, checksum FROM images WHERE status='ok'").fetchall()
        self._maps.clear()
        failed = []
        by_segment: dict[int, list[tuple[str, int, int]]] = {}
        for relpath, segment, row, checksum in rows:
            by_segment.setdefault(segment, []).append((relpath, row, checksum))
        for segment, entries in by_segment.items():
            arrays = self._segment_arrays(segment, segments.get(segment))
            for relpath, row, checksum in entries:
                if (arrays is None or checksum is None or not isinstance(row, int) or not 0 <= row < len(arrays[0])
                        or row_checksum(relpath, [a[row] for a in arrays]) != checksum):
                    failed.append(relpath)
        self._maps.clear()
        if repair:
            self.forget(failed)
        if not failed:
            _verified[self.folder] = self._signature()
        return failed

    def _signature(self) -> tuple:
        """(name, size, mtime_ns) of the index and every array file: what verification depends on
        (not the -shm file, which readers write)."""
        found = []
        for path in sorted(self.folder.iterdir()):
            if path.name.endswith("-shm"):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def _segment_arrays(self, segment: int, rows: int | None) -> list[np.ndarray] | None:
        """The segment's arrays (pre, [post,] summary) when their files open with the shapes
        the index expects; None otherwise."""
        if rows is None:
            return None
        kinds = ["pre"] + (["post"] if segment_file(self.folder, segment, "post").exists() else []) + ["summary"]
        try:
            arrays = [self._array(segment, kind) for kind in kinds]
        except (OSError, ValueError, EOFError):
            return None
        channels = len(self.channels)
        expected_summary = (rows, channels, len(SUMMARY_FIELDS))
        if (arrays[0].ndim != 4 or arrays[0].shape[:2] != (rows, channels) or arrays[-1].shape != expected_summary
                or any(a.dtype != np.float32 for a in arrays) or any(a.shape != arrays[0].shape for a in arrays[1:-1])):
            return None
        return arrays

    # ------------------------------------------------------------------ writing (used by scan)
    def new_segment(self, rows: int, shape: tuple[int, int, int], has_post: bool) -> "CacheWriter":
        """Allocate arrays for ``rows`` images of ``shape`` = (channels, H, W); raises
        :class:`~circuitloupe.core.dataset.segments.DiskFullError` when they would not fit."""
        check_space(self.folder, SegmentWriter.bytes_needed(rows, shape, has_post), rows)
        with self.db:
            cursor = self.db.execute("INSERT INTO segments (rows, has_post, created) VALUES (?, ?, ?)",
                                     (rows, int(has_post), time.time()))
        return CacheWriter(self, SegmentWriter(self.folder, int(cursor.lastrowid), rows, shape, has_post))

    def forget(self, relpaths: list[str]) -> None:
        """Drop index rows (files removed from the folder or changed since their scan)."""
        with self.db:
            self.db.executemany("DELETE FROM images WHERE relpath=?", [(r,) for r in relpaths])

    def record_bad(self, entries: list[tuple[str, int, int, str]], transient: bool = False) -> None:
        """Mark files (relpath, size, mtime_ns, error) as unreadable: for good, or (``transient``)
        until the next scan tries them again."""
        now, status = time.time(), "retry" if transient else "bad"
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO images (relpath, size, mtime_ns, status, error, scanned_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", [(r, s, m, status, e, now) for r, s, m, e in entries])

    def close(self) -> None:
        self._maps.clear()
        self.db.close()


class CacheWriter:
    """Fills one new segment: :meth:`write` writes the arrays, then commits the index rows."""

    def __init__(self, cache: DatasetCache, segment: SegmentWriter) -> None:
        self.cache, self.segment = cache, segment

    def write(self, files: list[tuple[str, int, int]], pre: np.ndarray, post: np.ndarray) -> None:
        """Store a batch: ``files`` (relpath, size, mtime_ns), ``pre`` and ``post`` [B, channels, H, W]."""
        arrays = {"pre": pre, "post": post, "summary": summarise(pre, post)}
        placed = self.segment.write([r for r, _, _ in files], arrays)
        now = time.time()
        with self.cache.db:
            self.cache.db.executemany(
                "INSERT OR REPLACE INTO images (relpath, size, mtime_ns, status, error, segment, row, scanned_at, "
                "checksum) VALUES (?, ?, ?, 'ok', '', ?, ?, ?, ?)",
                [(r, s, m, self.segment.segment, row, now, checksum)
                 for (r, s, m), (row, checksum) in zip(files, placed)])

    def close(self) -> None:
        self.segment.close()


def cache_root() -> Path:
    return data_dir(CACHE_FOLDER)


def cache_folder(key: CacheKey) -> Path:
    """Where the cache of ``key`` lives (whether or not it exists yet)."""
    return cache_root() / key.digest()


def create_cache(key: CacheKey, *, has_pre_relu: bool, input_size: tuple[int, int], resize: str,
                 pad_colour: tuple[float, ...], layer_channels: int) -> DatasetCache:
    """Make (or reopen) the cache folder for ``key``. Raises
    :class:`~circuitloupe.core.dbfiles.DatabaseFileError` when its index is unreadable."""
    folder = cache_folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    db = _connect(folder / "index.sqlite")
    meta = {"model": key.model, "weights_id": key.weights_id, "layer": key.layer, "dataset": key.dataset,
            "preprocessing": key.preprocessing, "channels": list(key.channels) if key.channels is not None else None,
            "has_pre_relu": has_pre_relu, "input_size": list(input_size), "resize": resize,
            "pad_colour": list(pad_colour), "layer_channels": layer_channels, "created": time.time()}
    with db:
        db.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                       [(k, json.dumps(v)) for k, v in meta.items()])
    db.close()
    return DatasetCache(folder)


def drop_cache(cache: DatasetCache) -> None:
    """Delete a cache folder (its arrays and index)."""
    import shutil

    cache.close()
    shutil.rmtree(cache.folder, ignore_errors=True)


def list_caches() -> list[DatasetCache]:
    """Every readable cache in the data folder, most recently updated first."""
    found = []
    for folder in cache_root().iterdir():
        if "." not in folder.name and (folder / "index.sqlite").is_file():  # not one moved aside as damaged
            try:
                found.append(DatasetCache(folder))
            except (sqlite3.Error, DatabaseFileError, KeyError, ValueError):
                continue
    found.sort(key=lambda c: c.updated(), reverse=True)
    return found


def find_cache(model: str, weights_id: str, layer: str, *, dataset: str | None = None,
               preprocessing: str | None = None, channels: tuple[int, ...] | None = None,
               nonempty: bool = True, verify: bool = True) -> DatasetCache | None:
    """The most recently updated cache matching the given parts that holds ``channels``
    (and, with ``nonempty``, at least one scanned image). With ``verify``, a match that does
    not verify is logged as damaged and None returned: scanning the folder again repairs it."""
    match = None
    for cache in list_caches():
        key = cache.key
        if (match is None and key.model == model and key.weights_id == weights_id and key.layer == layer
                and (dataset is None or key.dataset == dataset)
                and (preprocessing is None or key.preprocessing == preprocessing)
                and key.covers(channels) and (not nonempty or len(cache) > 0)):
            match = cache
        else:
            cache.close()
    if match is not None and verify:
        try:
            failed = len(match.verify(repair=False))
        except DatabaseFileError:
            failed = len(match)
        if failed:
            log.warning("the activation cache in %s is damaged (%d images do not match their checksums); scan "
                        "the folder again to rebuild it", match.folder, failed)
            match.close()
            return None
    return match


def _connect(path: Path) -> sqlite3.Connection:
    db = connect(path, CACHE_INDEX_ID, _TABLES)
    try:
        db.executescript(_SCHEMA)
        if "checksum" not in {row[1] for row in db.execute("PRAGMA table_info(images)")}:
            db.execute("ALTER TABLE images ADD COLUMN checksum INTEGER")  # older caches: rows rescanned
    except sqlite3.DatabaseError as error:
        db.close()
        raise DatabaseFileError(f"{path} is damaged ({error})") from None
    return db


def _group(records: list[ImageRecord]):
    """Yield (segment, rows array, positions in ``records``) per segment, rows ascending."""
    by_segment: dict[int, list[tuple[int, int]]] = {}
    for position, record in enumerate(records):
        by_segment.setdefault(record.segment, []).append((record.row, position))
    for segment, pairs in by_segment.items():
        pairs.sort()
        yield segment, np.array([r for r, _ in pairs]), np.array([p for _, p in pairs])


def _tuple_or_none(value) -> tuple[int, ...] | None:
    return tuple(int(v) for v in value) if value is not None else None
