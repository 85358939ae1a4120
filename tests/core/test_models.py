"""The zoo: custom file.py:factory models, torchvision classifiers, errors for unknown names."""

from __future__ import annotations

import textwrap

import pytest
import torch

from circuitloupe.core.activations import capture, forward_until
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import load_model, zoo

FACTORY = textwrap.dedent('''
    import torch
    from torch import nn

    def build():
        net = nn.Sequential()
        net.add_module("conv", nn.Conv2d(1, 4, 3, padding=1))
        net.add_module("relu", nn.ReLU())
        net.add_module("pool", nn.AdaptiveAvgPool2d(1))
        net.add_module("flat", nn.Flatten())
        net.add_module("fc", nn.Linear(4, 2))
        meta = {"input_size": 32, "in_channels": 1, "value_range": (-1, 1),
                "layer_names": {"edges": "conv", "edges_relu": "relu", "logits": "fc"},
                "class_labels": ["no", "yes"]}
        return net, meta

    def plain():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())

    def not_a_module():
        return 42
''')


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(FACTORY)
    return path


def test_custom_model_with_metadata(factory_file):
    model = load_model(f"{factory_file}:build")
    assert model.input_size == (32, 32) and model.in_channels == 1
    assert model.class_labels == ["no", "yes"]
    assert model.catalogue.names() == ["edges", "edges_relu", "logits"]
    assert model.catalogue.layer("edges").shape == (4, 32, 32)
    assert model.catalogue.layer("logits").shape == (2, 1, 1)
    # value_range (-1, 1): an all-ones image reaches the network as all ones, zeros as -1
    x = torch.zeros(1, 1, 32, 32)
    first = model.net.conv
    expected = first(torch.full_like(x, -1.0))
    assert torch.allclose(forward_until(model, x, ["edges"])["edges"], expected)


def test_custom_model_plain_module_and_random_weights(factory_file):
    model = load_model(f"{factory_file}:plain", "random:1")
    again = load_model(f"{factory_file}:plain", "random:1")
    assert torch.equal(model.net[0].weight, again.net[0].weight)
    assert capture(model, torch.rand(1, 3, 224, 224), ["0"])["0"].shape == (1, 8, 222, 222)


@pytest.mark.parametrize("spec, message", [
    ("missing.py:build", "does not exist"),
    ("{dir}/tiny.py:nothing", "has no callable 'nothing'"),
    ("{dir}/tiny.py:not_a_module", "not a torch nn.Module"),
])
def test_custom_model_errors(factory_file, spec, message):
    with pytest.raises(UserError, match=message):
        load_model(spec.format(dir=factory_file.parent))


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(UserError, match="did you mean inceptionv1"):
        load_model("inceptionv2")


def test_torchvision_classifier_with_its_preprocessing_and_labels():
    model = load_model("alexnet", "random:0")
    assert model.input_size == (224, 224)
    assert model.preprocessing.mean == pytest.approx((0.485, 0.456, 0.406))
    assert len(model.class_labels) == 1000 and model.class_labels[0] == "tench"
    catalogue = model.catalogue
    assert catalogue.layer("features.0").shape == (64, 55, 55)
    assert catalogue.layer("classifier.6").shape == (1000, 1, 1)
    assert "features.3" in catalogue


def test_zoo_lists_entries_and_torchvision_names():
    names = [entry.name for entry in zoo.entries()]
    assert names[0] == "inceptionv1"
    assert {"googlenet", "alexnet", "vgg16", "resnet50"} <= set(zoo.torchvision_names())


def test_truncated_forward_equals_full_forward_at_every_block(inception):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    for layer in ("conv2d2", "mixed3a", "mixed3b", "mixed4c", "mixed5b"):
        short = forward_until(inception, x, [layer])[layer]
        full = forward_until(inception, x, [layer], truncate=False)[layer]
        assert torch.equal(short, full), layer


def test_hooks_never_survive_a_call(inception):
    def hook_count():
        return sum(len(m._forward_hooks) for m in inception.net.modules())

    forward_until(inception, torch.rand(1, 3, 96, 96), ["mixed3b", "conv2d0"])
    assert hook_count() == 0
    with pytest.raises(RuntimeError):
        forward_until(inception, torch.rand(1, 5, 96, 96), ["mixed3b"])
    assert hook_count() == 0


def test_captured_values_are_clones(inception):
    x = torch.rand(1, 3, 96, 96)
    found = forward_until(inception, x, ["conv2d0_pre_relu", "conv2d0"])
    assert found["conv2d0_pre_relu"].min() < 0 <= found["conv2d0"].min()


def test_editing_a_custom_model_file_gives_new_cache_keys(factory_file):
    from circuitloupe.core.featurevis.cache import model_dir

    before = load_model(f"{factory_file}:plain", "random:1")
    factory_file.write_text(FACTORY.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, padding=1)"))
    after = load_model(f"{factory_file}:plain", "random:1")
    assert before.is_random and after.is_random
    assert before.weights_id != after.weights_id and model_dir(before) != model_dir(after)
