"""Atomic writes: the mode a plain open() gives, symlinks kept, one-line errors, nothing lost."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from circuitloupe.core.errors import UserError, WriteError
from circuitloupe.core.figures import save_png
from circuitloupe.core.paths import atomic_write, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set a umask for the test and restore the old one."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=lambda m: f"umask{m:03o}")
def test_new_files_get_the_mode_open_gives(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "a.json", "{}")
    save_png(np.zeros((4, 4)), tmp_path / "b.png")
    assert mode(tmp_path / "a.json") == mode(tmp_path / "b.png") == mode(plain) == 0o666 & ~mask


def test_replacing_keeps_the_old_files_mode(tmp_path, umask):
    umask(0o077)
    path = tmp_path / "shared.csv"
    path.write_text("old")
    path.chmod(0o644)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o644


def test_writing_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real" / "study.loupe"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "study.loupe"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["study.loupe"]


def test_a_missing_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(WriteError, match=f"folder {tmp_path / 'nope'} does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.json", "{}")
    assert not (tmp_path / "nope").exists()
    atomic_write_text(tmp_path / "made" / "x.json", "{}", make_parents=True)
    assert (tmp_path / "made" / "x.json").read_text() == "{}"


def test_a_folder_is_not_overwritten(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(WriteError, match="it is a folder"):
        atomic_write_bytes(tmp_path / "out", b"x")
    assert (tmp_path / "out").is_dir() and os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EIO])
def test_a_failed_write_is_one_line_and_the_old_file_survives(tmp_path, code):
    path = tmp_path / "results.json"
    path.write_text("precious")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(code, os.strerror(code))

    with pytest.raises(WriteError) as raised:
        atomic_write(path, fail)
    message = str(raised.value)
    assert message == f"cannot write {path}: {os.strerror(code)}" and "\n" not in message
    assert isinstance(raised.value, UserError) and isinstance(raised.value, OSError)
    assert path.read_text() == "precious" and os.listdir(tmp_path) == ["results.json"]


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs, where no file can be created")
def test_a_read_only_folder_is_one_line():
    with pytest.raises(WriteError, match=r"^cannot write /sys/circuitloupe-test.json: [^\n]+$"):
        atomic_write_text("/sys/circuitloupe-test.json", "{}")


def test_a_project_saved_through_a_symlink_keeps_the_link(tmp_path, umask):
    from circuitloupe.core.project import Project, load_project, save_project

    umask(0o002)
    target = tmp_path / "elsewhere" / "study.loupe"
    target.parent.mkdir()
    save_project(Project(notes="first"), target)
    link = tmp_path / "study.loupe"
    link.symlink_to(target)
    save_project(Project(notes="second"), link)
    assert link.is_symlink() and load_project(target).notes == "second" and mode(target) == 0o664
