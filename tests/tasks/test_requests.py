"""Requests and the CLI agree: every Request survives to_argv -> argparse -> from_args, and the
notebook API runs the same task as the CLI."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import circuitloupe as cl
from circuitloupe.cli import build_parser, main
from circuitloupe.core.errors import UserError
from circuitloupe.tasks import (REQUESTS, AblateRequest, ActivationsRequest, AtlasBuildRequest, AtlasExportRequest,
                                AtlasQueryRequest, AttributeRequest, CircuitRequest, CompareModelsRequest,
                                EquivarianceRequest, ExpandedRequest, FactorsRequest, FeatvisRequest, FindCurvesRequest,
                                HandwrittenRequest, LabelStatsRequest, OutputsRequest, PolysemanticityRequest,
                                PredictRequest, ScanRequest, TuningRequest, WeightsRequest)

HERE = str(Path(__file__).parent)  # an existing folder, for folder arguments

# One request with non-default values per task, and the arguments its command also needs.
EXAMPLES = {
    "featvis": (FeatvisRequest(units=("conv4:26", "conv4:3"), steps=3, size=32, seed=2, diversity=2,
                               no_transforms=True, param="pixel", objective="neuron"),
                ["--model", "bundled", "--out", "x.png"]),
    "activations": (ActivationsRequest(images=("a.png", "sample:chelsea"), layers=("conv1", "conv2"), pre_relu=True),
                    ["--model", "bundled", "--out", "a.npz"]),
    "predict": (PredictRequest(images=("sample:coffee",), top=3), ["--model", "bundled"]),
    "weights": (WeightsRequest(layer="conv1", shared_scale=True, columns=4, input_channel=2),
                ["--model", "bundled", "--out", "w.png"]),
    "expanded": (ExpandedRequest(src_layer="conv3", unit="conv4:26", top=3, method="gradient",
                                 render_thumbnails=True), ["--model", "bundled", "--out", "e.png"]),
    "circuit": (CircuitRequest(src_units="conv3:1,2", dst_units="conv4:26 , 3", magnitude=True,
                               render_thumbnails=True), ["--model", "bundled", "--out", "c.png"]),
    "attribute": (AttributeRequest(unit="conv4:26", image="sample:chelsea", method="saliency", whole_map=True,
                                   position="max", baseline="noise", steps=4, batch=2, blur_sigma=3.5, seed=1,
                                   layer="conv3", size=64, top=4, post_relu=True, canny_sigma=1.5, canny_low=0.1,
                                   canny_high=0.2, curve_threshold=0.5, absolute=True, opacity=0.25, clip=98.0,
                                   mode="overlay", direction="d.npy"),
                  ["--model", "bundled", "--out", "a.png"]),
    "tuning": (TuningRequest(units=("conv4:26,3",), family="curves", stimulus="angle", orientations=12,
                             curvatures=3, post_relu=True, figure="joint", step=15.0, fg="red", bg="0.25",
                             invert=True, stroke_width=2.5, filled=True, texture=True), ["--model", "bundled"]),
    "find-curves": (FindCurvesRequest(layer="conv4", top=4, orientations=12, radii=3, min_selectivity=0.5,
                                      min_sigma=1.0, min_curve_vs_line=0.5), ["--model", "bundled"]),
    "equivariance": (EquivarianceRequest(units="conv4:1,2,3", transform="flip", steps=2, stimuli="featurevis",
                                         reduce="max", hole_threshold=0.5, weights_to="conv5:1,2",
                                         attention="sample:chelsea"), ["--model", "bundled", "--json", "-"]),
    "scan": (ScanRequest(target="conv4:26", folder="photos", view="top", top=4, size=64, resize="crop",
                         batch_size=4, workers=0, whole_layer=True, rescan=True, attributions=True), ["--model", "bundled"]),
    "label stats": (LabelStatsRequest(session="s.labels", labeller="ann", view="density"), []),
    "compare-models": (CompareModelsRequest(models=("bundled", "efficientnet_lite1"), layers=("conv4", "block9_depthwise"),
                                            top=4, orientations=12, radii=2, min_correlation=0.5, max_offset=20.0),
                       ["--out", "x.png"]),
    "ablate": (AblateRequest(edits=("conv4:3", "conv4:5", "conv3:1->conv4:2"), images=HERE, scale=0.5,
                             family="curve detectors", batch_size=4), ["--model", "bundled", "--json", "x.json"]),
    "factors": (FactorsRequest(layer="conv3", folder=HERE, k=3, to="conv4", seed=1, steps=8, size=32, examples=2),
                ["--model", "bundled", "--json", "x.json"]),
    "outputs": (OutputsRequest(unit="conv3:5", layer="conv4", top=3, render_thumbnails=True), ["--model", "bundled"]),
    "handwritten": (HandwrittenRequest(layer="conv4", earlier="conv3", units=4, min_selectivity=0.3, images=HERE),
                    ["--model", "bundled", "--out", "x.png"]),
    "polysemanticity": (PolysemanticityRequest(unit="conv4:26", images=HERE, diverse=3, examples=8, size=32, steps=4),
                        ["--model", "bundled", "--json", "x.json"]),
    "atlas build": (AtlasBuildRequest(images="imgs", out="atlas", layers=("conv3", "conv4"), top=4, bins=20,
                                      reservoir=8, seed=3, batch_size=5, workers=0, size=48, resize="crop",
                                      checkpoint_every=10, featvis=True, featvis_size=32, featvis_steps=4),
                    ["--model", "bundled"]),
    "atlas query": (AtlasQueryRequest(atlas="atlas", unit="conv3:1"), ["--json", "-"]),
    "atlas export": (AtlasExportRequest(atlas="atlas", html="site"), []),
}


def test_every_task_has_an_example():
    assert set(EXAMPLES) == set(REQUESTS)


@pytest.mark.parametrize("command", sorted(REQUESTS))
def test_request_survives_the_command_line(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the files and folders the examples name exist here
    for name in ("a.png", "d.npy", "s.labels"):
        (tmp_path / name).write_bytes(b"x")
    for folder in ("photos", "imgs", "atlas"):
        (tmp_path / folder).mkdir()
    request, extra = EXAMPLES[command]
    args = build_parser().parse_args([*request.to_argv(), *extra])
    assert type(request).from_args(args) == request


def test_defaults_are_left_out_of_the_command_line():
    assert FeatvisRequest(units=("conv4:26",)).to_argv() == ["featvis", "conv4:26"]
    assert WeightsRequest().to_argv() == ["weights"]
    # A required option is written even when it has its usual value.
    assert EquivarianceRequest(units="conv4:1,2", transform="rotate").to_argv() == [
        "equivariance", "conv4:1,2", "--transform", "rotate"]


def test_two_word_commands_name_notebook_functions():
    assert AtlasQueryRequest(atlas="a", unit="conv3:1").to_argv() == ["atlas", "query", "a", "conv3:1"]
    assert cl.atlas_build.__name__ == "atlas_build" and list(inspect.signature(cl.atlas_query).parameters)[:3] == [
        "model", "atlas", "unit"]


def test_unit_spellings_are_made_canonical():
    assert FeatvisRequest(units=("conv4:26,3",)).units == ("conv4:26", "conv4:3")


@pytest.mark.parametrize("bad", [dict(size=1), dict(steps=-1), dict(diversity=0), dict(objective="x"),
                                 dict(units=("conv4",))])
def test_bad_parameters_are_one_line_errors(bad):
    with pytest.raises(UserError):
        FeatvisRequest(**{"units": ("conv4:26",), **bad})


def test_notebook_api_equals_the_command_line(tmp_path):
    model = cl.load("bundled")
    result = cl.featvis(model, "conv4:26", steps=4, size=32, no_cache=True)
    assert result.request == FeatvisRequest(units=("conv4:26",), steps=4, size=32, no_cache=True)
    assert result._repr_png_().startswith(b"\x89PNG")
    result.save(tmp_path / "api.png")
    result.save(tmp_path / "api.json")
    assert main(["featvis", "conv4:26", "--steps", "4", "--size", "32", "--no-cache",
                 "--model", "bundled", "--out", str(tmp_path / "cli.png"), "--json", str(tmp_path / "cli.json")]) == 0
    assert (tmp_path / "api.png").read_bytes() == (tmp_path / "cli.png").read_bytes()
    api, cli = json.loads((tmp_path / "api.json").read_text()), json.loads((tmp_path / "cli.json").read_text())
    assert [u["images"][0]["activation"] for u in api["units"]] == [u["images"][0]["activation"] for u in cli["units"]]
