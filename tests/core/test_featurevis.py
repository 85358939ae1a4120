"""Feature visualisation engine: known optima, batches of units, cancel, determinism, cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core.activations import capture
from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis import cache
from circuitloupe.core.featurevis import objectives as O
from circuitloupe.core.featurevis.param import COLOR_CORRELATION, ImageParam
from circuitloupe.core.featurevis.render import objective_values, render
from circuitloupe.core.featurevis.transforms import Jitter, Pad, Transforms, parse_transforms
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models.base import LoadedModel, Preprocessing

ANGLES = (0, 45, 90, 135)


pytestmark = pytest.mark.usefixtures("one_thread")


def grating(angle: float, k: int = 9, period: float = 6.0) -> np.ndarray:
    """A zero-mean, unit-norm k x k cosine grating whose stripes run at ``angle`` degrees."""
    y, x = np.mgrid[0:k, 0:k] - (k - 1) / 2
    t = np.deg2rad(angle + 90)
    g = np.cos(2 * np.pi * (x * np.cos(t) + y * np.sin(t)) / period)
    g -= g.mean()
    return g / np.linalg.norm(g)


@pytest.fixture(scope="module")
def grating_model() -> LoadedModel:
    """One 9x9 conv with four grey oriented-grating filters, then a ReLU; input grey = 0."""
    conv = nn.Conv2d(3, len(ANGLES), 9, bias=False)
    with torch.no_grad():
        for i, angle in enumerate(ANGLES):
            conv.weight[i] = torch.tensor(grating(angle), dtype=torch.float32)[None].repeat(3, 1, 1)
    relu = nn.ReLU()
    return LoadedModel(name="grating", net=nn.Sequential(conv, relu), input_size=(33, 33),
                       preprocessing=Preprocessing((0.5,) * 3, (1.0,) * 3), hook_points={"conv": conv, "relu": relu},
                       weights_id="test-gratings", weights_description="handcrafted")


def test_neuron_optimum_of_a_grating_filter_is_the_grating(grating_model):
    result = render(grating_model, O.neuron("conv:1"), size=33, steps=64, transforms="none")
    image = result.images[0].mean(axis=2)
    patch = image[12:21, 12:21]  # the 9x9 receptive field of the centre unit (12, 12)
    assert np.corrcoef(patch.ravel(), grating(45).ravel())[0, 1] > 0.85
    centre = capture(grating_model, torch.tensor(result.images).permute(0, 3, 1, 2), ["conv"])["conv"][0, :, 12, 12]
    others = np.delete(centre, 1)
    assert centre[1] > 5 * np.abs(others).max()
    assert result.end_values[0] == pytest.approx(centre[1], rel=1e-3)
    assert result.end_values[0] > result.start_values[0] + 5


def test_channel_images_of_grating_units_excite_their_own_unit_with_transforms(grating_model):
    result = render(grating_model, [O.channel("relu", i) for i in range(4)], size=40, steps=48)
    acts = capture(grating_model, torch.tensor(result.images).permute(0, 3, 1, 2), ["relu"])["relu"].mean(axis=(2, 3))
    for i in range(4):
        assert acts[i, i] > 1.8 * np.delete(acts[i], i).max()


def test_ten_inception_units_in_one_batch_each_excite_their_own_unit(inception):
    units = [f"mixed3a:{c}" for c in range(0, 100, 10)]
    result = render(inception, units, size=48, steps=24, redirect_relu_steps=12)
    assert result.images.shape == (10, 48, 48, 3)
    assert 0 <= result.images.min() and result.images.max() <= 1
    acts = capture(inception, torch.tensor(result.images).permute(0, 3, 1, 2), ["mixed3a"])["mixed3a"]
    means = acts[:, 0:100:10].mean(axis=(2, 3))  # [image, unit]
    assert list(means.argmax(axis=0)) == list(range(10))  # each unit fires most for its own image
    assert (result.end_values > result.start_values).all()


def test_relu_redirection_wakes_a_unit_that_starts_silent(inception):
    plain = render(inception, "mixed3a:10", size=48, steps=8, transforms="none")
    redirected = render(inception, "mixed3a:10", size=48, steps=8, transforms="none", redirect_relu_steps=8)
    assert plain.start_values[0] == 0 and plain.end_values[0] == 0
    assert redirected.end_values[0] > 0.05


def test_cancel_stops_within_one_step_and_progress_has_previews(grating_model):
    seen = []

    def progress(step, total, preview=None):
        seen.append((step, total, None if preview is None else preview.shape))

    with pytest.raises(Cancelled):
        render(grating_model, ["conv:0", "conv:1"], size=24, steps=100, preview_every=2, progress=progress,
               should_stop=lambda: len(seen) >= 5)
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[1] == (2, 100, (2, 24, 24, 3)) and seen[0][2] is None


def test_same_seed_same_images_other_seed_other_images(inception):
    a = render(inception, ["mixed3a:3", "conv2d2:5"], size=32, steps=4, seed=3)
    b = render(inception, ["mixed3a:3", "conv2d2:5"], size=32, steps=4, seed=3)
    c = render(inception, ["mixed3a:3", "conv2d2:5"], size=32, steps=4, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.end_values, b.end_values)
    assert not np.allclose(a.images, c.images)


def test_forward_stops_after_the_deepest_needed_layer_and_leaves_no_hooks(inception):
    calls = []
    handle = inception.hook_points["mixed3b_pool_reduce"].register_forward_hook(lambda *a: calls.append(1))
    try:
        render(inception, "mixed3b:379", size=32, steps=2)  # a 5x5-branch unit: the pool branch is skipped
        assert calls == []
        render(inception, "mixed3b:470", size=32, steps=2)  # a pool-branch unit
        assert len(calls) > 0
    finally:
        handle.remove()
    with pytest.raises(UserError):
        render(inception, "mixed3b:9999", size=32, steps=2)
    assert all(not m._forward_hooks for m in inception.net.modules())


def test_objectives_compose_like_numbers(inception):
    images = np.random.default_rng(0).random((2, 40, 40, 3)).astype(np.float32)
    a, b = O.channel("mixed3a:1"), O.neuron("3a:2")
    va, vb = objective_values(inception, [a, a], images), objective_values(inception, [b, b], images)
    combined = objective_values(inception, [2 * a - b / 4 + 1, -a], images)
    assert combined[0] == pytest.approx(2 * va[0] - vb[0] / 4 + 1, rel=1e-5)
    assert combined[1] == pytest.approx(-va[1], rel=1e-5)
    onehot = np.eye(256, dtype=np.float32)[1]
    dot = objective_values(inception, [O.direction("mixed3a", onehot)] * 2, images)
    assert dot == pytest.approx(va, rel=1e-5)
    assert str(2 * a - b) == "2 * channel(mixed3a:1) - neuron(3a:2)"
    with pytest.raises(UserError):
        O.direction("mixed3a", np.ones(5)).bind(inception.catalogue)


def test_diversity_penalises_alike_images_and_attribution_objective_rises(inception):
    same = np.repeat(np.random.default_rng(1).random((1, 40, 40, 3)).astype(np.float32), 3, axis=0)
    penalty = O.diversity("mixed3a", 10.0)
    assert objective_values(inception, [penalty] * 3, same) == pytest.approx([-20 / 3] * 3, rel=1e-4)
    attribution = O.attribution_norm("mixed3b:379", "mixed3a")
    result = render(inception, attribution, size=40, steps=6)
    assert result.end_values[0] > result.start_values[0] > 0
    with pytest.raises(UserError):
        O.attribution_norm("mixed3a:1", "mixed3b").bind(inception.catalogue)


def test_parameterisations_and_transforms():
    assert np.linalg.norm(COLOR_CORRELATION, axis=0).max() == pytest.approx(1.0)
    generator = torch.Generator().manual_seed(0)
    for kind in ("fourier", "pixel"):
        images = ImageParam(2, 20, kind, generator=generator)()
        assert images.shape == (2, 3, 20, 20) and (images - 0.5).abs().max() < 0.05
    gray = ImageParam(1, (12, 16), grayscale=True, alpha=True, generator=generator)()
    assert gray.shape == (1, 4, 12, 16) and torch.equal(gray[:, 0], gray[:, 2])
    x = torch.rand(2, 3, 10, 10)
    padded = Transforms([Pad(3)])(x, generator)
    assert padded.shape == (2, 3, 16, 16) and torch.allclose(padded[:, :, 3:13, 3:13], x, atol=1e-5)
    assert torch.allclose(padded[:, :, 0], torch.full_like(padded[:, :, 0], 0.5))
    shifted = Transforms([Jitter(2)])(x, generator)  # integer crops are exact
    crops = [x[..., i:i + 8, j:j + 8] for i in range(3) for j in range(3)]
    assert all(any(torch.allclose(shifted[b], c[b], atol=1e-5) for c in crops) for b in range(2))
    assert parse_transforms("standard").output_size((128, 128)) == (140, 140)
    assert len(parse_transforms("pad=4,jitter=2,scale=0.9:1.1,rotate=5").items) == 4
    with pytest.raises(UserError):
        parse_transforms("wobble=3")


def test_cache_round_trip_thumbnails_and_batches(inception):
    assert cache.lookup(inception, "mixed3a:4", 32, 3) is None and cache.thumbnail(inception, "mixed3a:4") is None
    image = cache.get_or_render(inception, "3a:4", size=32, steps=3)
    assert image.shape == (32, 32, 3)
    assert np.abs(cache.lookup(inception, "mixed3a:4", 32, 3) - image).max() <= 1 / 255 + 1e-6
    assert cache.thumbnail(inception, "mixed3a:4") is not None
    steps = []
    thumbs = cache.render_thumbnails(inception, ["mixed3a:4", "conv2d2:1", "mixed3a:6", "conv2d2:2"], size=24,
                                     steps=2, batch_size=2, progress=lambda s, t, p=None: steps.append((s, t)))
    assert [str(u) for u in thumbs] == ["mixed3a:4", "conv2d2:1", "mixed3a:6", "conv2d2:2"]
    assert thumbs[next(iter(thumbs))].shape == (32, 32, 3) and steps[-1] == (4, 4)
    vis = cache.visualise_units(inception, ["mixed3a:8"], cache.Settings(size=24, steps=2, diversity=2))[0]
    again = cache.visualise_units(inception, ["mixed3a:8"], cache.Settings(size=24, steps=2, diversity=2))[0]
    assert vis.images.shape == (2, 24, 24, 3) and again.cached and not vis.cached
    assert again.end_values == pytest.approx(vis.end_values, rel=1e-6)


def test_pruned_graph_matches_the_hooked_forward_and_inplace_models_fall_back(inception):
    from circuitloupe.core.activations import forward_until
    from circuitloupe.core.featurevis.graph import pruned_forward

    x = torch.rand(2, 3, 40, 40)
    layers = ["mixed3a", "mixed3b_5x5", "conv2d2"]
    pruned = pruned_forward(inception, layers)(x)
    hooked = forward_until(inception, x, layers)
    for layer in layers:
        assert torch.allclose(pruned[layer], hooked[layer], atol=1e-4, rtol=1e-4)
    inplace = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1))
    model = LoadedModel(name="inplace", net=inplace, input_size=(16, 16), preprocessing=Preprocessing((0.0,), (1.0,)),
                        hook_points={"conv": inplace[0], "relu": inplace[1], "out": inplace[2]}, weights_id="t",
                        weights_description="")
    assert pruned_forward(model, ["out"]) is None
    result = render(model, ["out:0", "out:1"], size=16, steps=3, transforms="none")
    assert result.images.shape == (2, 16, 16, 3)


def test_alpha_and_grayscale_images(inception):
    result = render(inception, "mixed3a:2", size=32, steps=2, alpha=True, grayscale=True, param="pixel")
    assert result.rgba.shape == (1, 32, 32, 4) and result.images.shape == (1, 32, 32, 3)
    assert np.allclose(result.rgba[0, ..., 0], result.rgba[0, ..., 1])
    assert 0 <= result.images.min() and result.images.max() <= 1


class _FunctionalReLU6(nn.Module):
    """conv -> F.relu6 (a functional call, no module) -> identity (the hook point)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv, self.out = conv, nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.nn.functional.relu6(self.conv(x)))


def dead_relu6_model(functional: bool) -> LoadedModel:
    """One 5x5 conv whose bias (-0.3) keeps its ReLU6 at zero on the grey images rendering starts from."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 5)
    with torch.no_grad():
        conv.weight.normal_(0, 0.2)
        conv.bias.fill_(-0.3)
    if functional:
        net = _FunctionalReLU6(conv)
        points = {"unit_pre_relu": conv, "unit": net.out}
    else:
        net = nn.Sequential(conv, nn.ReLU6())
        points = {"unit_pre_relu": conv, "unit": net[1]}
    return LoadedModel(name=f"dead-relu6-{functional}", net=net, input_size=(21, 21),
                       preprocessing=Preprocessing((0.5,) * 3, (1.0,) * 3), hook_points=points,
                       weights_id="handmade", weights_description="handmade")


@pytest.mark.parametrize("functional", [False, True], ids=["module", "functional"])
def test_redirection_wakes_a_relu6_unit_that_starts_dead(functional):
    model = dead_relu6_model(functional)
    plain = render(model, "unit:0", size=21, steps=16, transforms="none")
    redirected = render(model, "unit:0", size=21, steps=16, transforms="none", redirect_relu_steps=4)
    assert plain.start_values[0] == 0 and plain.end_values[0] == 0  # no gradient through a dead ReLU6
    assert plain.images.std() < 0.01  # flat grey
    assert redirected.end_values[0] > 0.02 and redirected.images.std() > 0.05
    # the cache (browser thumbnails, featurevis pane, featvis CLI) redirects the first quarter by default
    vis = cache.visualise_units(model, ["unit:0"], cache.Settings(size=21, steps=16, transforms="none"))[0]
    assert cache.redirect_steps(16) == 4 and vis.end_values[0] == pytest.approx(redirected.end_values[0])


def test_redirected_clamp_gradient_moves_inputs_back_into_range():
    from circuitloupe.core.featurevis.render import _RedirectedClamp

    x = torch.tensor([[-1.0, -1.0, 3.0, 7.0, 7.0]], requires_grad=True)
    grad = torch.tensor([[-1.0, 1.0, 2.0, 1.0, -1.0]])  # of the loss (minimised): -1 raises, +1 lowers
    _RedirectedClamp.apply(x, 0.0, 6.0).backward(grad)
    assert x.grad.tolist() == [[0.0, 0.0, 2.0, 0.0, 0.0]]  # plain ReLU6 gradient while some flows
    x.grad = None
    dead = torch.tensor([[-1.0, -1.0, 7.0, 7.0]], requires_grad=True)
    _RedirectedClamp.apply(dead, 0.0, 6.0).backward(torch.tensor([[-1.0, 1.0, 1.0, -1.0]]))
    assert dead.grad.tolist() == [[-1.0, 0.0, 1.0, 0.0]]  # only moves back into [0, 6] pass
