"""Hue and rotation jointly, and scale families across layers, on hand-made models whose answers are
known by construction (docs/equivariance_models.py)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from circuitloupe.core import equivariance as eq
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import load_model
from test_equivariance import YIQ, handcrafted
from support import REPO

MODELS = REPO / "docs" / "equivariance_models.py"
EDGES = [f"edges:{k}" for k in range(8)]  # hue 0 at 0, 90, 180, 270 degrees, then hue 90 at the same


@pytest.fixture(scope="module")
def opponent():
    return load_model(f"{MODELS}:colour_opponent_edges")


def test_hue_plus_180_is_rotation_plus_180_for_colour_opponent_edges(opponent):
    result = eq.hue_rotation(opponent, EDGES, (4, 4), stimuli=eq.opponent_edges(21))
    assert result.angles == result.hues == [0, 90, 180, 270]
    assert result.rotation.mapping == [1, 2, 3, 0, 5, 6, 7, 4]  # +90 degrees within each hue
    assert result.hue.mapping == [4, 5, 6, 7, 2, 3, 0, 1]  # hue 0 -> 90 -> 180 (= the edge turned by 180)
    assert result.rotation_half.mapping == result.hue_half.mapping == [2, 3, 0, 1, 6, 7, 4, 5]
    assert result.score < 1e-5 and result.baseline_identity > 1 and result.baseline_random > 1
    assert result.matches and result.same_permutation
    (o0, h0), (o4, h4) = result.preferred[0], result.preferred[4]  # same orientation, hue 90 degrees on
    assert ((o4 - o0) % 360, (h4 - h0) % 360) in {(0.0, 90.0), (180.0, 270.0)}
    data = result.to_json()
    assert data["half_turns"] == {"rotation_180": {u: EDGES[j] for u, j in zip(EDGES, [2, 3, 0, 1, 6, 7, 4, 5])},
                                  "hue_180": data["half_turns"]["rotation_180"], "same_permutation": True,
                                  "matches": True}
    assert np.asarray(data["chart"]).shape == (8, 4, 4)
    assert eq.hue_rotation_figure(result).width > 500


def test_one_sided_colour_edges_are_not_turned_by_a_hue_half_turn():
    # Chroma on one side only: rotating by 180 moves it to the other side, a hue half turn negates it.
    half = torch.zeros(5, 5)
    half[:, 3:] = 1.0
    weight = torch.stack([(torch.tensor([0.0, 1.0, 0.0]) @ YIQ)[:, None, None] * torch.rot90(half, q)
                          for q in range(4)])
    model = handcrafted(weight, size=21)
    result = eq.hue_rotation(model, [f"conv:{k}" for k in range(4)], (4, 4), stimuli=eq.opponent_edges(21))
    assert not result.matches and result.score > 0.5
    assert result.rotation.mapping == [1, 2, 3, 0] and result.rotation.score < 1e-5  # rotation alone is exact


def test_hue_rotation_needs_even_steps_and_a_colour_model(opponent):
    with pytest.raises(UserError, match="even"):
        eq.hue_rotation(opponent, EDGES, (3, 4))
    with pytest.raises(UserError, match="colour"):
        eq.hue_rotation(load_model(f"{MODELS}:blob_pyramid"), ["small:0", "large:0"])


def discs(radii, size: int = 64) -> torch.Tensor:
    grid = np.arange(size) - (size - 1) / 2
    distance = np.hypot(*np.meshgrid(grid, grid))
    return torch.tensor(np.stack([np.clip(r + 0.5 - distance, 0, 1) for r in radii]), dtype=torch.float32)[:, None]


def test_a_scale_family_across_layers_fits_each_zoom_to_the_unit_of_that_size():
    model = load_model(f"{MODELS}:blob_pyramid")
    units = ["small:0", "medium:0", "medium:1", "large:0"]  # blob detectors of radius 1.5, 3, 6, 12 px
    result = eq.equivariance(model, units, "scale", steps=4, max_scale=8, stimuli=discs([1.2, 1.5, 1.8]))
    assert result.values == pytest.approx([1, 2, 4, 8])
    assert result.scale_fits == [0, 1, 2, 3]  # a 1.5 px disc zoomed 2x at a time: the next unit, next layer
    assert result.mapping[:3] == [1, 2, 3] and result.direction == "larger along the list"
    assert result.score < result.baseline_identity
    assert result.to_json()["scale_fits"] == [{"factor": f, "unit": u} for f, u in zip([1.0, 2.0, 4.0, 8.0], units)]


def test_zoom_goes_up_to_8x_and_defaults_to_2x():
    assert eq.transform_values("scale", 4) == pytest.approx([1, 2 ** (1 / 3), 2 ** (2 / 3), 2])
    assert eq.transform_values("scale", 4, max_scale=8) == pytest.approx([1, 2, 4, 8])
    with pytest.raises(UserError, match="at most 8"):
        eq.transform_values("scale", 4, max_scale=9)
