"""Helpers for tests (importable as ``support`` because tests/ is on sys.path via conftest)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

#: The repository's root folder: tests read files only under it (a fresh clone has nothing else).
REPO = Path(__file__).resolve().parent.parent


def read_key_table(path: Path) -> dict[str, tuple[int, ...]]:
    """A ``key<TAB>shape`` table (shapes like 64x3x7x7) as {key: shape tuple}."""
    rows = path.read_text().splitlines()[1:]
    table = {}
    for row in rows:
        if row.strip():
            key, shape = row.split("\t")
            table[key] = tuple(int(n) for n in shape.split("x")) if shape else ()
    return table


def foreign_database(path: Path, *statements: str) -> bytes:
    """Write an SQLite database of another program at ``path`` (``statements`` run in it); its bytes."""
    db = sqlite3.connect(path)
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path.read_bytes()


#: A model file (``build``) that writes ``ran.txt`` beside itself when it is imported: proof that it ran.
MARKED_MODEL = textwrap.dedent('''
    from pathlib import Path
    from torch import nn

    Path(__file__).with_name("ran.txt").write_text("this file was imported")

    def build():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
''')


def sent_project(folder: Path, name: str = "project.loupe", **fields: Any) -> Path:
    """A project someone sent: ``folder/name`` naming ``model.py:build`` (:data:`MARKED_MODEL`) beside it,
    with ``fields`` (``weights``, ``notes`` ...) added to the project file."""
    (folder / "model.py").write_text(MARKED_MODEL)
    path = folder / name
    path.write_text(json.dumps({"format": "circuitloupe-project", "schema_version": 1,
                                "model_spec": "model.py:build", **fields}))
    return path


#: Reference tables copied into the repository (a fresh clone has no shared folder beside it).
REFERENCE = Path(__file__).resolve().parent / "data"
