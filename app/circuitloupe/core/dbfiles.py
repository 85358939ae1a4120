"""Opening Circuit Loupe's own SQLite files (dataset cache indexes, labeling sessions, annotations).

Each kind of file carries its own ``PRAGMA application_id``. A file is checked before anything
is changed in it: one that is not a database, is damaged, or belongs to another program raises
:class:`DatabaseFileError` and is left exactly as it was (in particular never switched to WAL).
Files written before application ids were set are recognised by their tables.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from circuitloupe.core.errors import UserError

# "CL" + two letters per kind of file
CACHE_INDEX_ID = 0x434C4443  # CLDC
LABEL_SESSION_ID = 0x434C4C53  # CLLS
ANNOTATIONS_ID = 0x434C414E  # CLAN


class DatabaseFileError(UserError):
    """A file that is not a readable SQLite database of the expected kind."""


def connect(path: str | os.PathLike, application_id: int, tables: set[str], *,
            synchronous: str = "NORMAL", journal: str = "WAL") -> sqlite3.Connection:
    """Open (creating when missing) one of our SQLite files, in ``journal`` mode (WAL unless said).

    ``tables`` are the tables a file of this kind has; an existing file must have our
    ``application_id``, or id 0 and these tables (an older file of ours), or be empty.
    """
    path = Path(path)
    db = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        found = db.execute("PRAGMA application_id").fetchone()[0]
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError:  # locked, or cannot be opened: not a verdict on the file
        db.close()
        raise
    except sqlite3.DatabaseError as error:
        db.close()
        raise DatabaseFileError(f"{path} is not a readable database ({error})") from None
    if found != application_id and not (found == 0 and (not names or tables <= names)):
        db.close()
        raise DatabaseFileError(f"{path} is a database of another program; it was left untouched")
    db.execute(f"PRAGMA journal_mode={journal}")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if found != application_id:
        db.execute(f"PRAGMA application_id={int(application_id)}")
    return db


def check_integrity(db: sqlite3.Connection, path: str | os.PathLike) -> None:
    """Raise :class:`DatabaseFileError` when SQLite finds damaged pages in an open file."""
    try:
        rows = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.OperationalError:  # locked: not a verdict on the file
        raise
    except sqlite3.DatabaseError as error:
        rows = [str(error)]
    if rows != ["ok"]:
        lines = " ".join(rows).replace("*** in database main ***", "").splitlines()
        raise DatabaseFileError(f"{path} is damaged ({'; '.join(' '.join(line.split()) for line in lines)})")


def move_aside(path: str | os.PathLike, suffix: str = "damaged") -> Path:
    """Rename a damaged file or folder (and a database's -wal/-shm files) to
    ``NAME.SUFFIX-TIMESTAMP``; returns the new path."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.{suffix}-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        aside, n = aside.with_name(f"{aside.name.rsplit('~', 1)[0]}~{n}"), n + 1
    path.replace(aside)
    for extra in ("-wal", "-shm"):
        side = Path(f"{path}{extra}")
        if side.exists():
            side.replace(Path(f"{aside}{extra}"))
    return aside
