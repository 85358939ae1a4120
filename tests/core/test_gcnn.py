"""p4 group convolutions and the rot-MNIST P4CNN family: equivariance, checkpoints, parameter counts."""

from __future__ import annotations

import hashlib

import pytest
import torch
from support import REFERENCE

from circuitloupe.core.models import gcnn, load_model, weights_io
from circuitloupe.core.models.gcnn_entry import CHECKPOINTS, checkpoint_path

CHECKPOINT_DIR = REFERENCE / "att_gconvs_rotmnist"
PARAMETERS = {"p4cnn": 24_610, "a_p4cnn": 73_130, "fa_p4cnn": 29_462, "z2cnn": 21_620}
KEY_TABLES = {"p4cnn": "p4cnn", "a_p4cnn": "att_p4cnn", "fa_p4cnn": "f_att_p4cnn", "z2cnn": "z2cnn"}
# SHA-256 of the authors' checkpoints (att-gconvs repository, rot-MNIST experiments).
AUTHORS_SHA256 = {
    "p4cnn": "439be1f9595778d9153b007d1585fe2af3e56c2b2733b487be4f0483870a862d",
    "a_p4cnn": "702ae48336a3884f0f57982de4ab0bb068dbfa432816f5004398431ef561ad2f",
    "fa_p4cnn": "cfb1f8db988af82a90c9b2076712de86e01f82ab183f4a9a6e4f57378ba4e1f1",
    "z2cnn": "28e881ca24165ecea911bda1f4e37d01fdffd37b9b8e49ec95a7e1fe13fdeb2c",
}


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def key_table(name: str) -> dict[str, tuple[int, ...]]:
    rows = (CHECKPOINT_DIR / f"{name}.keys.tsv").read_text().splitlines()[1:]
    table = {}
    for row in filter(None, rows):
        key, shape = row.split("\t")
        table[key] = () if shape == "scalar" else tuple(int(n) for n in shape.split("x"))
    return table


@pytest.fixture(scope="module")
def models():
    return {arch: load_model(arch) for arch in gcnn.ARCHITECTURES}


def seeded_input(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("layer", [gcnn.LiftingConv(3, 5, 3), gcnn.AttLiftingConv(3, 5, 3, ratio=1),
                                   gcnn.FAttLiftingConv(3, 5, 3)], ids=["plain", "alpha", "alphaF"])
def test_lifting_convolutions_are_equivariant_to_90_degree_rotations(layer):
    torch.manual_seed(1)
    x = seeded_input(2, 3, 15, 15)
    with torch.no_grad():
        out, out_rotated = layer(x), layer(torch.rot90(x, 1, dims=(-2, -1)))
    assert out.shape == (2, 5, 4, 13, 13)
    assert rel_err(out_rotated, gcnn.rotate_group(out)) < 1e-6
    assert rel_err(out_rotated, out) > 0.1  # equivariant, not invariant


@pytest.mark.parametrize("layer", [gcnn.GroupConv(4, 6, 3, padding=1), gcnn.AttGroupConv(4, 6, 3, ratio=2),
                                   gcnn.FAttGroupConv(4, 6, 3, ratio=2)], ids=["plain", "alpha", "alphaF"])
def test_group_convolutions_are_equivariant_to_90_degree_rotations(layer):
    torch.manual_seed(2)
    x = seeded_input(2, 4, 4, 12, 12)
    with torch.no_grad():
        for k in (1, 2, 3):
            assert rel_err(layer(gcnn.rotate_group(x, k)), gcnn.rotate_group(layer(x), k)) < 1e-6


def test_group_convolution_multiplies_by_the_haar_measure():
    layer = gcnn.GroupConv(1, 1, 1)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, 0] = 1.0  # picks input rotation r for output rotation r
    x = seeded_input(1, 1, 4, 3, 3)
    assert torch.allclose(layer(x), x * (2 * torch.pi / 4), atol=1e-6)


@pytest.mark.parametrize("arch", gcnn.ARCHITECTURES)
def test_parameter_counts_equal_the_paper(arch):
    assert sum(p.numel() for p in gcnn.build(arch).parameters()) == PARAMETERS[arch]


@pytest.mark.parametrize("arch", gcnn.ARCHITECTURES)
def test_state_dict_matches_the_authors_key_table_and_checkpoint_loads_strictly(arch):
    table = key_table(KEY_TABLES[arch])
    ours = {k: tuple(v.shape) for k, v in gcnn.build(arch).state_dict().items()}
    assert ours == table
    state = weights_io.read_state_dict(checkpoint_path(arch))
    net = gcnn.build(arch)
    weights_io.load_into(net, state, CHECKPOINTS[arch])  # strict; raises on any difference
    assert torch.equal(net.c1.weight, state["c1.weight"])


@pytest.mark.parametrize("arch", gcnn.ARCHITECTURES)
def test_shipped_checkpoints_are_the_authors_files(arch):
    shipped = checkpoint_path(arch).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == AUTHORS_SHA256[arch]
    assert (checkpoint_path(arch).parent / "LICENSE").read_text().startswith("MIT License")


def test_p4_logits_are_invariant_to_90_degree_rotations_and_z2cnn_logits_are_not(models):
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    errors = {}
    for arch, model in models.items():
        with torch.no_grad():
            errors[arch] = rel_err(model.forward(torch.rot90(images, 1, dims=(-2, -1))), model.forward(images))
    assert errors["p4cnn"] < 1e-4 and errors["a_p4cnn"] < 1e-4 and errors["fa_p4cnn"] < 1e-4
    assert errors["z2cnn"] > 0.05


def test_models_declare_their_input_and_flattened_group_layers(models):
    model = models["p4cnn"]
    assert model.in_channels == 1 and model.input_size == (28, 28)
    assert model.class_labels == [str(d) for d in range(10)]
    assert model.preprocessing.mean == (0.1307,) and model.preprocessing.std == (0.3081,)
    catalogue = model.catalogue
    assert catalogue.layer("c2").shape == (40, 24, 24)
    assert catalogue.layer("c7").shape == (40, 1, 1)
    assert catalogue.layer("logits").shape == (10, 1, 1)
    assert catalogue.layer("c1").has_pre_relu
    assert models["z2cnn"].catalogue.layer("c2").shape == (20, 24, 24)
    assert model.families["c2 channel 0 at 0/90/180/270°"] == ["c2:0", "c2:1", "c2:2", "c2:3"]
    assert "attention_maps" in models["a_p4cnn"].extras and "attention_maps" in models["fa_p4cnn"].extras
    assert "attention_maps" not in model.extras and "attention_maps" not in models["z2cnn"].extras


def test_unit_c_times_4_plus_r_is_channel_c_at_rotation_r(models):
    from circuitloupe.core.activations import forward_until

    model = models["p4cnn"]
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    maps = forward_until(model, images, ["c3"])["c3"]
    rotated = forward_until(model, torch.rot90(images, 1, dims=(-2, -1)), ["c3"])["c3"]
    # Rotating the input moves unit c*4+r to c*4+(r+1)%4, its map rotated by 90 degrees.
    expected = gcnn.rotate_group(maps.unflatten(1, (-1, 4))).flatten(1, 2)
    assert rel_err(rotated, expected) < 1e-5


@pytest.mark.parametrize("arch", ["a_p4cnn", "fa_p4cnn"])
def test_attention_maps_rotate_with_the_input(models, arch):
    model = models[arch]
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    maps = gcnn.attention_maps(model.net, model.preprocessing.apply(images))
    rotated = gcnn.attention_maps(model.net, model.preprocessing.apply(torch.rot90(images, 1, dims=(-2, -1))))
    assert set(maps) == {f"c{i}" for i in range(1, 8)}
    for name, value in maps.items():
        assert float(value.min()) >= 0 and float(value.max()) <= 1
        if value.shape[1] == 4:
            assert rel_err(rotated[name], gcnn.rotate_group(value.unsqueeze(1))[:, 0]) < 1e-5
    whole = gcnn.combined_attention(maps, (28, 28))
    whole_rotated = gcnn.combined_attention(rotated, (28, 28))
    assert whole.shape == (2, 28, 28)
    assert rel_err(whole_rotated, torch.rot90(whole, 1, dims=(-2, -1))) < 1e-5
    assert not model.net.c2.spatial_attention._forward_hooks  # hooks removed


def test_networks_without_attention_have_no_attention_maps(models):
    assert gcnn.attention_maps(models["p4cnn"].net, torch.zeros(1, 1, 28, 28)) == {}
