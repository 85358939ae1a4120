"""find_curves: handmade curve templates are found with the right orientations; real weights;
the receptive-field centre that the curves are drawn on."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core import curve_finder
from circuitloupe.core.annotations import AnnotationStore
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from curve_templates import ORIENTATIONS, template_model


@pytest.fixture(scope="module")
def templates():
    return template_model()


def test_handmade_curve_detectors_form_the_family(templates):
    steps = []
    search = curve_finder.find_curves(templates, "curves", orientations=36, curvatures=2,
                                      progress=lambda s, t, p=None: steps.append((s, t)))
    assert search.measured == "curves_pre_relu"
    assert search.settings["centre_xy"] == [16.5, 16.5]  # the middle of the 31 px window
    assert [s.channel for s in search.family] == [0, 1, 2, 3]  # ordered by preferred orientation
    for score, expected in zip(search.family, ORIENTATIONS):
        offset = (score.preferred - expected + 180) % 360 - 180
        assert abs(offset) < 1, (score.channel, score.preferred)
        assert score.selectivity > 0.9 and score.curve_vs_line > 2 and score.peak_to_mean > 5
    line, dot = search.scores[4], search.scores[5]
    assert not line.candidate and line.curve_vs_line < 0.5  # a straight stroke drives it as well
    assert not dot.candidate
    assert search.coverage_gap() < 110
    assert steps == [(1, 3), (2, 3), (3, 3)]  # photo statistics, then 36 x (2 + 1) curves in 2 batches
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


# Preferred orientations (degrees) of the preset family from the full sweep (36 orientations x
# 5 radii, `circuitloupe find-curves block7_depthwise`, see the README).
PRESET_PREFERRED = {51: 48.5, 393: 52.0, 391: 89.9, 115: 129.8, 142: 157.9, 441: 195.1, 108: 202.3,
                    374: 234.1, 352: 255.1, 309: 326.1}


def test_efficientnet_block7_curve_family_holds_in_a_cut_down_sweep(efficientnet):
    from circuitloupe.core.models.efficientnet_entry import FAMILIES

    assert FAMILIES[0]["curve detectors"] == [f"block7_depthwise:{c}" for c in PRESET_PREFERRED]  # Lite0's
    # one radius (23.5 px, which most members prefer) at 20-degree steps: a tenth of the full sweep
    search = curve_finder.find_curves(efficientnet, "block7_depthwise", orientations=18, curvatures=[23.5])
    assert search.measured == "block7_depthwise_pre_relu" and len(search.scores) == 480
    # TF "same" padding: the centre unit's 115 px window is centred 15.5 px right of and below the middle
    assert search.settings["centre_xy"] == [127.5, 127.5]
    found = [c for c in PRESET_PREFERRED if search.scores[c].candidate]
    assert len(found) >= 8
    for channel in found:
        offset = (search.scores[channel].preferred - PRESET_PREFERRED[channel] + 180) % 360 - 180
        assert abs(offset) < 20, (channel, search.scores[channel].preferred)
    assert len(search.candidates) > 30 and search.family_units()[0].layer == "block7_depthwise"
