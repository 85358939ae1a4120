"""The check every pane's "Copy as CLI command" must pass: the command, run as it is (with its
``--out FIG.png`` pointed at a file and ``--json`` added), writes the very PNG the pane exports and
the numbers of the Result the pane shows."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from circuitloupe.cli import main
from circuitloupe.core.figures import save_png
from circuitloupe.tasks.base import jsonable


def assert_cli_reproduces(pane, tmp_path: Path, *, same_pixels: bool = True,
                          volatile: tuple[str, ...] = ()) -> list[str]:
    """Run ``pane.cli_command()`` in-process; its PNG equals ``pane.figure(1.0)`` (byte for byte when
    ``same_pixels``, else in size) and its JSON equals ``pane.result.to_json()`` but for the
    ``volatile`` keys (timings and counts of work done, e.g. a scan's). Returns the argv."""
    argv = shlex.split(pane.cli_command())
    assert argv[0] == "circuitloupe" and argv[-2:] == ["--out", "FIG.png"], argv
    cli_png, cli_json, pane_png = tmp_path / "cli.png", tmp_path / "cli.json", tmp_path / "pane.png"
    assert main([*argv[1:-1], str(cli_png), "--json", str(cli_json)]) == 0
    save_png(pane.figure(1.0), pane_png)
    if same_pixels:
        assert cli_png.read_bytes() == pane_png.read_bytes()
    else:
        from PIL import Image
        assert Image.open(cli_png).size == Image.open(pane_png).size
    pane_numbers = json.loads(json.dumps(pane.result.to_json(), default=jsonable))
    cli_numbers = json.loads(cli_json.read_text())
    for key in volatile:
        pane_numbers.pop(key, None), cli_numbers.pop(key, None)
    assert cli_numbers == pane_numbers
    return argv
