"""Tuning analyses on handcrafted template units with known preferred orientations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core import stimuli, tuning
from circuitloupe.core.tuning import sweeps
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel

SIZE = 32
DESIGNED = (60.0, 200.0, 290.0, 10.0)
RADIUS = 8.0


def template_model(orientations=DESIGNED) -> LoadedModel:
    """One conv layer whose channel k is a whole-image template of a curve at orientations[k].

    Its single output position correlates the image with an ink template (mean removed), so
    channel k responds most to the curve it was made from and less as the curve turns away.
    """
    conv = nn.Conv2d(3, len(orientations), SIZE, bias=False)  # one output position
    templates = stimuli.curves(list(orientations), RADIUS, SIZE, arc_length=16, width=2)
    templates -= templates.mean(axis=(1, 2, 3), keepdims=True)  # ink (dark) on white correlates positively
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(templates).permute(0, 3, 1, 2) / 10.0)
    net = nn.Sequential(conv)
    return LoadedModel(name="templates", net=net, input_size=(SIZE, SIZE), preprocessing=UNIT_RANGE,
                       hook_points={"detector": conv}, weights_id="handmade", weights_description="handmade")


@pytest.fixture(scope="module")
def templates():
    return template_model()


def test_response_map_axes_and_peak(templates):
    steps = []
    rmap = tuning.response_map(templates, "detector:0", orientations=36, curvatures=[4.0, 8.0, 16.0, 64.0],
                               arc_length=16, width=2, progress=lambda s, t, p=None: steps.append((s, t)))
    assert rmap.values.shape == (4, 36)
    assert rmap.orientations[1] == 10.0 and rmap.parameters[1] == 8.0
    value, orientation, radius = rmap.peak
    assert orientation == 60.0 and radius == 8.0
    assert steps[-1][0] == steps[-1][1]
    assert rmap.sigma is None or rmap.sigma.shape == rmap.values.shape


def test_radial_tuning_recovers_designed_orientations(templates):
    units = [f"detector:{k}" for k in range(len(DESIGNED))]
    results = tuning.family_radial_tuning(templates, units, orientations=120, curvatures=[6.0, 8.0, 12.0],
                                          arc_length=16, width=2)
    for result, designed in zip(results, DESIGNED):
        error = (result.preferred - designed + 180) % 360 - 180
        assert abs(error) < 10, (result.unit, result.preferred, designed)
        assert result.angles.shape == (720,) and result.angles[1] == 0.5
        assert 10 < result.width < 120 and result.selectivity > 0.03


def test_angle_sweep_uses_openings(templates):
    rmap = tuning.response_map(templates, "detector:1", stimulus="angle", orientations=24, curvatures=5,
                               arc_length=16, width=2)
    assert rmap.parameter_name == "opening (deg)" and rmap.values.shape == (5, 24)
    assert abs((rmap.peak[1] - 200 + 180) % 360 - 180) <= 15


def test_fwhm_of_a_known_bump():
    angles = np.arange(720) * 0.5
    offset = (angles - 100 + 180) % 360 - 180
    profile = np.exp(-0.5 * (offset / 20.0) ** 2)  # FWHM = 2.3548 * sigma
    result = sweeps._summarise("x:0", angles, profile)
    assert abs(result.preferred - 100) < 0.5 and abs(result.width - 47.1) < 1.0


def test_joint_tuning_places_each_member_at_its_orientation(templates):
    units = [f"detector:{k}" for k in range(len(DESIGNED))]
    # Each member's images: its own curve rotated by 30 degrees, so alignment has work to do.
    images = [stimuli.curves(t + 30, RADIUS, SIZE, arc_length=16, width=2) for t in DESIGNED]
    joint = tuning.joint_tuning(templates, units, images=images, step=5.0, preferred=DESIGNED)
    assert joint.curves.shape == (4, 72)
    for curve, designed in zip(joint.curves, DESIGNED):
        peak = joint.angles[int(np.argmax(curve))]
        assert abs((peak - designed + 180) % 360 - 180) <= 10


def test_rotate_images_turns_counter_clockwise():
    image = torch.from_numpy(stimuli.curve(0, 8, SIZE, arc_length=16, width=2)).permute(2, 0, 1)[None]
    turned = tuning.rotate_images(image, np.array([90.0]))[0].permute(1, 2, 0).numpy()
    left = stimuli.curve(90, 8, SIZE, arc_length=16, width=2)
    right = stimuli.curve(270, 8, SIZE, arc_length=16, width=2)
    assert np.abs(turned - left).mean() < 0.3 * np.abs(turned - right).mean()


def test_cancel_and_bad_input(templates):
    with pytest.raises(Cancelled):
        tuning.response_map(templates, "detector:0", orientations=8, curvatures=2, should_stop=lambda: True)
    with pytest.raises(UserError, match="unknown stimulus"):
        tuning.response_map(templates, "detector:0", stimulus="spiral")
    with pytest.raises(UserError):
        tuning.response_map(templates, "detector:9")


def test_figures_render(templates):
    maps = tuning.response_maps(templates, ["detector:0", "detector:1"], orientations=12, curvatures=3)
    small = tuning.response_map_figure(maps, scale=0.5)
    large = tuning.response_map_figure(maps, scale=1.0)
    assert large.width > 1.5 * small.width
    radial = tuning.radial_tuning_figure([tuning.radial_from_map(m) for m in maps], scale=0.5)
    assert radial.width > 100
    joint = tuning.JointTuning(["a:0"], np.arange(0, 360, 10.0), np.ones((1, 36)), np.zeros(1))
    assert tuning.joint_tuning_figure(joint, scale=0.5).height > 50


def test_sigma_and_joint_images_come_from_a_dataset_cache(templates, monkeypatch):
    import circuitloupe.core.dataset as dataset

    rng = np.random.default_rng(0)
    distribution = rng.normal(0.5, 2.0, 10_000).astype(np.float32)
    monkeypatch.setattr(dataset, "unit_distribution", lambda model, unit: distribution)
    rmap = tuning.response_map(templates, "detector:0", orientations=8, curvatures=2)
    expected = (rmap.values - distribution.mean()) / distribution.std()
    assert np.allclose(rmap.sigma, expected, atol=1e-4) and rmap.dataset_std == pytest.approx(2.0, rel=0.05)
    asked = []

    def examples(model, unit, k=9):
        asked.append(str(unit))
        return [(stimuli.curve(DESIGNED[unit.channel], RADIUS, 20, arc_length=12, width=2), 1.0)]

    monkeypatch.setattr(dataset, "top_examples", examples)
    joint = tuning.joint_tuning(templates, ["detector:0", "detector:1"], step=10.0, preferred=DESIGNED[:2])
    assert asked == ["detector:0", "detector:1"] and joint.curves.shape == (2, 36)


def offset_template_model(orientation: float = 60.0) -> LoadedModel:
    """A 15 px curve template behind lopsided padding (2 px before, 12 after, as TF "same"
    padding is lopsided): the centre position (16, 16) looks at input pixels 14..28, centred
    on (21.5, 21.5), not on the image centre (16, 16)."""
    k = 15
    conv = nn.Conv2d(3, 1, k, bias=False)
    template = stimuli.curves([orientation], RADIUS, k, arc_length=12, width=2)
    template -= template.mean()
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(template).permute(0, 3, 1, 2) / 10.0)
    net = nn.Sequential(nn.ZeroPad2d((2, 12, 2, 12)), conv)
    return LoadedModel(name="offset-template", net=net, input_size=(SIZE, SIZE), preprocessing=UNIT_RANGE,
                       hook_points={"detector": conv}, weights_id="handmade", weights_description="handmade")


def test_stimuli_are_drawn_on_the_receptive_field_centre_not_the_image_centre():
    model = offset_template_model(60.0)
    assert tuning.stimulus_centre(model, "detector:0") == (21.5, 21.5)
    style = dict(orientations=36, curvatures=[RADIUS], arc_length=12, width=2)
    on_field = tuning.response_map(model, "detector:0", **style)
    on_image = tuning.response_map(model, "detector:0", center=(SIZE / 2, SIZE / 2), **style)
    assert on_field.center == (21.5, 21.5) and on_image.center == (16.0, 16.0)
    assert on_field.peak[1] == 60.0  # the designed orientation, at the full matched response
    assert on_field.peak[0] > 2 * on_image.peak[0]  # off-centre the template barely sees the curve
    assert tuning.unit_summary(on_field)["stimulus_centre_xy"] == [21.5, 21.5]
    # joint tuning rotates each member's stimuli about that centre too
    images = [stimuli.curves(90.0, RADIUS, SIZE, arc_length=12, width=2, center=(21.5, 21.5))]
    joint = tuning.joint_tuning(model, ["detector:0"], images=images, step=10.0, preferred=[60.0])
    assert joint.angles[int(np.argmax(joint.per_source[0, :, 0]))] == 330.0  # 90 turned to 60


def test_rotate_images_about_an_off_centre_point():
    centre = (21.5, 19.5)
    image = torch.from_numpy(stimuli.curve(0, 6, SIZE, arc_length=10, width=2, center=centre)).permute(2, 0, 1)[None]
    turned = tuning.rotate_images(image, np.array([90.0]), centre)[0].permute(1, 2, 0).numpy()
    expected = stimuli.curve(90, 6, SIZE, arc_length=10, width=2, center=centre)
    about_middle = tuning.rotate_images(image, np.array([90.0]))[0].permute(1, 2, 0).numpy()
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    inside = np.hypot(xs - centre[0], ys - centre[1]) < 10  # the aperture: 10.5 px to the right edge
    assert np.abs(turned - expected)[inside].mean() < 0.3 * np.abs(about_middle - expected)[inside].mean()
