"""SHA-256 of files, computed once per version of a file and remembered across processes.

A file's digest is stored with its resolved path, size, mtime_ns, ctime_ns, inode and device;
while all of those are unchanged the stored digest is used. ``ctime_ns`` is in the key because
rewriting a file in place and restoring its mtime (``os.utime``) keeps the other four.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from pathlib import Path

from circuitloupe.core import userdb

log = logging.getLogger(__name__)

STORE = "file-hashes.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, version TEXT NOT NULL, sha256 TEXT NOT NULL);
"""


def compute_sha256(path: str | os.PathLike) -> str:
    """Read the whole file and return its SHA-256 as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256 (64 hex digits), read from the store when this version was hashed before."""
    resolved = Path(path).expanduser().resolve()
    version = _version(resolved)
    try:
        with userdb.connect(STORE, SCHEMA) as db:
            row = db.execute("SELECT version, sha256 FROM hashes WHERE path = ?", (str(resolved),)).fetchone()
    except (sqlite3.Error, OSError) as error:
        log.warning("file hash store unavailable (%s); hashing %s without remembering", error, resolved)
        return compute_sha256(resolved)
    if row is not None and row[0] == version:
        return row[1]
    digest = compute_sha256(resolved)
    if _version(resolved) == version:  # not changed while it was read
        try:
            with userdb.connect(STORE, SCHEMA) as db:
                db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)", (str(resolved), version, digest))
        except (sqlite3.Error, OSError) as error:
            log.warning("could not remember the hash of %s (%s)", resolved, error)
    return digest


def _version(path: Path) -> str:
    """size:mtime_ns:ctime_ns:inode:device (text: an inode may not fit SQLite's signed integers)."""
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}:{stat.st_dev}"
