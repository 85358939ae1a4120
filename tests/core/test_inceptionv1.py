import torch

from circuitloupe.core.activations import forward_until, layer_shapes
from support import read_key_table
from support import REFERENCE

SHAPES_224 = {
    "conv2d0": (64, 112, 112), "maxpool0": (64, 56, 56), "localresponsenorm0": (64, 56, 56),
    "conv2d1": (64, 56, 56), "conv2d2": (192, 56, 56), "maxpool1": (192, 28, 28),
    "mixed3a": (256, 28, 28), "mixed3b": (480, 28, 28), "maxpool4": (480, 14, 14),
    "mixed4a": (508, 14, 14), "mixed4b": (512, 14, 14), "mixed4c": (512, 14, 14), "mixed4d": (528, 14, 14),
    "mixed4e": (832, 14, 14), "maxpool10": (832, 7, 7), "mixed5a": (832, 7, 7), "mixed5b": (1024, 7, 7),
    "softmax2": (1008, 1, 1), "mixed3b_5x5": (96, 28, 28), "mixed3b_5x5_bottleneck": (32, 28, 28),
}


def test_state_dict_keys_and_shapes_equal_reference_table(inception):
    expected = read_key_table(REFERENCE / "inceptionv1_state_dict.tsv")
    actual = {key: tuple(value.shape) for key, value in inception.net.state_dict().items()}
    assert actual == expected
    assert sum(v.numel() for v in inception.net.state_dict().values()) == 7_066_380


def test_shapes_at_every_named_layer_224(inception):
    catalogue = inception.catalogue
    for name, shape in SHAPES_224.items():
        assert catalogue.layer(name).shape == shape, name
    shapes = layer_shapes(inception, (224, 224))
    assert all(shapes[info.name] == info.shape for info in catalogue)


def test_shapes_at_128(inception):
    shapes = layer_shapes(inception, (128, 128))
    assert shapes["conv2d0"] == (64, 64, 64)
    assert shapes["mixed3b"] == (480, 16, 16)
    assert shapes["mixed4a"] == (508, 8, 8)
    assert shapes["mixed5b"] == (1024, 4, 4)
    assert shapes["softmax2"] == (1008, 1, 1)


def test_pre_relu_concatenation_matches_post_relu(inception):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    found = forward_until(inception, x, ["mixed3b", "mixed3b_pre_relu", "mixed3b_5x5", "mixed3b_5x5_pre_relu"])
    assert torch.equal(found["mixed3b"], found["mixed3b_pre_relu"].clamp(min=0))
    assert torch.equal(found["mixed3b"][:, 320:416], found["mixed3b_5x5"])
    assert torch.equal(found["mixed3b_5x5"], found["mixed3b_5x5_pre_relu"].clamp(min=0))


def test_lrn_matches_tensorflow_formula(inception):
    x = torch.randn(1, 16, 3, 3)
    out = inception.net.localresponsenorm0(x)
    squares = torch.nn.functional.pad(x.pow(2), (0, 0, 0, 0, 5, 5))
    window = torch.stack([squares[:, c:c + 11].sum(1) for c in range(16)], dim=1)
    expected = x / (2 + 1e-4 * window) ** 0.5
    assert torch.allclose(out, expected, atol=1e-6)


def test_first_pool_pads_with_minus_infinity(inception):
    x = -torch.ones(1, 1, 4, 4)
    assert inception.net.maxpool0(x).max().item() == -1.0
