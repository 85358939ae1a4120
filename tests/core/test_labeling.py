"""Labeling: stratified sampling, a session that survives SIGKILL, statistics against hand-computed values."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from circuitloupe.core import dataset as ds
from circuitloupe.core import labeling as lb
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling.figures import VIEWS, positive_summary, view_figure
from circuitloupe.core.labeling.stats import UNLABELLED
from image_folders import make_plain_folder
from support import foreign_database

UNIT = "mixed3a:81"
SETTINGS = ds.ScanSettings(size=(64, 64), batch_size=8)


@pytest.fixture
def session(inception, tmp_path):
    folder = make_plain_folder(tmp_path / "plain", 4)
    cache = ds.scan(inception, UNIT, folder, SETTINGS).cache
    plan = lb.SamplingPlan(bin_width=0.25, per_bin=4, seed=3)
    with lb.create_session(tmp_path / "s.labels", inception, UNIT, cache, plan, weights="random:0") as made:
        assert made.info.unit == UNIT and made.info.receptive.size == (59, 59)
    opened = lb.LabelSession(tmp_path / "s.labels")
    yield opened
    opened.close()


def test_stratified_sampling_gives_the_requested_counts_per_bin():
    values = np.concatenate([np.full(100, 5.0), np.full(30, 15.0), np.full(5, 25.0), np.full(50, -5.0)])
    plan = lb.SamplingPlan(bin_width=10, per_bin=20, seed=1)
    picked = lb.stratified_sample(values, plan)
    bins, counts = np.unique(lb.bin_of(values[picked], 10), return_counts=True)
    assert dict(zip(bins.tolist(), counts.tolist())) == {-1: 20, 0: 20, 1: 20, 2: 5}
    assert len(set(picked.tolist())) == len(picked)  # without replacement
    assert np.array_equal(picked, lb.stratified_sample(values, plan))  # reproducible
    assert not np.array_equal(picked, lb.stratified_sample(values, lb.SamplingPlan(10, 20, seed=2)))
    assert not np.all(np.diff(lb.bin_of(values[picked], 10)) >= 0)  # shuffled, not grouped by bin
    limited = lb.stratified_sample(values, lb.SamplingPlan(10, 20, seed=1, low=0, high=20))
    assert sorted(set(lb.bin_of(values[limited], 10).tolist())) == [0, 1]
    with pytest.raises(UserError):
        lb.SamplingPlan(bin_width=0)


def test_session_items_follow_the_plan(session):
    values = np.array([item.value for item in session.items])
    bins = lb.bin_of(values, 0.25)
    assert np.array_equal(bins, [item.bin for item in session.items])
    available = session.info.dataset_bins
    for number, count in zip(*np.unique(bins, return_counts=True)):
        assert count == min(4, available.counts[number - available.first])
    assert available.counts.sum() == 4 * 64
    assert len({(i.relpath, i.y, i.x) for i in session.items}) == len(session.items)


CHILD = textwrap.dedent("""
    import sys
    from circuitloupe.core.labeling import LabelSession
    session = LabelSession(sys.argv[1])
    names = session.label_set.names
    for n, item in enumerate(session.items[:7]):
        session.answer(item.id, names[n % len(names)], seconds=0.5 + n)
        print("answered", item.id, names[n % len(names)], flush=True)
    session.skip(session.items[7].id, seconds=2.0)
    print("skipped", session.items[7].id, flush=True)
    session.answer(session.items[8].id, names[0])
    print("undone", session.undo().id, flush=True)
    sys.stdin.read()  # wait, with the session open, until killed
""")


def test_answers_survive_sigkill_of_the_labelling_process(session):
    path = str(session.path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        lines = [child.stdout.readline().split() for _ in range(9)]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert [line[0] for line in lines] == ["answered"] * 7 + ["skipped", "undone"]
    with lb.LabelSession(path) as reopened:
        answers = reopened.answers()
        expected = {int(line[1]): " ".join(line[2:]) for line in lines[:7]}
        assert {k: a.label for k, a in answers.items() if a.label is not None} == expected
        assert answers[int(lines[7][1])].label is None and answers[int(lines[7][1])].seconds == 2.0
        assert reopened.items[8].id not in answers  # the undone answer stays undone
        assert [answers[i.id].seconds for i in reopened.items[:7]] == [0.5 + n for n in range(7)]
        assert reopened.progress() == (7, 1, len(reopened.items))
        assert reopened.next_open() == 8  # resume at the first item without an answer


def test_undo_skip_and_resume_in_process(session):
    first, second = session.items[0], session.items[1]
    session.answer(first.id, "curve", 1.5)
    session.skip(second.id, 0.5)
    assert session.next_open() == 2
    assert session.undo() == second and session.next_open() == 1
    session.answer(first.id, "unrelated", 1.0)  # changing an answer
    assert session.answers()[first.id].label == "unrelated"
    assert session.undo() == first and session.answers()[first.id].label == "curve"
    assert session.progress() == (1, 0, len(session.items))
    assert session.rate() > 0
    with pytest.raises(UserError):
        session.answer(first.id, "banana")


def test_statistics_match_hand_computed_values():
    dataset = lb.DatasetBins.from_values(np.array([-150, -50, 50, 50, 150, 250.0]), 100)
    assert (dataset.first, dataset.counts.tolist(), dataset.relu_sums.tolist()) == (-2, [1, 1, 2, 1, 1],
                                                                                   [0, 0, 100, 150, 250])
    names = ["curve", "unrelated"]
    numbers, counts = lb.label_counts([0, 0, 1, 1, -1], ["curve", "unrelated", "curve", None, "unrelated"], names)
    assert numbers.tolist() == [-1, 0, 1] and counts.tolist() == [[0, 1], [1, 1], [1, 0]]
    props = lb.proportions(counts)
    shares = lb.expected_value_shares(dataset, numbers, props, names)
    # bin 0: relu sum 100, half curve; bin 1: 150, all curve; bin 2: 250, no labels.
    assert shares == pytest.approx({"curve": 0.4, "unrelated": 0.1, UNLABELLED: 0.5})
    a = ["c", "c", "u", "u", "o", "c"]
    b = ["c", "u", "u", "u", "o", "c"]
    assert lb.cohen_kappa(a, b) == pytest.approx(17 / 23)  # po = 5/6, pe = 13/36
    result = lb.agreement(a, b, ["c", "u", "o"])
    assert result["percent"] == pytest.approx(500 / 6)
    assert result["per_label"]["c"]["kappa"] == pytest.approx(2 / 3)  # po = 5/6, pe = 1/2
    assert result["per_label"]["o"]["kappa"] == pytest.approx(1.0)
    assert lb.cohen_kappa(["x", "x"], ["x", "x"]) is None  # undefined: chance agreement is 1


def test_session_results_and_agreement_of_two_labellers(session):
    names = session.label_set.names
    for n, item in enumerate(session.items[:12]):
        session.answer(item.id, names[n % 4], labeller="ann")
        session.answer(item.id, names[n % 4] if n < 9 else names[(n + 1) % 4], labeller="bob")
    results = session.results("ann")
    assert results.counts.sum() == 12
    for number, row in zip(results.numbers, results.counts):
        labelled = [names[n % 4] for n, i in enumerate(session.items[:12]) if i.bin == number]
        assert row.tolist() == [labelled.count(name) for name in names]
    assert sum(results.shares.values()) == pytest.approx(1.0)
    assert results.positive_share == pytest.approx(results.shares["curve"] + results.shares["imperfect curve"])
    assert positive_summary(results, session.label_set).startswith("curve + imperfect curve: no share yet")  # 4 a bin
    pair = session.agreement("ann", "bob")
    assert pair["items"] == 12 and pair["percent"] == pytest.approx(75.0)
    assert pair["kappa"] == pytest.approx(lb.cohen_kappa([names[n % 4] for n in range(12)],
                                                         [names[n % 4] if n < 9 else names[(n + 1) % 4]
                                                          for n in range(12)]))
    assert session.labellers() == ["ann", "bob"]
    for view in ("results", "log-density"):
        assert view in VIEWS and view_figure(results, session.label_set, view, scale=0.5).height > 100


def test_label_sets_edit_and_export(session, tmp_path):
    text = lb.CURVE_LABELS.to_text()
    assert text.splitlines()[0].startswith("*curve: A curve with the feature visualisation's orientation")
    assert lb.LabelSet.from_text(text, "curve") == lb.LabelSet("curve", tuple(
        lb.Label(l.name, l.description, "", l.positive) for l in lb.CURVE_LABELS.labels))
    session.answer(session.items[0].id, "unrelated", 2.0)
    session.skip(session.items[1].id)
    edited = lb.LabelSet.from_text("*curve: c\n*imperfect curve: i\nno curve: n\nopposing curve: o\nline: l")
    session.set_label_set(edited, renames={"unrelated": "no curve"})
    assert session.answers()[session.items[0].id].label == "no curve"
    with pytest.raises(UserError):
        session.set_label_set(lb.LabelSet.from_text("curve: c"))
    assert lb.LabelSession(session.path).label_set.names[-1] == "line"
    assert session.export_csv(tmp_path / "a.csv") == 2
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert rows[0]["label"] == "no curve" and rows[0]["seconds"] == "2.0" and rows[1]["skipped"] == "True"
    assert session.export_json(tmp_path / "a.json") == 2
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["unit"] == UNIT and data["answers"][0]["file"] == session.items[0].relpath
    with pytest.raises(UserError):
        lb.LabelSession(tmp_path / "a.csv")


def test_reference_is_the_units_feature_visualisation(session, inception):
    from circuitloupe.core.featurevis import cache
    from circuitloupe.core.labeling.reference import cached_reference, is_session_model, render_reference
    from circuitloupe.core.models import load_model

    info = session.info
    assert is_session_model(inception, info) and cached_reference(inception, info) is None
    rendered = render_reference(inception, info, size=32, steps=2)  # nothing cached: renders and caches
    assert rendered.shape == (32, 32, 3) and 0 <= rendered.min() and rendered.max() <= 1
    assert np.allclose(cached_reference(inception, info), rendered, atol=1 / 255)
    assert np.array_equal(render_reference(inception, info), cache.thumbnail(inception, UNIT))  # cached: reused
    other = load_model("bundled")
    assert not is_session_model(other, info)
    with pytest.raises(UserError, match="sampled with inceptionv1"):
        cached_reference(other, info)


def test_a_session_with_damaged_pages_is_one_readable_error(session):
    labels = session.label_set.names
    for n in range(1000):
        session.answer(session.items[n % len(session.items)].id, labels[n % 2], 1.0, labeller=f"l{n % 7}")
    path = session.path
    session.close()
    size = path.stat().st_size
    assert size > 8 * 4096 and not os.path.exists(f"{path}-wal")
    with open(path, "r+b") as file:  # pages 3..5 overwritten; the header and the first pages intact
        file.seek(2 * 4096)
        file.write(np.random.default_rng(1).bytes(3 * 4096))
    with pytest.raises(UserError) as caught:
        lb.LabelSession(path)
    assert "is damaged" in str(caught.value) and "\n" not in str(caught.value)


def test_a_database_of_another_program_is_refused_untouched(tmp_path):
    foreign = tmp_path / "photos.labels"
    before = foreign_database(foreign, "CREATE TABLE meta (key TEXT, value TEXT)", "CREATE TABLE photos (name TEXT)")
    with pytest.raises(UserError, match="not a labeling session: .* another program"):
        lb.LabelSession(foreign)
    assert foreign.read_bytes() == before and not os.path.exists(f"{foreign}-wal")  # never switched to WAL
    noise = tmp_path / "noise.labels"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="not a readable database"):
        lb.LabelSession(noise)


def test_overwriting_replaces_a_session_only_with_a_complete_one(session, inception, tmp_path):
    session.answer(session.items[0].id, session.label_set.names[0])
    path = session.path
    session.close()
    before = path.read_bytes()
    cache = ds.open_dataset(inception, UNIT, tmp_path / "plain", SETTINGS)
    mistakes = [("mixed3a", lb.SamplingPlan(0.25, 4)), (UNIT, lb.SamplingPlan(0.25, 4, low=1000.0)),
                (UNIT, lb.SamplingPlan(0.25, 4, low=1.0, high=0.0)), (UNIT, lb.SamplingPlan(1e-12, 4))]
    for unit, plan in mistakes:
        with pytest.raises(UserError):
            lb.create_session(path, inception, unit, cache, plan, overwrite=True)
        assert path.read_bytes() == before, (unit, plan)
    with lb.create_session(path, inception, UNIT, cache, lb.SamplingPlan(0.5, 2), overwrite=True) as fresh:
        assert fresh.answers() == {} and fresh.info.plan.bin_width == 0.5
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(("s.labels", ".s.labels"))) == [
        "s.labels"]


# ----------------------------------------------------------------------------- bins follow the unit's scale
def spread(seed: int = 0, low: float = -7.8, high: float = 9.2, n: int = 12348) -> np.ndarray:
    """Values shaped like EfficientNet-Lite0 block7_depthwise:441's: about half negative, range low..high."""
    values = np.clip(np.random.default_rng(seed).normal(0.0, 2.5, n), low, high)
    values[:2] = low, high
    return values


def test_default_bins_follow_the_units_observed_range():
    values = spread()
    plan = lb.SamplingPlan(per_bin=20, seed=1)
    assert plan.resolved(values).bin_width == 1.0
    picked = lb.stratified_sample(values, plan)
    bins = sorted(set(lb.bin_of(values[picked], 1.0).tolist()))
    assert len(bins) >= 15 and bins[0] == -8 and bins[-1] == 9
    article = lb.stratified_sample(values, lb.SamplingPlan(bin_width=100, per_bin=20, seed=1))
    assert sorted(set(lb.bin_of(values[article], 100).tolist())) == [-1, 0] and len(article) == 40
    assert lb.SamplingPlan().resolved(np.array([-1000.0, 950.0])).bin_width == 100  # 3b:379: the article's bins
    barely = lb.SamplingPlan(bins=20).resolved(np.array([-10.0, 1.0]))  # fires a little: still 4 firing bins
    assert barely.bin_width == 0.25
    assert lb.SamplingPlan(bin_width=2.0).resolved(values).bin_width == 2.0
    with pytest.raises(UserError, match="at least 2 bins"):
        lb.SamplingPlan(bins=1)


def test_a_session_samples_default_bins_over_the_units_range(session, inception):
    folder = make_plain_folder(session.path.parent / "plain", 4)  # the fixture's folder: its cache is reused
    cache = ds.scan(inception, UNIT, folder, SETTINGS).cache
    with lb.create_session(session.path.parent / "auto.labels", inception, UNIT, cache, lb.SamplingPlan(per_bin=2),
                           weights="random:0") as auto:
        width, dataset = auto.info.plan.bin_width, auto.info.dataset_bins
        assert width < 0.2 and len({item.bin for item in auto.items}) >= 12
        assert dataset.low == pytest.approx(cache.values(81, "pre").min())
        assert lb.LabelSession(auto.path).info.plan.bin_width == width  # the chosen width is kept


def results_of(values: np.ndarray, width: float, labels_in_bin) -> lb.LabelResults:
    """Results with ``labels_in_bin(bin)`` items labelled in each bin, alternately curve / unrelated."""
    dataset = lb.DatasetBins.from_values(values, width)
    names = ["curve", "unrelated"]
    bins = [int(b) for b, c in zip(dataset.numbers, dataset.counts) for _ in range(min(int(c), labels_in_bin(b)))]
    labels = [names[i % 2] for i in range(len(bins))]
    numbers, counts = lb.label_counts(bins, labels, names)
    props = lb.proportions(counts)
    shares = lb.expected_value_shares(dataset, numbers, props, names)
    return lb.LabelResults(names, width, numbers, counts, props, shares, shares["curve"], dataset)


def test_the_headline_needs_bins_that_support_it():
    from circuitloupe.core.labeling.figures import support, x_range

    values, label_set = spread(), lb.LabelSet.from_text("*curve: c\nunrelated: u")
    coarse = results_of(values, 100.0, lambda b: 50)  # all 12,348 values in 2 bins
    assert not support(coarse).supported and "fall in 1 bin(s) of 100" in support(coarse).warnings[0]
    assert positive_summary(coarse, label_set) == "curve: no share yet (the bins do not support one; see the warnings)"
    low, high = x_range(coarse)
    assert -9 < low < -7.8 and 9.2 < high < 10  # plots span the data, not the bins' -100 .. 100
    fine = results_of(values, 1.0, lambda b: 10)
    assert support(fine).supported and support(fine).warnings == ()
    assert positive_summary(fine, label_set) == f"curve = {fine.positive_share:.0%}"
    thin_tail = results_of(values, 1.0, lambda b: 2 if b >= 3 else 10)
    check, dataset = support(thin_tail), thin_tail.dataset
    thin = [b for b, c in zip(dataset.numbers, dataset.counts) if b >= 3 and c > 2]  # a bin of 2 is complete
    assert not check.supported and check.thin_bins == len(thin) >= 4 and check.thin_share > 0.1
    assert check.warnings == (f"{len(thin)} of 18 bins hold fewer than 5 labelled items; they carry "
                              f"{check.thin_share:.0%} of the expected value",)
    assert "no share yet" in positive_summary(thin_tail, label_set)
    assert view_figure(coarse, label_set, "results", scale=0.5).height > 100


def test_controller_answers_undoes_and_exports_like_the_cli(session, tmp_path):
    from circuitloupe.core.labeling.controller import LabelingController

    clock = iter(range(0, 1000, 2))
    control = LabelingController(session, "ann", clock=lambda: float(next(clock)))
    first = control.current
    assert control.index == 0 and control.caption() == f"item 1 of {len(session.items)} · not answered"
    answer = control.answer(0)
    assert answer.label == "curve" and answer.seconds == 2.0 and control.index == 1
    assert control.confirmation(answer) == "✓ item 1: curve (saved)"
    assert control.answer(9) is None and control.index == 1  # no such label: nothing written
    assert control.undo() == first and control.index == 0
    assert control.answer_to(first) is None and "not answered" in control.caption()
    control.skip()
    control.move(-5)
    assert control.index == 0 and "skipped" in control.caption()
    assert control.break_due(1) and not control.break_due(1)
    assert control.export_csv(tmp_path / "pane.csv") == 1
    session.export_csv(tmp_path / "cli.csv")
    assert (tmp_path / "pane.csv").read_text() == (tmp_path / "cli.csv").read_text()
