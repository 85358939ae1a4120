"""Universality: matching curve families across models by radial tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from circuitloupe.cli import main
from circuitloupe.core.errors import UserError
from circuitloupe.core.tuning import RadialTuning
from circuitloupe.core.universality import angle_difference, circular_correlation, coverage, match_families
from circuitloupe.tasks.compare_models import CompareModelsRequest

ANGLES = np.arange(0, 360, 0.5)


def bump(preferred: float, width: float = 40.0) -> np.ndarray:
    d = np.array([angle_difference(preferred, a) for a in ANGLES])
    return np.exp(-0.5 * (d / width) ** 2)


def family(preferred: list[float], name: str) -> list[RadialTuning]:
    return [RadialTuning(f"{name}:{i}", ANGLES, bump(p), p, 94.0, 0.5, 1.0) for i, p in enumerate(preferred)]


def test_circular_correlation_peaks_at_the_turn():
    p = bump(30.0)
    c = circular_correlation(p, np.roll(p, 20))
    assert int(np.argmax(c)) == 20 and c[20] == pytest.approx(1.0)
    assert c[0] < 0.99


def test_turned_family_matches_unit_for_unit_with_its_offset():
    a = family([0, 45, 90, 135, 180, 225, 270, 315], "a")
    b = family([p + 10 for p in (0, 45, 90, 135, 180, 225, 270, 315)][::-1], "b")  # shuffled order
    found = match_families(a, b, min_correlation=0.5, max_offset_deg=30)
    assert [(m.a, m.b) for m in found] == [(f"a:{i}", f"b:{7 - i}") for i in range(8)]
    assert all(m.matched and m.offset_deg == pytest.approx(10) and m.lag_deg == pytest.approx(10) for m in found)
    assert not any(m.matched for m in match_families(a, b, min_correlation=0.5, max_offset_deg=5))


def test_coverage_counts_units_per_45_degree_sector():
    assert coverage([0, 10, 50, 359]) == [2, 1, 0, 0, 0, 0, 0, 1]


@pytest.mark.parametrize("bad", [dict(models=("bundled",)), dict(layers=("conv4",)), dict(analysis="dogs"),
                                 dict(min_correlation=2.0)])
def test_bad_requests_are_one_line_errors(bad):
    with pytest.raises(UserError):
        CompareModelsRequest(**{"models": ("bundled", "bundled"), **bad})


def test_a_model_compared_with_itself_matches_every_unit_exactly(tmp_path, capsys):
    out, data = tmp_path / "cmp.png", tmp_path / "cmp.json"
    assert main(["compare-models", "--models", "bundled,bundled", "--layers", "conv4,conv4", "--orientations", "16",
                 "--radii", "2", "--out", str(out), "--json", str(data)]) == 0
    result = json.loads(data.read_text())
    matches = result["matches"]["bundled -> bundled"]
    assert matches and all(m["a"] == m["b"] and m["matched"] for m in matches)
    assert all(m["correlation"] == pytest.approx(1.0) and m["offset_deg"] == 0 for m in matches)
    assert [row["coverage"] for row in result["models"]][0] == [row["coverage"] for row in result["models"]][1]
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "pairs match" in capsys.readouterr().out
