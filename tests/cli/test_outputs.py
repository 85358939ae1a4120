"""Where commands write: JSON alone on standard output, closed pipes, unwritable files."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import circuitloupe.core.paths as paths
from circuitloupe.cli import main
from image_folders import make_mixed_folder


def test_json_on_stdout_is_the_only_thing_there(tmp_path, capsys):
    folder = make_mixed_folder(tmp_path / "images")
    assert main(["scan", "conv2:1", str(folder), "--model", "bundled", "--workers", "0", "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # the whole of standard output is one JSON document
    assert data["scanned"] > 0 and data["skipped"]
    assert "images scanned" in captured.err and "skipped corrupt.jpg" in captured.err


def test_a_closed_pipe_is_quiet_and_the_json_is_still_written(tmp_path):
    """``circuitloupe models --all --json F | head -1``: the reader has gone before anything is written."""
    out = tmp_path / "zoo.json"
    process = subprocess.Popen([sys.executable, "-m", "circuitloupe", "models", "--all", "--json", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert stderr == ""
    assert "inceptionv1" in [entry["name"] for entry in json.loads(out.read_text())["zoo"]]


def test_a_missing_folder_is_named_before_any_work(tmp_path, capsys):
    assert main(["layers", "--model", "bundled", "--json", str(tmp_path / "no" / "layers.json")]) == 2
    err = capsys.readouterr().err
    assert err == f"circuitloupe layers: error: argument --json: folder {tmp_path / 'no'} does not exist\n"
    assert not (tmp_path / "no").exists()


def test_a_full_disk_is_one_line_and_the_old_file_survives(tmp_path, capsys, monkeypatch):
    out = tmp_path / "layers.json"
    out.write_text("old results")

    def full(_src, _dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(paths.os, "replace", full)
    assert main(["layers", "--model", "bundled", "--json", str(out)]) == 2
    assert capsys.readouterr().err == f"circuitloupe: error: cannot write {out}: No space left on device\n"
    assert out.read_text() == "old results" and os.listdir(tmp_path) == ["layers.json"]


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs, where no file can be created")
def test_a_read_only_location_is_one_line(capsys):
    assert main(["models", "--json", "/sys/circuitloupe-zoo.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("circuitloupe") and err.count("\n") == 1 and "/sys/circuitloupe-zoo.json" in err


def test_written_files_get_the_mode_open_gives(tmp_path):
    """PNG, JSON and npz from the command line, under a group-writable umask."""
    old = os.umask(0o002)
    try:
        assert main(["activations", "sample:chelsea", "--model", "bundled", "--layers", "conv1",
                     "--out", str(tmp_path / "acts.npz")]) == 0
        assert main(["weights", "--model", "bundled", "--out", str(tmp_path / "filters.png"),
                     "--json", str(tmp_path / "filters.json")]) == 0
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert modes == {"acts.npz": "0o664", "filters.png": "0o664", "filters.json": "0o664"}
