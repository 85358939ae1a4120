"""docs/notebook.ipynb runs: its code cells in order, in one namespace (no Jupyter kernel needed)."""

from __future__ import annotations

import json

from PIL import Image
from support import REPO

NOTEBOOK = REPO / "docs" / "notebook.ipynb"


def test_the_notebook_runs_and_its_results_show_themselves(tmp_path):
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    namespace: dict = {}
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        assert not cell["outputs"], "the notebook is kept without outputs"
        exec(compile("".join(cell["source"]), str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    for name in ("vis", "tuning", "attribution", "scan"):
        png = tmp_path / f"{name}.png"
        png.write_bytes(namespace[name]._repr_png_())
        assert Image.open(png).width >= 64, name
    assert sorted(p.name for p in namespace["out"].iterdir()) == ["scan.json", "scan.png"]
    assert json.loads((namespace["out"] / "scan.json").read_text())["images"] == 4
