"""Stimulus renderers: documented orientation convention, rotation consistency, variants."""

from __future__ import annotations

import numpy as np
import pytest

from circuitloupe.core import stimuli

SIZE = 64


def ink(image: np.ndarray) -> np.ndarray:
    """Dark-on-white coverage [H, W] in [0, 1]."""
    return 1.0 - image.mean(axis=2)


def centroid(weights: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(weights.shape) + 0.5
    total = weights.sum()
    return float((cols * weights).sum() / total), float((rows * weights).sum() / total)


@pytest.mark.parametrize("orientation", [0.0, 17.0, 45.0, 100.0, 233.0])
@pytest.mark.parametrize("radius", [8.0, 20.0, 200.0])
def test_curve_rotated_by_90_is_curve_at_t_plus_90(orientation, radius):
    turned = np.rot90(stimuli.curve(orientation, radius, SIZE), k=1)  # counter-clockwise on screen
    expected = stimuli.curve(orientation + 90, radius, SIZE)
    assert np.abs(turned - expected).max() < 0.02


@pytest.mark.parametrize("render", [
    lambda t: stimuli.angle(t, 70, SIZE),
    lambda t: stimuli.line(t, SIZE, length=40),
    lambda t: stimuli.edge(t, SIZE),
    lambda t: stimuli.grating(t, 6, SIZE),
    lambda t: stimuli.curve(t, 15, SIZE, filled=True, fill=(1, 0, 0), fg=(0, 0, 1)),
])
def test_other_renderers_rotate_the_same_way(render):
    for orientation in (0.0, 30.0, 210.0):
        turned = np.rot90(render(orientation), k=1)
        assert np.abs(turned - render(orientation + 90)).max() < 0.02


def test_orientation_zero_bulges_up_and_ninety_bulges_left():
    up = ink(stimuli.curve(0, 16, SIZE))
    rows = np.nonzero(up.max(axis=1) > 0.5)[0]
    cx, cy = centroid(up)
    assert abs(rows.min() + 0.5 - SIZE / 2) <= 1.5  # the apex is at the centre, the arms hang down
    assert cy > SIZE / 2 + 2 and abs(cx - SIZE / 2) < 0.5
    left = ink(stimuli.curve(90, 16, SIZE))
    cols = np.nonzero(left.max(axis=0) > 0.5)[0]
    cx, cy = centroid(left)
    assert abs(cols.min() + 0.5 - SIZE / 2) <= 1.5 and cx > SIZE / 2 + 2 and abs(cy - SIZE / 2) < 0.5


def test_radius_sets_the_curvature():
    # The apex and the two ends of a 90-degree arc of radius r lie on a circle of radius r.
    r = 20.0
    image = ink(stimuli.curve(0, r, 128, arc_length=np.pi * r / 2, width=1.5))
    rows, cols = np.nonzero(image > 0.5)
    distance = np.hypot(cols + 0.5 - 64, rows + 0.5 - (64 + r))
    assert abs(np.median(distance) - r) < 0.6


def test_outputs_are_batched_deterministic_and_in_range():
    batch = stimuli.curves([0, 90, 180], [10, 20, np.inf], SIZE)
    assert batch.shape == (3, SIZE, SIZE, 3) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 1
    assert np.array_equal(batch[1], stimuli.curve(90, 20, SIZE))
    assert np.array_equal(batch, stimuli.curves([0, 90, 180], [10, 20, np.inf], SIZE))
    partial = ink(batch[0])
    assert 0 < partial[(partial > 0.01) & (partial < 0.99)].size  # anti-aliased edge pixels exist


def test_light_on_dark_and_filled_two_colour_variants():
    light = stimuli.curve(0, 16, SIZE, fg=1.0, bg=0.0)
    assert np.allclose(light, 1.0 - stimuli.curve(0, 16, SIZE), atol=1e-6)
    two = stimuli.curve(0, 16, SIZE, filled=True, width=0, fill=(1.0, 0.5, 0.0), bg=(0.0, 0.5, 1.0))
    inside = two[SIZE // 2 + 4, SIZE // 2]  # just below the apex, inside the segment
    assert np.allclose(inside, (1.0, 0.5, 0.0)) and np.allclose(two[2, 2], (0.0, 0.5, 1.0))


def test_background_image_is_drawn_on():
    bg = np.random.default_rng(0).uniform(size=(SIZE, SIZE, 3)).astype(np.float32)
    image = stimuli.curve(0, 16, SIZE, bg=bg)
    assert np.array_equal(image[:5], bg[:5])


def test_angle_points_its_vertex_and_straight_angle_is_a_line():
    caret = ink(stimuli.angle(0, 90, SIZE))
    rows = np.nonzero(caret.max(axis=1) > 0.5)[0]
    assert abs(rows.min() + 0.5 - SIZE / 2) <= 1.5 and centroid(caret)[1] > SIZE / 2 + 3
    straight = stimuli.angle(0, 180, SIZE, arc_length=40)
    assert np.abs(straight - stimuli.line(0, SIZE, length=40)).max() < 0.02


def test_angle_to_curve_series_goes_from_angle_to_arc():
    series = stimuli.angle_to_curve_series(0, 20, steps=5, size=SIZE, arc_length=30)
    assert series.shape == (5, SIZE, SIZE, 3)
    arc = stimuli.curve(0, 20, SIZE, arc_length=30)
    assert np.abs(series[-1] - arc).mean() < 0.01
    differences = [np.abs(series[k] - arc).mean() for k in range(5)]
    assert differences == sorted(differences, reverse=True)


def test_edge_and_grating_conventions():
    edge = stimuli.edge(0, SIZE)  # foreground (white) above
    assert edge[5, 32].min() == 1.0 and edge[-5, 32].max() == 0.0
    grating = stimuli.grating(0, 8, SIZE)[:, 10, 0]  # horizontal stripes: varies down a column
    assert not np.allclose(grating, grating[0])
    assert np.allclose(grating[:-8], grating[8:], atol=1e-5)  # period = 64 / 8 px
    assert np.allclose(stimuli.grating(0, 8, SIZE)[20], stimuli.grating(0, 8, SIZE)[20, 0])


def test_bad_colour_is_a_readable_error():
    with pytest.raises(ValueError, match="grey level or an RGB triple"):
        stimuli.curve(0, 10, SIZE, fg=(1, 0))


def test_filled_angle_paints_its_triangle_and_the_filled_morph_ends_at_the_filled_arc():
    # a right angle with 20 px strokes and no stroke width: the triangle (200 px^2) is all that is drawn
    image = stimuli.angles(0, 90, 64, arc_length=40, width=0, filled=True)[0]
    assert (1.0 - image[..., 0]).sum() == pytest.approx(200.0, rel=0.01)
    series = stimuli.angle_to_curve_series(0, 20, steps=3, size=64, arc_length=30, filled=True)
    arc = stimuli.curve(0, 20, 64, arc_length=30, filled=True)
    assert np.abs(series[-1] - arc).mean() < 0.01 and series[-1].mean() < series[0].mean()
