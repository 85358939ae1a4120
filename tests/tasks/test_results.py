"""Every task's Result draws its figure, serialises to JSON and saves, from the notebook API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import circuitloupe as cl
from circuitloupe.tasks import DiscoverResult, FiltersResult


@pytest.fixture(scope="module")
def model():
    return cl.load("bundled")


CALLS = {
    "activations": lambda m: cl.activations(m, ["sample:chelsea", "sample:coffee"], layers="conv2,conv4"),
    "predict": lambda m: cl.predict(m, ["sample:chelsea"], top=3),
    "weights": lambda m: cl.weights(m, columns=4),
    "expanded": lambda m: cl.expanded(m, "conv3", "conv4:26", top=3),
    "circuit": lambda m: cl.circuit(m, "conv3:1,2", "conv4:26,3", magnitude=True),
    "attribute --to-layer": lambda m: cl.attribute(m, "conv4:26", "sample:chelsea", to_layer="conv3", top=3),
    "attribute --curves": lambda m: cl.attribute(m, "conv4:26,63", "sample:chelsea", curves=True, steps=2),
    "tuning radial": lambda m: cl.tuning(m, "conv4:26", orientations=8, curvatures=2, figure="radial"),
    "find-curves": lambda m: cl.find_curves(m, "conv4", orientations=8, radii=2, top=3),
    "equivariance": lambda m: cl.equivariance(m, "conv4:26,63,54,21", "rotate", steps=4),
    "equivariance --discover": lambda m: cl.equivariance(m, "conv2", "flip", discover=True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_result_draws_serialises_and_saves(tmp_path, model, name):
    result = CALLS[name](model)
    result.save(tmp_path / "r.png", scale=0.5)
    assert Image.open(tmp_path / "r.png").width > 20
    result.save(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["model"] == "bundled" and data["command"] == result.request.command
    on_the_command_line = {k: v for k, v in vars(result.request).items() if k != "pixels"}  # GUI-only pixels
    assert data["request"] == json.loads(json.dumps(on_the_command_line, default=list))


def test_activations_save_one_array_per_layer(tmp_path, model):
    result = cl.activations(model, "sample:chelsea", layers=["conv4"], pre_relu=True)
    result.save(tmp_path / "a.npz")
    assert list(np.load(tmp_path / "a.npz")) == ["conv4_pre_relu"]


def test_the_kind_of_result_follows_the_request(model):
    assert isinstance(cl.weights(model, "conv1"), FiltersResult)
    assert isinstance(cl.equivariance(model, "conv2", "flip", discover=True), DiscoverResult)


def test_an_image_in_memory_runs_but_stays_out_of_the_json_and_the_command_line(tmp_path, model):
    from circuitloupe.core.samples import load_sample
    from circuitloupe.tasks import AttributeRequest, TaskContext, run
    from circuitloupe.tasks.base import uses_memory

    pixels = load_sample("chelsea")
    request = AttributeRequest("conv4:26", "pasted image", method="saliency", pixels=pixels)
    result = run(TaskContext(model), request)
    on_disk = run(TaskContext(model), AttributeRequest("conv4:26", "sample:chelsea", method="saliency"))
    assert np.array_equal(result.details.map, on_disk.details.map)
    assert uses_memory(request) and not uses_memory(on_disk.request)
    assert "pixels" not in result.to_json()["request"] and "pixels" not in " ".join(request.to_argv())
