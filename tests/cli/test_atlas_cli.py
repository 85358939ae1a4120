"""circuitloupe atlas: torchrun builds equal one-process builds, a killed build resumes, query
speaks scan's JSON, export writes a site whose links all resolve, and mistakes are one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from circuitloupe.cli import main
from image_folders import make_plain_folder
from support import REPO

APP = str(REPO / "app")
BUILD = ["atlas", "build", "--model", "bundled", "--layers", "conv3,conv4", "--top", "4", "--batch-size", "4",
         "--workers", "0", "--bins", "30", "--reservoir", "32"]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def command(*args: str, torchrun: int = 0) -> list[str]:
    if torchrun:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(torchrun),
                "-m", "circuitloupe", *args]
    return [sys.executable, "-m", "circuitloupe", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": APP + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}


def start(argv: list[str]) -> subprocess.Popen:
    """A process in its own session, so it and its children can be killed together."""
    return subprocess.Popen(argv, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(process: subprocess.Popen, timeout: float = 180) -> subprocess.CompletedProcess:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        kill(process)  # torchrun's workers too, should it hang
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return finish(start(argv))


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas")
    images = make_plain_folder(root / "images" / "class_a", 6, size=40)
    make_plain_folder(root / "images" / "class_b", 6, size=40, seed=1)
    assert main([*BUILD, "--images", str(root / "images"), "--out", str(root / "atlas")]) == 0
    return root / "atlas", images.parent


def test_two_torchrun_processes_build_the_same_bytes_as_one(tmp_path):
    images = make_plain_folder(tmp_path / "images", 20, size=40)
    runs = {}
    for processes in (0, 2):
        out = tmp_path / f"atlas{processes}"
        done = run(command(*BUILD, "--images", str(images), "--out", str(out), torchrun=processes))
        assert done.returncode == 0, done.stderr[-2000:]
        runs[processes] = folder_bytes(out)
    assert "2 process(es)" in done.stdout
    assert runs[0] == runs[2] and "layers/conv4/mean.npy" in runs[0]


def test_a_killed_build_continues_from_its_checkpoint(tmp_path):
    images = make_plain_folder(tmp_path / "images", 120, size=40)  # long enough to be caught midway
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    args = [*BUILD, "--images", str(images), "--checkpoint-every", "4"]
    assert run(command(*args, "--out", str(whole))).returncode == 0
    process = start(command(*args, "--out", str(killed)))
    deadline = time.monotonic() + 120
    while not list((killed / ".checkpoints").glob("[!.]*.npz")) and time.monotonic() < deadline:  # not a temp file
        time.sleep(0.01)
    kill(process)
    assert not (killed / "atlas.json").exists(), "the build finished before it could be killed"
    resumed = run(command(*args, "--out", str(killed)))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not re.search(r" 0 from checkpoints", resumed.stdout)
    assert folder_bytes(whole) == folder_bytes(killed)


def test_query_writes_scan_json_and_a_figure(atlas, tmp_path, capsys):
    folder, images = atlas
    out, figure = tmp_path / "unit.json", tmp_path / "unit.png"
    assert main(["atlas", "query", str(folder), "conv3:7", "--json", str(out), "--out", str(figure)]) == 0
    data = json.loads(out.read_text())
    assert data["unit"] == "conv3:7" and data["statistics"]["count"] == 12 * 16 * 16
    assert len(data["top"]) == len(data["bottom"]) == 4
    assert set(data["top"][0]) == {"file", "y", "x", "value", "class"}
    assert data["top"][0]["class"] in ("class_a", "class_b")
    assert data["top"][0]["value"] == data["statistics"]["max"]
    assert data["bottom"][0]["value"] == data["statistics"]["min"]
    histogram = data["histogram"]
    assert len(histogram["edges"]) == 31 and sum(histogram["counts"]) + histogram["underflow"] + histogram["overflow"] \
        == data["statistics"]["count"]
    assert Image.open(figure).height > 400


@pytest.mark.parametrize("args, message", [
    (["conv3:99"], "conv3 has 48 units"),
    (["conv9:1"], "the atlas has no layer 'conv9'"),
    (["conv3"], "is not a unit"),
])
def test_query_mistakes_are_one_line(atlas, capsys, args, message):
    assert main(["atlas", "query", str(atlas[0]), *args, "--json", "-"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_build_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main([*BUILD, "--images", str(tmp_path / "nothing"), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "neither a folder of images nor a text file" in err and err.count("\n") == 1


def test_export_writes_a_site_whose_links_resolve(atlas, tmp_path, capsys):
    folder, _ = atlas
    site = tmp_path / "site"
    assert main(["atlas", "export", str(folder), "--html", str(site)]) == 0
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 1 + 2 + 48 + 64
    unit = (site / "units" / "conv3" / "7.html").read_text()
    assert "Top 4 examples" in unit and "Top outputs into conv4" in unit and 'href="../conv4/' in unit
    for page in pages:
        for link in re.findall(r'(?:href|src)="([^"#]+)"', page.read_text()):
            assert (page.parent / link).resolve().is_file(), f"{page}: {link}"
