"""Expanded weights, bottleneck products, first-layer filters and circuit grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core import weights as W
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel
from circuitloupe.core.units import UnitRef


class TwoLayer(nn.Module):
    """conv a (2 -> 3, 3x3) -> ReLU -> conv b (3 -> 4, 3x3) -> ReLU -> conv c (4 -> 2, 3x3)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.a_relu = nn.ReLU()
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.b_relu = nn.ReLU()
        self.c = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        return self.c(self.b_relu(self.b(self.a_relu(self.a(x)))))


@pytest.fixture(scope="module")
def two_layer() -> LoadedModel:
    net = TwoLayer()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for param in net.parameters():  # small integers: every sum below is exact in float32
            param.copy_(torch.randint(-3, 4, param.shape, generator=generator).float())
    points = {name: getattr(net, name) for name in ("a", "a_relu", "b", "b_relu", "c")}
    return LoadedModel("two-layer", net, (11, 11), UNIT_RANGE, points, "test", "integer weights", in_channels=2)


def test_two_layer_expanded_weights_equal_the_product_of_weight_matrices(two_layer):
    wb = two_layer.net.b.weight.numpy().astype(np.float64)  # [4, 3, 3, 3]
    wc = two_layer.net.c.weight.numpy().astype(np.float64)  # [2, 4, 3, 3]
    for out in range(2):
        # z(p) = sum_{b,v} Wc[o,b,v] y_b(p+v-1), y_b(q) = sum_{a,u} Wb[b,a,u] x_a(q+u-1) -> offset u+v
        expected = np.zeros((3, 5, 5))
        for u in np.ndindex(3, 3):
            for v in np.ndindex(3, 3):
                expected[:, u[0] + v[0], u[1] + v[1]] += np.einsum("b,ba->a", wc[out, :, v[0], v[1]],
                                                                   wb[:, :, u[0], u[1]])
        got = W.expanded_weights(two_layer, f"c:{out}", "a_relu")
        assert got.shape == (3, 5, 5) and got.dtype == np.float32
        assert np.array_equal(got, expected.astype(np.float32))
    # One layer back is the conv's own weights.
    assert np.array_equal(W.expanded_weights(two_layer, "c:1", "b_relu"), wc[1].astype(np.float32))


def test_linearised_copy_swaps_nonlinearities_and_leaves_the_model_alone(two_layer):
    linear = W.linearised_copy(two_layer)
    assert isinstance(linear.hook_points["a_relu"], nn.Identity)
    assert isinstance(two_layer.hook_points["a_relu"], nn.ReLU)
    assert linear.hook_points["c"] is linear.net.c and linear.net.c is not two_layer.net.c
    assert W.linearised_copy(two_layer) is linear  # cached


def test_bottleneck_product_matches_linearised_gradient_on_inceptionv1(inception):
    units = [UnitRef("mixed3b", 379), UnitRef("mixed3b", 342), UnitRef("mixed3b", 323)]
    product = np.stack([W.bottleneck_product(inception, u, "mixed3a") for u in units])
    gradient = W.gradient_weights(inception, units, "mixed3a")
    assert product.shape == gradient.shape == (3, 256, 5, 5)
    np.testing.assert_allclose(gradient, product, rtol=1e-4, atol=1e-7)
    # mixed3b:379 is channel 59 of the 5x5 branch: its 5x5 conv times the 5x5 bottleneck.
    conv = inception.net.mixed3b_5x5_pre_relu_conv.weight[59].double()
    bottleneck = inception.net.mixed3b_5x5_bottleneck_pre_relu_conv.weight[:, :, 0, 0].double()
    by_hand = torch.einsum("bij,bc->cij", conv, bottleneck).float().numpy()
    np.testing.assert_allclose(product[0], by_hand, rtol=1e-6, atol=1e-9)


def test_top_inputs_and_top_outputs_rank_by_expanded_weight_norm(inception):
    weights = W.expanded_weights(inception, "mixed3b:379", "mixed3a")
    top = W.top_inputs(inception, "mixed3b:379", "mixed3a", 5)
    norms = np.linalg.norm(weights.reshape(256, -1), axis=1)
    assert [u.channel for u, _ in top] == list(np.argsort(-norms)[:5])
    assert top[0][1] == pytest.approx(norms.max(), rel=1e-5)
    # Outputs by impulse response agree with the gradient method's kernel norm for that pair.
    outputs = W.output_norms(inception, "mixed3a:81", "mixed3b")
    assert outputs.shape == (480,)
    assert outputs[379] == pytest.approx(float(np.linalg.norm(weights[81])), rel=1e-4)
    ranked = W.top_outputs(inception, "mixed3a:81", "mixed3b", 3)
    assert ranked[0][1] == pytest.approx(outputs.max(), rel=1e-6)


def test_circuit_weights_rows_are_later_units(inception):
    src = [UnitRef("mixed3a", c) for c in (81, 147)]
    dst = [UnitRef("mixed3b", c) for c in (342, 385, 379)]
    grid = W.circuit_weights(inception, src, dst)
    assert grid.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(grid[2, 0], W.expanded_weights(inception, "mixed3b:379", "mixed3a")[81])
    image = W.circuit_figure(grid, src, dst, scale=0.5)
    assert image.width > image.height / 2 and image.mode == "RGB"
    assert W.circuit_figure(grid, src, dst, magnitude=True).size == W.circuit_figure(grid, src, dst).size


def test_expanded_weights_need_an_earlier_layer(inception):
    with pytest.raises(UserError, match="does not come before"):
        W.expanded_weights(inception, "mixed3a:1", "mixed3b")
    with pytest.raises(UserError, match="does not apply"):
        W.bottleneck_product(inception, "mixed3b:379", "conv2d2")


def test_first_layer_rgb_grid_has_one_tile_per_filter(inception):
    filters = W.first_layer_filters(inception)
    assert filters.shape == (64, 7, 7, 3)
    assert np.array_equal(W.first_layer_filters(inception, "conv2d0"), filters)
    image = W.filter_grid_figure(filters, tile_size=20, columns=8)
    # 8 columns x 8 rows of 20 px tiles, 4 px gaps, 14 px labels
    assert image.size == (8 * 24 + 4, 8 * (20 + 14 + 4) + 4)
    pixels = np.asarray(image)
    tiles = [pixels[4 + r * 38:4 + r * 38 + 20, 4 + c * 24:4 + c * 24 + 20] for r in range(8) for c in range(8)]
    assert sum(int(t.std() > 0) for t in tiles) == 64
    with pytest.raises(UserError, match="3 input channels"):
        W.first_layer_filters(inception, "conv2d2")


# ---------------------------------------------------------------------------------------------
# Rotated copies of p4 group filters (P4CNN's shipped checkpoint)

@pytest.fixture(scope="module")
def p4cnn() -> LoadedModel:
    from circuitloupe.core.models import load_model

    return load_model("p4cnn")


def _rot(array: np.ndarray, r: int) -> np.ndarray:
    return np.rot90(array, r, axes=(-2, -1))


def test_rotated_copies_are_exact_rotations_of_the_first(p4cnn):
    assert W.group_layers(p4cnn)[:3] == ["c1", "c2", "pool2"] and W.is_group_layer(p4cnn, "c3_pre_relu")
    lifting = W.rotated_filter_copies(p4cnn, "c1")
    assert lifting.shape == (10, 4, 1, 3, 3)
    assert np.array_equal(lifting[:, 0, 0], p4cnn.net.c1.weight.detach().numpy()[:, 0])
    for r in range(4):
        assert np.array_equal(lifting[:, r], _rot(lifting[:, 0], r))
    for layer, k in (("c2", 3), ("c7", 4)):
        kernels = W.rotated_kernels(p4cnn, layer)  # [C_out, 4, C_in, 4 input rotations, k, k]
        assert kernels.shape == (10, 4, 10, 4, k, k)
        assert np.array_equal(kernels[:, 0], getattr(p4cnn.net, layer).weight.detach().numpy())
        for r in range(4):
            assert np.array_equal(kernels[:, r], np.roll(_rot(kernels[:, 0], r), r, axis=2))
        for channel in (None, 7):  # sum over input channels, one input channel: [C_out, 4, 4, k, k]
            copies = W.rotated_filter_copies(p4cnn, layer, channel)
            for r in range(4):
                assert np.array_equal(copies[:, r], np.roll(_rot(copies[:, 0], r), r, axis=1))
    assert np.array_equal(W.rotated_filter_copies(p4cnn, "c2", 7), W.rotated_kernels(p4cnn, "c2")[:, :, 7])


def test_rotated_copies_are_the_kernels_the_layers_apply(p4cnn):
    import torch.nn.functional as F

    from circuitloupe.core.models import gcnn

    x = torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(0))
    lifting = torch.from_numpy(W.rotated_kernels(p4cnn, "c1"))[:, :, :, 0]  # [C_out, 4, C_in, k, k]
    group_x = torch.randn(2, 10, 4, 9, 9, generator=torch.Generator().manual_seed(1))
    kernels = torch.from_numpy(W.rotated_kernels(p4cnn, "c2")).flatten(2, 3)  # [C_out, 4, C_in * 4, k, k]
    with torch.no_grad():
        lifted, grouped = p4cnn.net.c1(x), p4cnn.net.c2(group_x)
        for r in range(4):
            assert torch.allclose(lifted[:, :, r], F.conv2d(x, lifting[:, r]), atol=1e-6)
            expected = gcnn.HAAR * F.conv2d(group_x.flatten(1, 2), kernels[:, r])
            assert torch.allclose(grouped[:, :, r], expected, atol=1e-5)


def test_rotated_copies_figure_has_a_tile_per_filter_and_rotation(p4cnn):
    for layer, maps in (("c1", 1), ("c2", 4)):
        copies = W.rotated_filter_copies(p4cnn, layer)
        image = np.asarray(W.rotated_copies_figure(copies))
        grid = W.copies_layout(10, maps)
        tiles = [image[grid.origin_y + o * grid.row_step:grid.origin_y + o * grid.row_step + grid.size,
                       x:x + grid.size]
                 for o in range(10) for r in range(4) for j in range(maps)
                 for x in [grid.origin_x + r * grid.column_step + j * (grid.size + grid.map_gap)]]
        assert len(tiles) == 10 * 4 * maps and all(t.shape == (grid.size, grid.size, 3) and t.std() > 0 for t in tiles)
        assert grid.map_at(grid.origin_x + 2 * grid.column_step + 1, grid.origin_y + 3 * grid.row_step + 1, 3, 3) \
            == (3, 2, 0, 0, 0)
        assert grid.map_at(2, 2, 3, 3) is None
    assert W.rotated_copies_figure(copies, scale=2).width > 1.9 * W.rotated_copies_figure(copies).width


def test_rotated_copies_need_a_group_layer(p4cnn, inception):
    assert W.group_layers(inception) == [] and not W.is_group_layer(inception, "conv2d0")
    with pytest.raises(UserError, match="not a p4 group layer"):
        W.rotated_filter_copies(p4cnn, "logits")
    with pytest.raises(UserError, match="not a p4 group layer"):
        W.rotated_filter_copies(inception, "conv2d0")
    with pytest.raises(UserError, match="input channels 0..9"):
        W.rotated_filter_copies(p4cnn, "c2", 10)


def test_depthwise_unit_lists_only_its_connected_input(efficientnet):
    # A depthwise unit reads one channel; the other channels' |w| = 0 rows are no "top inputs".
    top = W.top_inputs(efficientnet, "block1_depthwise:5", "stem", 5)
    assert [str(u) for u, _ in top] == ["stem:5"]
    assert top[0][1] > 0
    assert [c for c, _ in W.rank_by_norm(np.array([[[0.0]], [[2.0]], [[0.0]], [[-1.0]]]), "x", 4)] == \
        [UnitRef("x", 1), UnitRef("x", 3)]
