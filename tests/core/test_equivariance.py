"""Natural equivariance analysis: planted permutations in handcrafted models, hue, flip, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core import equivariance as eq
from circuitloupe.core.equivariance import analysis
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import load_model
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel


def handcrafted(weight: torch.Tensor, bias: torch.Tensor | None = None, size: int = 21) -> LoadedModel:
    """One conv layer + ReLU whose filters we choose; layer ``conv`` has one unit per filter."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], padding=weight.shape[-1] // 2,
                     bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    relu = nn.ReLU()
    return LoadedModel(name="handcrafted", net=nn.Sequential(conv, relu), input_size=(size, size),
                       preprocessing=UNIT_RANGE, hook_points={"conv": relu}, weights_id="hand",
                       weights_description="handcrafted", in_channels=weight.shape[1])


def asymmetric_filter(seed: int = 0) -> torch.Tensor:
    return torch.randn(5, 5, generator=torch.Generator().manual_seed(seed))


# Channel c holds the filter rotated by ROTATION_OF[c] * 90 degrees (counter-clockwise).
ROTATION_OF = [2, 0, 3, 1]


@pytest.fixture(scope="module")
def rotated_copies() -> LoadedModel:
    base = asymmetric_filter()
    weight = torch.stack([torch.rot90(base, r) for r in ROTATION_OF])[:, None]
    return handcrafted(weight)


def test_rotation_by_90_is_exact_and_counter_clockwise():
    x = torch.rand(2, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    assert torch.equal(eq.rotate(x, 90), torch.rot90(x, 1, dims=(-2, -1)))
    assert torch.allclose(eq.rotate(x, 90.001), eq.rotate(x, 90), atol=1e-3)  # the resampling path agrees
    assert torch.allclose(eq.transform(eq.transform(x, "flip", 1), "flip", 1), x)
    grey = torch.full((1, 3, 4, 4), 0.5) + 0.1 * torch.tensor([1.0, -0.5, -0.5]).view(1, 3, 1, 1)
    assert torch.allclose(eq.hue_rotate(eq.hue_rotate(eq.hue_rotate(grey, 120), 120), 120), grey, atol=1e-5)
    assert not torch.allclose(eq.hue_rotate(grey, 120), grey, atol=1e-3)


def test_planted_rotation_permutation_is_recovered(rotated_copies):
    units = [f"conv:{c}" for c in range(4)]
    result = eq.equivariance(rotated_copies, units, "rotate", steps=4)
    channel_of = {r: c for c, r in enumerate(ROTATION_OF)}
    expected = [channel_of[(ROTATION_OF[c] + 1) % 4] for c in range(4)]
    assert result.mapping == expected == [2, 3, 1, 0]
    assert result.score < 1e-6
    assert result.baseline_identity > 0.5 and result.baseline_random > 0.5
    assert result.holes == [] and result.wraps_at == 360
    assert result.to_json()["mapping"] == {"conv:0": "conv:2", "conv:1": "conv:3", "conv:2": "conv:1",
                                           "conv:3": "conv:0"}


def test_direction_of_rotation_follows_the_order_of_the_family(rotated_copies):
    counter_clockwise = [f"conv:{ROTATION_OF.index(r)}" for r in range(4)]  # filters at 0, 90, 180, 270
    forward = eq.equivariance(rotated_copies, counter_clockwise, "rotate", steps=4)
    backward = eq.equivariance(rotated_copies, counter_clockwise[::-1], "rotate", steps=4)
    assert (forward.shift, forward.direction) == (1, "counter-clockwise")
    assert (backward.shift, backward.direction) == (-1, "clockwise")
    assert forward.mapping == [1, 2, 3, 0]


def test_families_wrapping_at_180_and_90_degrees_are_detected():
    bar = torch.zeros(5, 5)
    bar[2, :] = 1.0
    bar -= bar.mean()
    lines = handcrafted(torch.stack([bar, bar.T])[:, None])
    result = eq.equivariance(lines, ["conv:0", "conv:1"], "rotate", steps=8)
    assert result.wraps_at == 180
    assert eq.equivariance(lines, ["conv:0", "conv:1"], "rotate", steps=4).mapping == [1, 0]
    ring = torch.ones(5, 5)
    ring[1:4, 1:4] = -1.0
    ring[2, 2] = 4.0
    symmetric = handcrafted(torch.stack([ring, -ring])[:, None])
    assert eq.equivariance(symmetric, ["conv:0", "conv:1"], "rotate", steps=8).wraps_at == 90


def test_a_unit_that_fits_no_member_is_a_hole():
    base = asymmetric_filter()
    weight = torch.stack([base, torch.rot90(base, 1), torch.rot90(base, 2), asymmetric_filter(7)])[:, None]
    result = eq.equivariance(handcrafted(weight), [f"conv:{c}" for c in range(4)], "rotate", steps=4)
    assert result.mapping[0] == 1 and result.mapping[1] == 2
    assert 2 in result.holes and 3 in result.holes  # 270 degrees is missing, the odd unit fits nothing


def broadly_tuned_family(preferred: list[float], steps: int, noise: float = 0.15) -> np.ndarray:
    """``F[s, n, u]`` of units with broad von Mises tuning at unevenly spaced preferred
    orientations plus seeded noise (a trained unit's quirks), like a trained curve family, for
    stimuli every 15 degrees rotated by 360/steps per step."""
    stimuli = np.radians(np.arange(0, 360, 15.0))
    rows = []
    for s in range(steps):
        angle = stimuli[:, None] + 2 * np.pi * s / steps - np.radians(preferred)[None, :]
        rows.append(np.exp(np.cos(angle) - 1))
    return np.stack(rows) + noise * np.random.default_rng(0).normal(size=(steps, len(stimuli), len(preferred)))


def test_score_of_a_broad_uneven_family_beats_the_identity_and_maps_to_neighbours():
    # The bundled model's curve family has 13 broad units at uneven angles; a 45-degree step maps
    # each unit to a neighbour about 45 degrees on, but no match is perfect. A strict hole
    # threshold used to turn most of them into holes predicting zero: a "best" score worse than
    # the identity permutation.
    preferred = [15, 35, 62, 82, 106, 117, 129, 170, 185, 224, 264, 292, 353]
    responses = broadly_tuned_family(preferred, 8)
    result = eq.analyse(responses, [f"u:{c}" for c in range(13)], "rotate", eq.transform_values("rotate", 8))
    assert result.score < result.baseline_identity < result.baseline_random
    mapped = [(i, j) for i, j in enumerate(result.mapping) if j is not None]
    assert len(mapped) >= 11
    for i, j in mapped:  # each unit maps to one preferring 20..65 degrees more (counter-clockwise)
        assert 20 <= (preferred[j] - preferred[i]) % 360 <= 65
    assert result.direction == "counter-clockwise"
    strict = eq.analyse(responses, result.units, "rotate", result.values, hole_threshold=0.3)
    assert len(strict.holes) > len(result.holes) and strict.score >= result.score


def test_score_is_the_least_error_over_every_partial_permutation():
    from itertools import combinations, permutations

    rng = np.random.default_rng(3)
    responses = rng.normal(size=(4, 10, 4))
    responses[1:, :, 1] = np.roll(responses[:, :, 0], 1, axis=0)[1:]  # unit 0 maps to unit 1, roughly
    result = eq.analyse(responses, [f"u:{c}" for c in range(4)], "rotate", [0, 90, 180, 270])
    norm, pairs = analysis._normalise(responses), analysis._pairs("rotate", 4)
    best = min(analysis._relative_error(norm, pairs, [dict(zip(rows, cols)).get(i) for i in range(4)])
               for k in range(5) for rows in combinations(range(4), k) for cols in permutations(range(4), k))
    assert result.score == pytest.approx(best, abs=1e-12)
    assert result.score <= result.baseline_identity


YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def test_hue_rotation_maps_colour_contrast_units_onto_each_other():
    hues = [math.radians(60 * k) for k in range(6)]
    weight = torch.stack([torch.tensor([0.0, math.cos(h), math.sin(h)]) @ YIQ for h in hues])
    model = handcrafted(weight[:, :, None, None], bias=-weight.sum(1) * 0.5, size=9)
    generator = torch.Generator().manual_seed(1)
    angles = torch.rand(24, generator=generator) * 2 * math.pi
    chroma = torch.stack([0.02 * torch.randn(24, generator=generator), 0.15 * torch.cos(angles),
                          0.15 * torch.sin(angles)], dim=1)
    colours = 0.5 + chroma @ torch.linalg.inv(YIQ).T
    stimuli = colours[:, :, None, None].expand(-1, -1, 9, 9)
    result = eq.equivariance(model, [f"conv:{k}" for k in range(6)], "hue", steps=6, stimuli=stimuli)
    assert result.mapping == [1, 2, 3, 4, 5, 0]
    assert result.score < 1e-4 and result.baseline_identity > 0.5
    assert result.direction == "hue increasing along the list"


def test_hue_needs_a_colour_model(rotated_copies):
    with pytest.raises(UserError, match="colour"):
        eq.equivariance(rotated_copies, ["conv:0", "conv:1"], "hue")


@pytest.fixture(scope="module")
def mirrored() -> LoadedModel:
    base = asymmetric_filter(3)
    centre_surround = -torch.ones(5, 5)
    centre_surround[1:4, 1:4] = 2.0
    return handcrafted(torch.stack([base, centre_surround, base.flip(-1), asymmetric_filter(4)])[:, None])


def test_flip_pairs_and_self_symmetric_units_are_found(mirrored):
    result = eq.equivariance(mirrored, ["conv:0", "conv:1", "conv:2"], "flip")
    assert result.mapping == [2, 1, 0]
    assert result.flip_pairs == [(0, 2)]
    assert result.score < 1e-6
    assert result.to_json()["flip_pairs"] == [["conv:0", "conv:2"]]


def test_discovery_finds_flip_pairs_and_rotation_cycles(mirrored, rotated_copies):
    pairs = eq.discover(mirrored, "conv", "flip")
    assert [c.units for c in pairs] == [["conv:0", "conv:2"]]
    cycles = eq.discover(rotated_copies, "conv", "rotate", steps=4)
    assert len(cycles) == 1 and cycles[0].cyclic and cycles[0].strength > 0.99
    assert sorted(cycles[0].units) == [f"conv:{c}" for c in range(4)]
    order = [ROTATION_OF[int(u.split(":")[1])] for u in cycles[0].units]
    assert all((b - a) % 4 == 1 for a, b in zip(order, order[1:]))


def test_saved_families_round_trip(rotated_copies):
    eq.save_family(rotated_copies, "rotated copies", ["conv:1", "conv:3"])
    assert eq.saved_families(rotated_copies) == {"rotated copies": ["conv:1", "conv:3"]}


@pytest.fixture(scope="module")
def p4cnn():
    return load_model("p4cnn")


def test_p4cnn_family_is_an_exact_cyclic_shift_and_z2cnn_is_not(p4cnn):
    units = ["c3:4", "c3:5", "c3:6", "c3:7"]  # channel 1 at rotations 0..3
    result = eq.equivariance(p4cnn, units, "rotate", steps=4)
    assert result.mapping == [1, 2, 3, 0] and result.score < 1e-5
    assert result.direction == "counter-clockwise"
    z2 = eq.equivariance(load_model("z2cnn"), ["c3:0", "c3:1", "c3:2", "c3:3"], "rotate", steps=4)
    assert z2.score > 0.3


def test_weights_between_p4cnn_families_rotate_with_their_units(p4cnn):
    src = eq.equivariance(p4cnn, ["c1:0", "c1:1", "c1:2", "c1:3"], "rotate", steps=4)
    dst = eq.equivariance(p4cnn, ["c2:0", "c2:1", "c2:2", "c2:3"], "rotate", steps=4)
    symmetry = eq.weight_symmetry(p4cnn, src, dst)
    assert symmetry.weights.shape[:2] == (4, 4)
    assert symmetry.overall < 1e-5 and symmetry.baseline > 0.3
    assert np.nanmax(symmetry.errors) < 1e-4
    assert eq.weight_symmetry_figure(symmetry).width > 100


def test_symmetry_of_flipped_kernels_from_a_handmade_grid(mirrored):
    result = eq.equivariance(mirrored, ["conv:0", "conv:1", "conv:2"], "flip")
    swap = [2, 1, 0]
    kernels = np.random.default_rng(0).normal(size=(3, 3, 3, 3)).astype(np.float32)
    # grid[π j, π i] = mirror(grid[j, i]) for the flip pair (0 2) and the symmetric unit 1
    grid = kernels + kernels[swap][:, swap][..., ::-1]
    symmetry = eq.symmetry_of_weights(grid, result, result)
    assert symmetry.overall < 1e-6 and symmetry.baseline > 0.3
    broken = grid.copy()
    broken[0, 0] += 1.0
    assert eq.symmetry_of_weights(broken, result, result).errors[0, 0] > 0.1


def test_figures_render():
    steps = np.random.default_rng(1).random((4, 6, 1))
    responses = np.stack([np.roll(np.concatenate([steps[s]] * 4, axis=1), s, axis=1) for s in range(4)])
    result = eq.analyse(responses[:, :, :], [f"u:{c}" for c in range(4)], "rotate", [0, 90, 180, 270])
    small, large = eq.summary_figure(result, 0.5), eq.summary_figure(result, 1.0)
    assert large.width > small.width > 100
    assert result.response_matrix().shape == (4, 4)
