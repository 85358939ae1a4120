"""The notebook API (``import circuitloupe as cl``) and the CLI run the same tasks: same PNG bytes
where the computation is deterministic, same JSON numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import circuitloupe as cl
from circuitloupe.cli import main
from circuitloupe.core.errors import UserError
from circuitloupe.tasks import ScanRequest, TuningRequest, command_line, model_arguments
from image_folders import make_plain_folder

BUNDLED = ["--model", "bundled"]
#: Keys every Result's JSON carries besides the analysis's own; "seconds" etc. are timings.
VOLATILE = {"seconds", "scanned", "reused"}


@pytest.fixture(scope="module")
def model():
    return cl.load("bundled")


def _same_outputs(tmp_path: Path, result, argv: list[str], volatile: set[str] = frozenset()) -> dict:
    """Save ``result`` and run ``argv`` with --out/--json; assert the PNGs and JSON agree."""
    result.save(tmp_path / "api.png")
    result.save(tmp_path / "api.json")
    assert main([*argv, "--out", str(tmp_path / "cli.png"), "--json", str(tmp_path / "cli.json")]) == 0
    assert (tmp_path / "api.png").read_bytes() == (tmp_path / "cli.png").read_bytes()
    api, cli = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("api", "cli"))
    for key in volatile:
        api.pop(key, None), cli.pop(key, None)
    assert api == cli
    return api


def test_tuning_in_a_notebook_equals_the_command(tmp_path, model):
    result = cl.tuning(model, "conv4:26,3", orientations=12, curvatures=3, figure="maps")
    assert result.request == TuningRequest(units=("conv4:26", "conv4:3"), orientations=12, curvatures=3,
                                           figure="maps")
    data = _same_outputs(tmp_path, result, [*result.request.to_argv(), *BUNDLED])
    assert [u["unit"] for u in data["units"]] == ["conv4_pre_relu:26", "conv4_pre_relu:3"]
    assert len(data["units"][0]["response_grid"]) == 3


def test_attribute_in_a_notebook_equals_the_command(tmp_path, model):
    result = cl.attribute(model, "conv4:26", "sample:chelsea", method="ig", steps=4, batch=2)
    data = _same_outputs(tmp_path, result, ["attribute", "conv4:26", "sample:chelsea", "--method", "ig",
                                            "--steps", "4", "--batch", "2", *BUNDLED])
    assert data["method"] == "ig" and data["image"] == "sample:chelsea" and data["completeness_gap"] is not None
    result.save(tmp_path / "map.npy")
    assert (tmp_path / "map.npy").stat().st_size > 0


def test_scan_in_a_notebook_equals_the_command(tmp_path, model):
    folder = make_plain_folder(tmp_path / "photos", 3)
    result = cl.scan(model, "conv4:26", folder, top=2, workers=0)
    assert result.request == ScanRequest(target="conv4:26", folder=str(folder), top=2, workers=0)
    data = _same_outputs(tmp_path, result, [*result.request.to_argv(), *BUNDLED], VOLATILE)
    assert data["unit"] == "conv4:26" and data["images"] == 3 and len(data["top"]) == 2


def test_a_layer_scan_has_no_figure_but_numbers(tmp_path, model):
    result = cl.scan(model, "conv3", make_plain_folder(tmp_path / "photos", 2), workers=0)
    assert len(result.to_json()["channels"]) == model.catalogue.layer("conv3").channels
    with pytest.raises(UserError, match="has no figure"):
        result.save(tmp_path / "x.png")


def test_api_mistakes_are_readable(model):
    with pytest.raises(UserError, match="at least one UNIT"):
        cl.tuning(model)
    with pytest.raises(TypeError, match="model first"):
        cl.tuning("conv4:26")
    with pytest.raises(UserError, match="out of range"):
        cl.scan(model, "conv4:26", ".", size=1)


def test_command_line_reproduces_a_request(model):
    request = TuningRequest(units=("conv4:26",), stimulus="angle")
    assert command_line(request, model_arguments(model), {"out": "t.png"}) == \
        "circuitloupe tuning conv4:26 --stimulus angle --model bundled --out t.png"


@pytest.mark.parametrize("call", [
    "cl.featvis(m, 'conv4:26', steps=8)",
    "cl.tuning(m, 'conv4:26', orientations=8, curvatures=2)",
    "cl.attribute(m, 'conv4:26', 'sample:chelsea', method='saliency')",
    "cl.scan(m, 'conv4:26', sys.argv[1], workers=0)",
])
def test_one_line_from_a_shell(tmp_path, call):
    """``python -c "import circuitloupe as cl; r = cl.X(...); r.save('x.png'); print(len(r._repr_png_()))"``."""
    make_plain_folder(tmp_path / "photos", 2)
    code = (f"import sys, circuitloupe as cl; m = cl.load('bundled'); r = {call}; r.save('x.png'); "
            "print(len(r._repr_png_()))")
    package_root = str(Path(cl.__file__).resolve().parents[1])  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "photos")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 1000 and (tmp_path / "x.png").stat().st_size > 1000
