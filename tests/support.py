"""Helpers for tests (importable as ``support`` because tests/ is on sys.path via conftest)."""

from __future__ import annotations

from pathlib import Path


def read_key_table(path: Path) -> dict[str, tuple[int, ...]]:
    """A ``key<TAB>shape`` table (shapes like 64x3x7x7) as {key: shape tuple}."""
    rows = path.read_text().splitlines()[1:]
    table = {}
    for row in rows:
        if row.strip():
            key, shape = row.split("\t")
            table[key] = tuple(int(n) for n in shape.split("x")) if shape else ()
    return table


#: Reference tables copied into the repository (a fresh clone has no shared folder beside it).
REFERENCE = Path(__file__).resolve().parent / "data"
