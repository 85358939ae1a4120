"""circuitloupe attribute: overlays, ranked earlier units, curve maps, and readable errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from circuitloupe.cli import main

MODEL = ["--model", "inceptionv1", "--weights", "random:0", "--size", "64"]


@pytest.fixture
def shared_model(monkeypatch, inception):
    """Reuse the session's InceptionV1 (random:0) instead of building it again for every command."""
    from circuitloupe.cli import attribute_cmd

    monkeypatch.setattr(attribute_cmd, "open_model", lambda args: inception)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_integrated_gradients_overlay_and_json(tmp_path, photo, capsys):
    out, npy = tmp_path / "ig.png", tmp_path / "ig.npy"
    code = main(["attribute", "mixed3b:379", photo, *MODEL, "--method", "ig", "--steps", "4", "--batch", "2",
                 "--baseline", "blurred", "--out", str(out), "--npy", str(npy), "--json", "-"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "ig" and data["shape"] == [64, 64] and data["image"] == photo
    assert data["target"].startswith("mixed3b:379")
    assert data["completeness_gap"] is not None
    assert np.load(npy).shape == (64, 64)
    figure = Image.open(out)
    assert figure.width > 3 * 224 and figure.height >= 224


def test_gradcam_for_a_class_in_overlay_mode(tmp_path, photo, capsys, shared_model):
    out = tmp_path / "cam.png"
    assert main(["attribute", "class:3", photo, *MODEL, "--method", "gradcam", "--mode", "overlay",
                 "--out", str(out)]) == 0
    assert "class 3: gradcam at mixed5b" in capsys.readouterr().out
    assert Image.open(out).width < 2 * 224 + 120


def test_direction_over_a_layer(tmp_path, photo, capsys, shared_model):
    vector = np.zeros(256)
    vector[[81, 147]] = [1.0, -0.5]
    np.save(tmp_path / "v.npy", vector)
    assert main(["attribute", "mixed3a", photo, *MODEL, "--direction", str(tmp_path / "v.npy"), "--method",
                 "saliency", "--whole-map", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "direction over mixed3a (whole map)"
    np.save(tmp_path / "short.npy", vector[:10])
    assert main(["attribute", "mixed3a", photo, *MODEL, "--direction", str(tmp_path / "short.npy")]) == 2
    assert "has 10 entries but mixed3a has 256 channels" in capsys.readouterr().err


def test_to_layer_ranks_earlier_units(tmp_path, photo, capsys, shared_model):
    out = tmp_path / "ranked.png"
    code = main(["attribute", "3b:379", photo, *MODEL, "--to-layer", "mixed3b_5x5_bottleneck", "--top", "5",
                 "--json", "-", "--out", str(out)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attributed"] == "mixed3b_5x5_pre_relu:59" and data["source_layer"] == "mixed3b_5x5_bottleneck"
    assert data["residual"] == pytest.approx(0.0, abs=1e-4)
    assert data["sum_of_contributions"] == pytest.approx(data["value"] - data["bias"], abs=1e-4)
    assert 0 < len(data["positive"]) <= 5 and len(data["negative"]) <= 5
    contributions = [row["contribution"] for row in data["positive"]]
    assert contributions == sorted(contributions, reverse=True) and contributions[0] > 0
    assert Image.open(out).height > 150


def test_curve_extraction(tmp_path, photo, capsys, shared_model):
    out = tmp_path / "curves.png"
    assert main(["attribute", "mixed3b:379,406,385", photo, *MODEL, "--curves", "--canny-sigma", "1.5",
                 "--out", str(out), "--json", str(tmp_path / "c.json")]) == 0
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["units"] == ["mixed3b:379", "mixed3b:406", "mixed3b:385"] and data["canny_sigma"] == 1.5
    assert data["method"] == "input_x_gradient" and 0 <= data["agreement_with_canny"] <= 1
    assert Image.open(out).width > 3 * 224


def test_unreadable_image_and_bad_input_give_one_line(tmp_path, photo, capsys, shared_model):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    assert main(["attribute", "mixed3b:379", str(broken), *MODEL, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("circuitloupe: error: cannot read image") and "\n" not in err
    assert not (tmp_path / "x.png").exists()
    assert main(["attribute", "mixed3b:379", str(tmp_path / "missing.jpg"), *MODEL]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["attribute", "mixed3b:9999", photo, *MODEL]) == 2
    assert "channels 0..479" in capsys.readouterr().err
    assert main(["attribute", "mixed3a:3", photo, *MODEL, "--to-layer", "mixed3b"]) == 2
    assert "does not run before" in capsys.readouterr().err
