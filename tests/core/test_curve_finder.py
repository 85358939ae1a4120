"""find_curves: handmade curve templates are found with the right orientations; real weights;
the receptive-field centre that the curves are drawn on."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core import curve_finder
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.units import UnitRef
from curve_templates import ORIENTATIONS, template_model


@pytest.fixture(scope="module")
def templates():
    return template_model()


def test_handmade_curve_detectors_form_the_family(templates):
    steps = []
    search = curve_finder.find_curves(templates, "curves", orientations=36, curvatures=3,
                                      progress=lambda s, t, p=None: steps.append((s, t)))
    assert search.measured == "curves_pre_relu"
    assert search.settings["centre_xy"] == [16.5, 16.5]  # the middle of the 31 px window
    assert [s.channel for s in search.family] == [0, 1, 2, 3]  # ordered by preferred orientation
    for score, expected in zip(search.family, ORIENTATIONS):
        offset = (score.preferred - expected + 180) % 360 - 180
        assert abs(offset) < 10, (score.channel, score.preferred)
        assert score.selectivity > 0.5 and score.curve_vs_line > 1 and score.peak_to_mean > 2
    line, dot = search.scores[4], search.scores[5]
    assert not line.candidate and line.curve_vs_line < 0.5  # a straight stroke drives it as well
    assert not dot.candidate
    assert search.coverage_gap() < 110
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # photo statistics, then 36 x (3 + 1) curves: 3 batches
    assert search.settings["min_width_deg"] == 15.0  # 1.5 orientation steps
    data = search.to_json()
    assert data["family"] == ["curves:0", "curves:1", "curves:2", "curves:3"]
    assert len(data["units"]) == 6 and json.dumps(data)


def test_top_limits_the_family_to_the_most_selective(templates):
    search = curve_finder.find_curves(templates, "curves", top=2, orientations=36, curvatures=2)
    best = sorted((s for s in search.scores if s.candidate), key=lambda s: -s.score)[:2]
    assert {s.channel for s in search.family} == {s.channel for s in best}


def test_figure_and_saved_family(templates):
    search = curve_finder.find_curves(templates, "curves", orientations=36, curvatures=2)
    image = curve_finder.curve_family_figure(search, scale=0.5)
    assert image.width > image.height > 150
    assert curve_finder.curve_family_figure(search, scale=1.0).height > image.height
    name = curve_finder.save_family(templates, search)
    assert name == "curves curves"
    assert AnnotationStore.for_model(templates).families()[name] == search.family_units()


def test_cancel_and_bad_input(templates):
    with pytest.raises(Cancelled):
        curve_finder.find_curves(templates, "curves", orientations=4, curvatures=1, should_stop=lambda: True)
    with pytest.raises(UserError, match="no layer"):
        curve_finder.find_curves(templates, "curvez")
    with pytest.raises(UserError, match="--top"):
        curve_finder.find_curves(templates, "curves", top=0)


def test_real_efficientnet_layer_has_curve_units(efficientnet):
    model = efficientnet
    search = curve_finder.find_curves(model, "block4_depthwise", top=4, orientations=8, curvatures=1)
    assert search.measured == "block4_depthwise_pre_relu" and len(search.scores) == 144
    # TF "same" padding puts the centre unit's window (35 px) at rows/columns 102..136
    assert search.settings["centre_xy"] == [119.5, 119.5]
    assert len(search.family) == 4
    assert all(s.selectivity >= 0.3 and s.peak_sigma >= 2 for s in search.family)
    assert search.family_units()[0] == UnitRef("block4_depthwise", search.family[0].channel)
