"""circuitloupe models / layers / activations, and how user mistakes are reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import circuitloupe.cli as cli
from circuitloupe.cli import main
from circuitloupe.cli.common import IMAGE_HELP
from circuitloupe.core.activations import capture
from circuitloupe.core.images import to_batch
from circuitloupe.core.models import load_model
from circuitloupe.core.samples import load_sample


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "circuitloupe", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def images(tmp_path):
    paths = []
    for i, size in enumerate([(224, 224), (300, 180)]):
        path = tmp_path / f"img{i}.png"
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "inceptionv1" in out and "torchvision" in out and "file.py:factory" in out


def test_layers_json(tmp_path):
    out = tmp_path / "layers.json"
    assert main(["layers", "--model", "inceptionv1", "--weights", "random:0", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {row["name"]: row for row in data["layers"]}
    assert rows["mixed3b"]["channels"] == 480 and rows["mixed3b"]["shape"] == [480, 28, 28]
    assert rows["mixed3b"]["pre_relu"] is True
    assert rows["mixed3b"]["parts"][2] == ["mixed3b_5x5", 96]


def test_activations_npz(tmp_path, images):
    out = tmp_path / "acts.npz"
    code = main(["activations", "--model", "inceptionv1", "--weights", "random:0", *images,
                 "--layers", "mixed3a,3b", "--out", str(out)])
    assert code == 0
    with np.load(out) as data:
        assert set(data.files) == {"mixed3a", "mixed3b"}
        assert data["mixed3b"].shape == (2, 480, 28, 28)
        assert data["mixed3a"].min() >= 0
    pre = tmp_path / "pre.npz"
    assert main(["activations", "--model", "inceptionv1", "--weights", "random:0", images[0],
                 "--layers", "mixed3b", "--pre-relu", "--out", str(pre)]) == 0
    with np.load(pre) as data:
        assert data["mixed3b_pre_relu"].shape == (1, 480, 28, 28) and data["mixed3b_pre_relu"].min() < 0


def test_activations_of_a_sample_photo(tmp_path):
    out = tmp_path / "cat.npz"
    assert main(["activations", "--model", "bundled", "sample:chelsea", "--layers", "conv2", "--out", str(out)]) == 0
    expected = capture(load_model("bundled"), to_batch([load_sample("chelsea")], (64, 64)), ["conv2"])["conv2"]
    with np.load(out) as data:
        np.testing.assert_allclose(data["conv2"], expected, atol=1e-5)


def test_every_image_argument_goes_through_one_helper():
    """Commands read IMAGE arguments with cli.common.read_image (or their task reads them with
    load_image_or_sample), so each takes sample:NAME."""
    folder = Path(cli.__file__).parent
    for path in folder.glob("*_cmd.py"):
        source = path.read_text()
        assert "load_image(" not in source, f"{path.name} loads images itself; use cli.common.read_image"
        if 'metavar="IMAGE"' in source:
            assert "IMAGE_HELP" in source, path.name
    assert "sample:NAME" in IMAGE_HELP


@pytest.mark.parametrize("args, message", [
    (["layers", "--model", "nosuchnet"], "no model called 'nosuchnet'"),
    (["layers", "--model", "inceptionv1", "--weights", "/no/such/file.pth"], "does not exist"),
    (["activations", "--model", "inceptionv1", "--weights", "random", "/no/img.png", "--layers", "mixed3b",
      "--out", "x.npz"], "image /no/img.png does not exist"),
    (["activations", "--model", "inceptionv1", "--weights", "random", "{img}", "--layers", "mixed9z",
      "--out", "x.npz"], "no layer 'mixed9z'"),
    (["activations", "--model", "bundled", "sample:kitten", "--layers", "conv2", "--out", "x.npz"],
     "no sample image 'kitten'"),
    (["activations", "--model", "bundled", "sample:chelsea", "--layers", "conv2", "--channel", "999", "--out",
      "x.png"], "--channel 999 is out of range"),
])
def test_user_mistakes_exit_nonzero_with_one_line(args, message, images):
    result = run_cli(*[a.format(img=images[0]) for a in args])
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
