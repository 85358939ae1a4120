"""Where user data lives, and writing files so that a crash never leaves half a file."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Callable

from platformdirs import user_data_dir

from circuitloupe.core.errors import WriteError

DATA_DIR_ENV = "CIRCUITLOUPE_DATA_DIR"


def data_dir(*parts: str) -> Path:
    """The user's Circuit Loupe data folder (or ``$CIRCUITLOUPE_DATA_DIR``), created on demand."""
    root = Path(os.environ.get(DATA_DIR_ENV) or user_data_dir("circuitloupe", appauthor=False))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], make_parents: bool = False) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``; returns ``path``.

    The file gets the mode a plain ``open()`` would give (``0666 & ~umask``, or the mode of the
    file it replaces); a symlink is followed, so its target is replaced and the link kept. A
    missing folder is created only with ``make_parents``. Any failure (missing or read-only
    folder, full disk, ``path`` a folder) raises a one-line :class:`WriteError` and leaves the
    old file whole.
    """
    path = Path(path)
    target = Path(os.path.realpath(path))
    tmp = None
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        _check_writable(path, target)
        tmp = _create_beside(target)
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        write(tmp)
        os.replace(tmp, target)
    except OSError as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(error, WriteError):
            raise
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return path


def _check_writable(path: Path, target: Path) -> None:
    if target.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder")
    if not target.parent.exists():
        raise WriteError(f"cannot write {path}: folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise WriteError(f"cannot write {path}: {target.parent} is not a folder")


def _create_beside(target: Path) -> Path:
    """A new empty file next to ``target``, created with mode 0666 so the kernel applies the
    umask exactly as for ``open()`` (``mkstemp`` would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{target.suffix}")
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue


def atomic_write_bytes(path: str | os.PathLike, data: bytes, make_parents: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), make_parents)


def atomic_write_text(path: str | os.PathLike, text: str, make_parents: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), make_parents)
