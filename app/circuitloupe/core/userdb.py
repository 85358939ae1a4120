"""Small SQLite stores in the user's data folder, shared safely by several processes.

Each store is one file under :func:`~circuitloupe.core.paths.data_dir`; every use opens a
connection, runs in one transaction and closes it, so concurrent processes just wait on
SQLite's lock. A store that is not a readable SQLite file (damaged, or something else put
there) is moved aside as ``NAME.damaged`` and started afresh: it only remembers things that
can be worked out or asked again.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import contextmanager
from typing import Iterator

from circuitloupe.core.paths import data_dir

log = logging.getLogger(__name__)


@contextmanager
def connect(name: str, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection to the store ``name`` with ``schema`` (idempotent SQL) applied; commits on exit."""
    path = data_dir() / name
    try:
        db = _open(path, schema)
    except sqlite3.OperationalError:  # locked, read-only, ...: the caller decides
        raise
    except sqlite3.DatabaseError as error:
        log.warning("%s is not a readable store (%s); moved aside and started afresh", path, error)
        os.replace(path, path.with_name(path.name + ".damaged"))
        db = _open(path, schema)
    try:
        with db:
            yield db
    finally:
        db.close()


def _open(path, schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    try:
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db
