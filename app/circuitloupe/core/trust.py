"""Consent before running a model file that a project names.

A project is data someone may send you, but a ``file.py:factory`` model spec runs that Python
file when the model loads. Such a file runs only once the user trusts it: the decision is kept
per resolved path and SHA-256 of the file's content in a small SQLite store in the user's data
folder, so a changed file is asked about again. A file the user loaded themselves (``--model``,
File > Open model file) is recorded the same way by :func:`~circuitloupe.core.models.custom.load_custom`. The GUI asks with a dialog
(:mod:`circuitloupe.ui.trust_dialog`); the CLI needs ``--trust``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from circuitloupe.core import userdb
from circuitloupe.core.errors import UserError
from circuitloupe.core.filehash import compute_sha256
from circuitloupe.core.project import Project, ProjectError, load_project, model_file

log = logging.getLogger(__name__)

STORE = "trusted-model-files.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS trusted (path TEXT NOT NULL, sha256 TEXT NOT NULL, trusted_at REAL NOT NULL,
                                    PRIMARY KEY (path, sha256));
"""


class UntrustedModelFile(UserError):
    """A project names a model file the user has not trusted (the CLI without ``--trust``)."""


@dataclass(frozen=True)
class ModelFile:
    """A Python model file as it is now: resolved path and SHA-256 of its content."""

    path: Path
    sha256: str


def identify(path: str | Path) -> ModelFile:
    """The file's resolved path and the SHA-256 of its current content (always read afresh)."""
    resolved = Path(path).expanduser().resolve()
    return ModelFile(resolved, compute_sha256(resolved))


def is_trusted(file: ModelFile) -> bool:
    """Whether the user trusted this path with exactly this content before."""
    try:
        with userdb.connect(STORE, SCHEMA) as db:
            row = db.execute("SELECT 1 FROM trusted WHERE path = ? AND sha256 = ?",
                             (str(file.path), file.sha256)).fetchone()
    except (sqlite3.Error, OSError) as error:
        log.warning("trusted-files store unavailable (%s); asking again", error)
        return False
    return row is not None


def remember(file: ModelFile) -> None:
    """Record that the user trusts this path with this content."""
    try:
        with userdb.connect(STORE, SCHEMA) as db:
            db.execute("INSERT OR REPLACE INTO trusted VALUES (?, ?, ?)", (str(file.path), file.sha256, time.time()))
    except (sqlite3.Error, OSError) as error:
        log.warning("could not remember that %s is trusted (%s); it will be asked about again", file.path, error)


def needs_consent(project: Project) -> ModelFile | None:
    """The model file ``project`` would run that is not trusted yet, or None when nothing needs asking
    (a zoo model, a trusted file with unchanged content, or a missing or unreadable file, which
    cannot run: loading it says why)."""
    path = model_file(project)
    if path is None:
        return None
    try:
        file = identify(path)
    except OSError:
        return None
    return None if is_trusted(file) else file


def check_project_for_cli(project_path: str | Path, trust: bool) -> None:
    """Before the app opens ``project_path`` from the command line: raise UntrustedModelFile when
    it names an untrusted model file and ``trust`` is False; with ``trust`` remember the file.
    A project that cannot be read is left to the app, which says what is wrong with it."""
    try:
        project = load_project(project_path)
    except ProjectError:
        return
    file = needs_consent(project)
    if file is None:
        return
    if not trust:
        raise UntrustedModelFile(f"{project_path} loads its model from {file.path} (SHA-256 {file.sha256}), "
                                 "which runs Python code; pass --trust to run it")
    remember(file)
