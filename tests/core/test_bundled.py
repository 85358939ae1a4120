"""The bundled model: loads offline, matches its model card, and has a curve-detector family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuitloupe.core import curve_finder, tuning
from circuitloupe.core.models import load_model, zoo
from circuitloupe.core.models.bundled import card_data
from circuitloupe.core.resources import resource_path


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


def test_zoo_entry_is_offline_and_available():
    entry = zoo.find_entry("bundled")
    assert entry.offline and entry.default_weights_available()
    names = [e.name for e in zoo.entries()]
    # offline fallbacks after InceptionV1: the real ImageNet networks first, then the bundled model
    assert names[:4] == ["inceptionv1", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert names[4] == "bundled" and zoo.default_model_spec() in ("inceptionv1", "efficientnet_lite0")


def test_architecture_and_metadata(bundled):
    assert bundled.input_size == (64, 64) and bundled.in_channels == 3
    assert sum(p.numel() for p in bundled.net.parameters()) < 300_000
    names = bundled.catalogue.names()
    for i in range(1, 5):
        assert f"conv{i}" in names and bundled.catalogue.pre_relu_of(f"conv{i}") == f"conv{i}_pre_relu"
    assert len(bundled.class_labels) == 20 and bundled.class_labels[0] == "curve 0°"
    assert bundled.weights_id.startswith("bundled:")


def test_random_weights_are_seeded(bundled):
    a, b = load_model("bundled", "random:3"), load_model("bundled", "random:3")
    assert a.weights_id == "random:3"
    assert torch.equal(a.net.conv1.weight, b.net.conv1.weight)
    assert not torch.equal(a.net.conv1.weight, bundled.net.conv1.weight)


def test_heldout_accuracy_matches_the_model_card(bundled):
    from circuitloupe.train_bundled import accuracy, heldout_set

    claimed = card_data()["heldout"]
    # A fresh set (another seed, half the size): sampling error ~0.6 points at 96%.
    images, labels = heldout_set(claimed["n"] // 2, claimed["seed"] + 1)
    measured = accuracy(bundled, images, labels)
    assert abs(measured - claimed["accuracy"]) <= 2.0
    card = resource_path("models", "bundled_MODEL_CARD.md").read_text()
    assert f"{claimed['accuracy']:.1f}%" in card


def test_curve_family_spreads_around_the_circle(bundled):
    family = card_data()["families"]["curve detectors"]
    layer = family[0].split(":")[0]
    found = [s.channel for s in curve_finder.find_curves(bundled, layer, top=13).family]
    assert len(found) >= 4
    results = tuning.family_radial_tuning(bundled, [f"{layer}:{c}" for c in found], orientations=72,
                                          curvatures=5, pre_relu=False)
    preferred = np.sort([r.preferred for r in results])
    gaps = np.diff(np.append(preferred, preferred[0] + 360))
    assert gaps.max() <= 150, preferred  # no empty stretch of the circle wider than 150 degrees
    assert len({int(p // 90) for p in preferred}) >= 3  # at least three quadrants covered
