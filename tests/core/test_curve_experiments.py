"""Angle-to-curve morph and generality on the bundled model's curve detectors."""

from __future__ import annotations

import numpy as np
import pytest

import circuitloupe as cl
from circuitloupe.core import curve_experiments as ce


@pytest.fixture(scope="module")
def bundled():
    return cl.load("bundled")


@pytest.fixture(scope="module")
def family(bundled):
    return bundled.families["curve detectors"][:3]


def test_morph_ends_at_the_plain_curve_response_and_rises_for_curve_detectors(bundled, family):
    result = ce.morph(bundled, family, steps=5)
    assert result.values.shape == (3, 5) and result.images.shape[:2] == (3, 5)
    assert np.allclose(result.values[:, -1], result.curve_response, rtol=0.01)
    assert (result.values[:, -1] > result.values[:, 0]).all()  # a curve beats the sharp angle
    assert result.to_json()["units"][0]["responses"] == pytest.approx(result.values[0].tolist())


def test_preferred_curve_is_the_sweeps_maximum(bundled, family):
    from circuitloupe.core.tuning import response_maps

    found = ce.preferred_curves(bundled, family[:1], orientations=12, radii=3)[0]
    rmap = response_maps(bundled, family[:1], "curve", 12, 3)[0]
    assert found.response == pytest.approx(float(rmap.values.max()))


def test_generality_is_normalised_by_the_black_on_white_response(bundled, family):
    result = ce.generality(bundled, family)
    assert result.styles[0] == "black on white" and np.allclose(result.values[:, 0], 1.0)
    assert result.values.shape == (3, len(result.styles)) == (3, result.images.shape[0])
    assert np.allclose(result.values * result.raw[:, :1], result.raw)
    assert ce.generality_figure(result).width > 400 and ce.morph_figure(ce.morph(bundled, family[:1], 3)).width > 200
