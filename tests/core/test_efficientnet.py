"""EfficientNet-Lite0: packaged weights load strictly, TF padding, layer names, activations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from circuitloupe.core.activations import capture, forward_until, unit_values
from circuitloupe.core.errors import ImageError
from circuitloupe.core.imagenet import imagenet_classes
from circuitloupe.core.models import load_model, weights_io, zoo
from circuitloupe.core.models import efficientnet_entry as entry
from circuitloupe.core.models.efficientnet_lite import EfficientNetLite, SameConv2d
from circuitloupe.core.samples import load_image_or_sample, load_sample, sample_names
from circuitloupe.core.units import UnitRef


@pytest.fixture
def lite(efficientnet):
    return efficientnet


def test_packaged_state_dict_loads_strictly_with_weights_only():
    path = entry.packaged_weights_path()
    assert path is not None and path.is_file()
    state = weights_io.read_state_dict(path)  # torch.load(..., weights_only=True)
    net = EfficientNetLite(0)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    parameters = sum(p.numel() for p in net.parameters())
    assert parameters == 4_652_008  # 4.65 M (the "4.69 M" quoted for Lite0 counts BN statistics too)
    assert "_blocks.0._depthwise_conv.weight" in state and "_blocks.0._expand_conv.weight" not in state


def test_same_padding_matches_tensorflow():
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    x = torch.randn(1, 1, 224, 224)
    # TF SAME, even input, stride 2, kernel 3: one extra row/column at the bottom/right only
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    assert conv(x).shape == (1, 1, 112, 112)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    conv5 = SameConv2d(1, 1, 5, bias=False)
    assert torch.allclose(conv5(x), F.conv2d(x, conv5.weight, padding=2), atol=1e-5)


def test_entry_is_offline_and_default_without_inception_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # no cached InceptionV1
    names = [e.name for e in zoo.entries()]
    assert names.index("efficientnet_lite0") == names.index("inceptionv1") + 1
    found = zoo.find_entry("efficientnet_lite0")
    assert found.offline and found.default_weights_available()
    assert zoo.default_model_spec() == "efficientnet_lite0"


def test_catalogue_names_shapes_and_groups(lite):
    catalogue = lite.catalogue
    blocks = [f"block{i}" for i in range(1, 17)]
    top = [info.name for info in catalogue if info.group is None and not info.is_pre_relu]
    assert top == ["stem", *blocks, "head", "pool", "logits"]
    shapes = {"stem": (32, 112, 112), "block1": (16, 112, 112), "block3": (24, 56, 56), "block5": (40, 28, 28),
              "block5_expand": (240, 28, 28), "block6_depthwise": (240, 14, 14), "block8": (80, 14, 14),
              "block11": (112, 14, 14), "block15": (192, 7, 7), "block16": (320, 7, 7), "head": (1280, 7, 7),
              "pool": (1280, 1, 1), "logits": (1000, 1, 1)}
    for name, shape in shapes.items():
        assert catalogue.layer(name).shape == shape, name
    assert "block1_expand" not in catalogue  # block1 has no expansion
    assert catalogue.layer("block4_expand").group == "block4"
    assert catalogue.pre_relu_of("block4_depthwise") == "block4_depthwise_pre_relu"
    assert catalogue.pre_relu_of("stem") == "stem_pre_relu" and catalogue.pre_relu_of("block4") is None
    assert lite.class_labels[285] == "Egyptian cat" and len(lite.class_labels) == 1000


def test_activations_like_any_model(lite):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # any size works
    found = forward_until(lite, x, ["block4_expand", "block4_expand_pre_relu", "block4", "stem"])
    assert torch.equal(found["block4_expand"], found["block4_expand_pre_relu"].clamp(0, 6))  # ReLU6
    with torch.no_grad():
        logits = lite.forward(x)
    assert torch.allclose(forward_until(lite, x, ["logits"])["logits"], logits)
    arrays = capture(lite, x, ["block5", "pool"])
    assert arrays["block5"].shape == (2, 40, 8, 8) and arrays["pool"].shape == (2, 1280, 1, 1)
    values = unit_values(lite, x, [UnitRef("block5", 3)])
    assert torch.allclose(values[:, 0], torch.as_tensor(arrays["block5"][:, 3, 4, 4]))


def test_seeded_random_weights_are_reproducible():
    a, b = load_model("efficientnet_lite0", "random:3"), load_model("efficientnet_lite0", "random:3")
    assert a.weights_id == "random:3"
    assert torch.equal(a.net._conv_stem.weight, b.net._conv_stem.weight)


def test_imagenet_classes_come_from_a_package():
    classes = imagenet_classes()
    assert len(classes) == 1000 and classes[0] == "tench" and classes[967] == "espresso"


def test_sample_images():
    assert sample_names()[:4] == ["chelsea", "coffee", "astronaut", "rocket"]
    cat = load_sample("chelsea")
    assert cat.shape == (300, 451, 3) and cat.dtype.name == "float32" and 0 <= cat.min() < cat.max() <= 1
    camera = load_image_or_sample("sample:camera")
    assert camera.shape == (512, 512, 3) and (camera[..., 0] == camera[..., 2]).all()
    assert load_image_or_sample("sample:coffee", channels=1).shape == (400, 600, 1)
    with pytest.raises(ImageError, match="no sample image 'dog'"):
        load_sample("dog")


@pytest.mark.parametrize("variant,blocks,parameters,size", [(1, 21, 5_416_680, 240), (2, 21, 6_092_072, 260)])
def test_lite1_and_lite2_load_strictly_and_see_the_cat(variant, blocks, parameters, size):
    path = entry.packaged_weights_path(variant)
    assert path is not None and path.is_file()
    model = load_model(f"efficientnet_lite{variant}")  # strict load of the packaged state dict
    assert len(model.net._blocks) == blocks and model.input_size == (size, size)
    assert sum(p.numel() for p in model.net.parameters()) == parameters
    assert model.curve_layer in model.catalogue.names()
    image = torch.as_tensor(load_sample("chelsea")).permute(2, 0, 1)[None].float()
    image = F.interpolate(image, size=model.input_size, mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        assert int(model.forward(image).argmax()) == 285  # Egyptian cat
