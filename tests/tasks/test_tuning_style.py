"""The stimulus style of the tuning task, checked on a hand-made unit whose value is the mean
brightness of (almost) the whole image: light on dark is the negative of dark on light, a uniform
style gives its grey level in every sweep, and filling, widening and texturing darken the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from circuitloupe.core import stimuli
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel
from circuitloupe.tasks import TaskContext, TuningRequest, run

SIZE = 32


def brightness_model() -> LoadedModel:
    """One unit: the mean of the 31 x 31 pixels (all three channels) around the centre position."""
    k = SIZE - 1
    conv = nn.Conv2d(3, 1, k, padding=k // 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0 / (3 * k * k))
    net = nn.Sequential(conv)
    return LoadedModel("brightness", net, (SIZE, SIZE), UNIT_RANGE, {"mean": net[0]}, "brightness",
                       "mean brightness")


@pytest.fixture(scope="module")
def model():
    return brightness_model()


def tuning(model, **fields):
    return run(TaskContext(model), TuningRequest(units=("mean:0",), orientations=8, curvatures=2, **fields))


def test_light_on_dark_is_the_negative_of_dark_on_light(model):
    images = stimuli.curves([0, 45, 90], [6.0, 12.0, np.inf], SIZE, **stimuli.StimulusStyle().arguments(SIZE))
    inverted = stimuli.curves([0, 45, 90], [6.0, 12.0, np.inf], SIZE,
                              **stimuli.StimulusStyle(invert=True).arguments(SIZE))
    assert np.allclose(inverted, 1.0 - images, atol=1e-6)
    for stimulus in ("curve", "angle"):
        plain = tuning(model, stimulus=stimulus).maps[0].values
        negative = tuning(model, stimulus=stimulus, invert=True).maps[0].values
        assert plain.max() < 1.0 and np.allclose(negative, 1.0 - plain, atol=1e-4)


def test_a_uniform_style_gives_its_grey_level_in_every_sweep(model):
    grey = {"fg": "0.3", "bg": "0.3"}
    assert np.allclose(tuning(model, **grey).maps[0].values, 0.3, atol=1e-4)
    assert np.allclose(tuning(model, stimulus="angle", filled=True, **grey).maps[0].values, 0.3, atol=1e-4)
    morph = tuning(model, stimulus="morph", steps=3, **grey).experiment
    assert np.allclose(morph.values, 0.3, atol=1e-4) and np.allclose(morph.images, 0.3, atol=1e-6)
    joint = tuning(model, figure="joint", step=45.0, **grey).joint
    assert np.allclose(joint.curves, 0.3, atol=1e-4)


def test_filling_widening_and_texture_darken_a_dark_on_light_curve(model):
    plain = tuning(model).maps[0].values
    for style in ({"filled": True}, {"stroke_width": 4.0}, {"texture": True}):
        values = tuning(model, **style).maps[0].values
        assert (values <= plain + 1e-4).all() and values.mean() < plain.mean() - 1e-3, style
    assert np.allclose(tuning(model, fg="white", bg="black").maps[0].values, 1.0 - plain, atol=1e-4)


@pytest.mark.parametrize("bad", [dict(fg="reddish"), dict(bg="1.5"), dict(stroke_width=0.0),
                                 dict(figure="generality", invert=True), dict(step=0.0)])
def test_bad_styles_are_one_line_errors(bad):
    with pytest.raises(UserError):
        TuningRequest(units=("conv4:1",), **bad)
