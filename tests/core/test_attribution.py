"""Attribution: known answers on handcrafted models, w * x on InceptionV1, no hook left behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core.attribution import (METHODS, ClassTarget, FamilyTarget, UnitTarget, attribute,
                                           attribute_details, direction_target, earlier_contributions,
                                           extract_curves, family_activation_map, make_baseline, parse_target)
from circuitloupe.core.attribution.figures import curve_figure, overlay_figure, ranking_figure
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel
from circuitloupe.core.stimuli import curve
from circuitloupe.core.units import UnitRef

SIZE = (64, 64)


def toy_model(net: nn.Module, points: dict[str, nn.Module], size=(32, 32)) -> LoadedModel:
    return LoadedModel(name="toy", net=net, input_size=size, preprocessing=UNIT_RANGE, hook_points=points,
                       weights_id="toy", weights_description="handcrafted")


class Linear(nn.Module):
    """Two convolutions, no nonlinearity: integrated gradients must be complete exactly."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.Conv2d(3, 4, 5, padding=2)
        self.b = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        return self.b(self.a(x))


class Mask(nn.Module):
    def forward(self, x):
        keep = torch.zeros_like(x)
        keep[..., : x.shape[-1] // 2] = 1
        return x * keep


class LeftHalf(nn.Module):
    """A unit whose whole map only sees the left half of the image."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv.weight.data.abs_()
        self.relu = nn.ReLU()
        self.masked = Mask()
        self.unit = nn.Conv2d(4, 1, 1)
        self.unit.weight.data.abs_()

    def forward(self, x):
        return self.unit(self.masked(self.relu(self.conv(x))))


class Edges(nn.Module):
    """Eight oriented edge detectors (both signs of four derivative directions) on gray."""

    def __init__(self) -> None:
        super().__init__()
        sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
        diagonal = torch.tensor([[0.0, 1, 2], [-1, 0, 1], [-2, -1, 0]])
        kernels = [sobel, sobel.T, diagonal, diagonal.flip(1)]
        weight = torch.stack([s * k for k in kernels for s in (1, -1)])[:, None].repeat(1, 3, 1, 1) / 3
        self.conv = nn.Conv2d(3, 8, 3, padding=1, padding_mode="replicate")
        self.conv.weight.data = weight
        self.conv.bias.data.fill_(-0.05)  # a threshold: flat regions stay silent
        self.edges = nn.ReLU()

    def forward(self, x):
        return self.edges(self.conv(x))


def no_hooks(net: nn.Module) -> bool:
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks)
               for m in net.modules())


@pytest.fixture(scope="module")
def noise():
    return np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)


@pytest.mark.parametrize("baseline", ["black", "blurred", "noise"])
def test_integrated_gradients_are_complete_on_a_linear_model(noise, baseline):
    net = Linear()
    model = toy_model(net, {"a": net.a, "b": net.b})
    target = UnitTarget(UnitRef("b", 1))
    result = attribute_details(model, noise, target, "ig", baseline=baseline, steps=5, internal_batch_size=2)
    batch = torch.as_tensor(noise).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = net(batch)[0, 1, 16, 16]
        base = net(make_baseline(batch, baseline))[0, 1, 16, 16]
    assert result.value == pytest.approx(float(out), rel=1e-6)
    assert result.map.sum() == pytest.approx(float(out - base), rel=1e-4, abs=1e-5)
    assert abs(result.completeness_gap) < 1e-4 * max(1.0, abs(float(out - base)))
    # On a linear model input x gradient is exact too: it sums to f(x) - f(black).
    ixg = attribute(model, noise, target, "input_x_gradient")
    with torch.no_grad():
        constant = net(torch.zeros_like(batch))[0, 1, 16, 16]
    assert ixg.sum() == pytest.approx(float(out - constant), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_a_unit_that_sees_only_the_left_half_puts_the_mass_there(noise, method):
    net = LeftHalf()
    model = toy_model(net, {"conv": net.conv, "relu": net.relu, "masked": net.masked, "unit": net.unit})
    result = attribute_details(model, noise, UnitTarget(UnitRef("unit", 0), whole_map=True), method,
                               steps=4, internal_batch_size=4)
    mass = np.abs(result.map)
    assert mass.sum() > 0
    assert mass[:, :16].sum() / mass.sum() > 0.95
    assert mass[:, 17:].sum() == pytest.approx(0.0, abs=1e-6 * float(mass.sum()))  # 3x3 conv: one column of spill
    if method == "gradcam":
        assert result.layer == "masked"


def test_wx_contributions_sum_to_the_pre_activation_minus_bias_on_a_linear_path(inception):
    image = np.random.default_rng(3).random((64, 64, 3)).astype(np.float32)
    for channel in (379, 385):  # mixed3b 5x5-branch units (channels 59 and 65 of mixed3b_5x5)
        c = earlier_contributions(inception, image, f"mixed3b:{channel}", "mixed3b_5x5_bottleneck", size=SIZE)
        assert (c.target_layer, c.channel) == ("mixed3b_5x5_pre_relu", channel - 320)
        conv = inception.net.mixed3b_5x5_pre_relu_conv
        assert c.bias == pytest.approx(float(conv.bias[channel - 320]))
        assert c.wx.shape == (32, 8, 8)
        assert c.totals.sum() == pytest.approx(c.value - c.bias, rel=1e-5, abs=1e-6)
        assert c.support == (2, 7, 2, 7)  # the 5x5 kernel around the centre (4, 4)
        positive, negative = c.ranked(1, None), c.ranked(-1, None)
        assert len(positive) + len(negative) <= 32
        assert all(a.total >= b.total > 0 for a, b in zip(positive, positive[1:]))
        assert all(a.total <= b.total < 0 for a, b in zip(negative, negative[1:]))
    summary = c.summary(top=3)
    assert summary["residual"] == pytest.approx(0.0, abs=1e-5) and len(summary["positive"]) <= 3


def test_contributions_from_an_earlier_block_and_bad_layers(inception):
    image = np.random.default_rng(4).random((64, 64, 3)).astype(np.float32)
    c = earlier_contributions(inception, image, "3b:379", "mixed3a", size=SIZE, position="max")
    assert c.wx.shape == (256, 8, 8) and c.source_layer == "mixed3a"
    assert c.ranked(1, 1)[0].unit.layer == "mixed3a"
    with pytest.raises(UserError, match="does not run before"):
        earlier_contributions(inception, image, "mixed3a:3", "mixed3b", size=SIZE)
    with pytest.raises(UserError, match="does not feed"):
        earlier_contributions(inception, image, "mixed3b:379", "mixed3b_3x3_bottleneck", size=SIZE)
    assert no_hooks(inception.net)


@pytest.mark.parametrize("method", ["guided", "gradcam", "ig"])
def test_no_hook_survives_success_or_error(inception, method):
    image = np.random.default_rng(5).random((64, 64, 3)).astype(np.float32)
    target = UnitTarget(UnitRef("mixed3a_pre_relu", 81))
    result = attribute_details(inception, image, target, method, size=SIZE, steps=4, internal_batch_size=2)
    assert result.map.shape == SIZE and np.isfinite(result.map).all()
    assert no_hooks(inception.net)

    def broken_progress(step, total, preview=None):
        raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError, match="broke"):
        attribute_details(inception, image, target, method, size=SIZE, steps=4, internal_batch_size=2,
                          progress=broken_progress)
    assert no_hooks(inception.net)

    if method == "ig":  # several forward passes: cancelling after the first stops the run
        seen = []
        with pytest.raises(Cancelled):
            attribute_details(inception, image, target, method, size=SIZE, steps=4, internal_batch_size=1,
                              progress=lambda step, total, preview=None: seen.append(step),
                              should_stop=lambda: bool(seen))
        assert seen == [1] and no_hooks(inception.net)


def test_targets_class_direction_and_family(inception):
    image = np.random.default_rng(6).random((64, 64, 3)).astype(np.float32)
    assert isinstance(parse_target(inception, "class:7"), ClassTarget)
    family = parse_target(inception, "mixed3b:379,406,385")
    assert isinstance(family, FamilyTarget) and len(family.units) == 3
    cam = attribute_details(inception, image, ClassTarget(7), "gradcam", size=SIZE)
    assert cam.layer == "mixed5b" and cam.map.shape == SIZE and (cam.map >= 0).all()
    vector = np.zeros(256)
    vector[[81, 147]] = 1
    direction = direction_target(inception, "mixed3a", vector, whole_map=True)
    both = attribute(inception, image, direction, "input_x_gradient", size=SIZE)
    parts = sum(attribute(inception, image, UnitTarget(UnitRef("mixed3a", c), whole_map=True), "input_x_gradient",
                          size=SIZE) for c in (81, 147))
    np.testing.assert_allclose(both, parts, rtol=1e-4, atol=1e-6)
    fmap = family_activation_map(inception, image, ["mixed3b:379", "mixed3b:406"], size=SIZE)
    assert fmap.shape == (8, 8) and (fmap >= 0).all()
    with pytest.raises(UserError, match="no attribution method"):
        attribute(inception, image, ClassTarget(7), "shap")
    with pytest.raises(UserError, match="classes 0..1007"):
        attribute(inception, image, ClassTarget(5000), "saliency", size=SIZE)
    with pytest.raises(UserError, match="outside"):
        attribute(inception, image, UnitTarget(UnitRef("mixed3a", 1), (40, 40)), "saliency", size=SIZE)


def arc_image(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A dark arc (radius 20 px, 3 px wide, opening downward) on white, and its pixel mask."""
    pixels = curve(0.0, 20.0, size, width=3.0)
    return pixels, pixels.mean(axis=2) < 0.95  # any ink, anti-aliased rim included


def test_curve_extractor_puts_the_mass_on_the_curve():
    from scipy import ndimage

    net = Edges()
    model = toy_model(net, {"conv": net.conv, "edges": net.edges}, size=(64, 64))
    pixels, curve = arc_image()
    result = extract_curves(model, pixels, [f"edges:{c}" for c in range(8)], smoothing=0.0)
    # A 3x3 edge detector's gradient reaches 1 px past the edge it sees: all the mass lies
    # within 3 px of the arc (a dark arc has zero input, so input x gradient marks its sides).
    near = ndimage.distance_transform_edt(~curve) <= 3
    mass = result.curve_map
    assert mass[near].sum() / mass.sum() > 0.95
    assert near.mean() < 0.2  # the arc and its margin are a small part of the image
    assert result.edges[near].sum() / max(1, result.edges.sum()) > 0.9  # Canny finds the arc too
    assert result.agreement > 0.8
    with pytest.raises(UserError, match="low threshold"):
        extract_curves(model, pixels, ["edges:0"], canny_low=0.5, canny_high=0.1)


def test_figures_render_at_scale(inception, tmp_path):
    image = np.random.default_rng(7).random((64, 64, 3)).astype(np.float32)
    heat = np.linspace(-1, 1, 64 * 64).reshape(64, 64)
    one = overlay_figure(image, heat, "title", scale=1.0)
    two = overlay_figure(image, heat, "title", scale=2.0)
    assert two.width > 1.8 * one.width
    assert overlay_figure(image, heat, mode="overlay", signed=False).width < one.width
    c = earlier_contributions(inception, image, "mixed3b:379", "mixed3b_5x5_bottleneck", size=SIZE)
    thumbs = {r.unit: np.ones((8, 8, 3)) * 0.5 for r in c.ranked(1, 2)}
    assert ranking_figure(c, top=4, thumbnails=thumbs, scale=1.0).height > 200
    net = Edges()
    model = toy_model(net, {"conv": net.conv, "edges": net.edges}, size=(64, 64))
    assert curve_figure(extract_curves(model, arc_image()[0], ["edges:0", "edges:1"])).width > 3 * 64


def test_wx_equals_expanded_weights_times_activations_on_a_linear_path(inception):
    from circuitloupe.core.activations import capture
    from circuitloupe.core.images import to_batch
    from circuitloupe.core.weights import expanded_weights

    image = np.random.default_rng(8).random((64, 64, 3)).astype(np.float32)
    c = earlier_contributions(inception, image, "mixed3b:379", "mixed3b_5x5_bottleneck", size=SIZE)
    weights = expanded_weights(inception, "mixed3b:379", "mixed3b_5x5_bottleneck")  # [32, 5, 5]
    x = capture(inception, to_batch([image], SIZE), ["mixed3b_5x5_bottleneck"])["mixed3b_5x5_bottleneck"][0]
    top, bottom, left, right = c.support
    assert weights.shape == (32, bottom - top, right - left)
    np.testing.assert_allclose(c.wx[:, top:bottom, left:right], weights * x[:, top:bottom, left:right],
                               rtol=1e-4, atol=1e-7)
