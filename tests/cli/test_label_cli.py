"""circuitloupe label new / stats / export on a small session."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from circuitloupe.cli import main
from circuitloupe.core.labeling import LabelSession, session_path
from image_folders import make_plain_folder

MODEL = ["--model", "inceptionv1", "--weights", "random:0", "--size", "64", "--workers", "0"]


pytestmark = pytest.mark.usefixtures("shared_inception")


@pytest.fixture
def labelled(tmp_path, capsys):
    folder = make_plain_folder(tmp_path / "plain", 3)
    assert main(["label", "new", "study", "3a:81", str(folder), *MODEL, "--bin-width", "0.25", "--per-bin", "3"]) == 0
    assert "study.labels:" in capsys.readouterr().out
    with LabelSession(session_path("study")) as session:
        names = session.label_set.names
        for n, item in enumerate(session.items[:8]):
            session.answer(item.id, names[n % 2], 1.0, labeller="ann")
            session.answer(item.id, names[n % 2] if n < 6 else names[2], 1.0, labeller="bob")
        session.skip(session.items[8].id, labeller="ann")
    return folder


def test_label_stats_writes_figure_and_json(labelled, tmp_path, capsys):
    out, stats = tmp_path / "stats.png", tmp_path / "stats.json"
    assert main(["label", "stats", "study", "--labeller", "ann", "--out", str(out), "--json", str(stats)]) == 0
    text = capsys.readouterr().out
    assert "ann: 8 labelled, 1 skipped" in text and "agreement ann / bob: 8 items, 75.0%" in text
    data = json.loads(stats.read_text())
    assert data["labelled"] == 8 and data["totals"] == {"curve": 4, "imperfect curve": 4, "unrelated": 0,
                                                         "opposing curve": 0}
    assert data["headline"].startswith("curve + imperfect curve: no share yet") and not data["supported"]
    assert any("fewer than 5 labelled items" in w for w in data["warnings"])
    assert sum(data["expected_value_shares"].values()) == pytest.approx(1.0)
    assert data["agreement"][0]["per_label"]["unrelated"]["count_b"] == 2
    assert Image.open(out).height > 600


def test_label_export_csv_and_json(labelled, tmp_path, capsys):
    table, dump = tmp_path / "answers.csv", tmp_path / "answers.json"
    assert main(["label", "export", "study", "--csv", str(table), "--json", str(dump)]) == 0
    rows = list(csv.DictReader(open(table)))
    assert len(rows) == 17 and {r["labeller"] for r in rows} == {"ann", "bob"}
    assert json.loads(dump.read_text())["unit"] == "mixed3a:81"
    assert main(["label", "export", "study", "--csv", str(table), "--labeller", "bob"]) == 0
    assert len(list(csv.DictReader(open(table)))) == 8


def test_label_errors_are_readable(labelled, tmp_path, capsys):
    assert main(["label", "stats", "nosuch"]) == 2
    assert "no labeling session" in capsys.readouterr().err
    assert main(["label", "export", "study"]) == 2
    assert "--csv" in capsys.readouterr().err
    assert main(["label", "new", "study", "3a:81", str(labelled), *MODEL]) == 2
    assert "already exists" in capsys.readouterr().err
    labels = tmp_path / "labels.txt"
    labels.write_text("*edge: an edge\nnothing: no edge\n")
    assert main(["label", "new", "edges", "3a:81", str(labelled), *MODEL, "--labels", str(labels),
                 "--over", "images", "--bin-width", "0.5", "--per-bin", "10"]) == 0
    with LabelSession(session_path("edges")) as session:
        assert session.label_set.names == ["edge", "nothing"] and len(session.items) == 3


def test_overwrite_with_a_mistake_keeps_the_old_session_byte_identical(labelled, tmp_path, capsys):
    path = session_path("study")
    before = path.read_bytes()
    binary = tmp_path / "labels.bin"
    binary.write_bytes(bytes(range(256)))
    mistakes = [["mixed3a", str(labelled)], ["3a:81", str(labelled), "--low", "1000"],
                ["3a:81", str(labelled), "--low", "2", "--high", "1"], ["3a:81", str(tmp_path / "nosuch")],
                ["3a:81", str(labelled), "--bin-width", "1e-9"], ["3a:81", str(labelled), "--labels", str(binary)]]
    for mistake in mistakes:
        assert main(["label", "new", "study", *mistake, *MODEL, "--overwrite"]) == 2, mistake
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("circuitloupe") and ": error: " in err, err
        assert path.read_bytes() == before, mistake
    assert main(["label", "new", "study", "3a:81", str(labelled), *MODEL, "--overwrite", "--per-bin", "2"]) == 0
    with LabelSession(path) as session:
        assert session.labellers() == [] and session.info.plan.per_bin == 2


def test_a_damaged_session_is_one_line(labelled, capsys):
    path = session_path("study")
    data = bytearray(path.read_bytes())
    data[4096:] = bytes(len(data) - 4096)  # every page after the first zeroed
    path.write_bytes(bytes(data))
    assert main(["label", "stats", "study"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err


def test_label_new_bins_follow_the_unit_unless_a_width_is_given(labelled, capsys):
    assert main(["label", "new", "auto", "3a:81", str(labelled), *MODEL, "--per-bin", "2"]) == 0
    with LabelSession(session_path("auto")) as session:
        width, bins = session.info.plan.bin_width, len({item.bin for item in session.items})
    assert width < 1 and bins >= 10 and f"over {bins} bins of {width:g} " in capsys.readouterr().out
    assert main(["label", "new", "article", "3a:81", str(labelled), *MODEL, "--bin-width", "100"]) == 0
    assert "bins of 100 " in capsys.readouterr().out
    assert main(["label", "new", "few", "3a:81", str(labelled), *MODEL, "--bins", "1"]) == 2
    assert "argument --bins: must be from 2 to 1000, not 1" in capsys.readouterr().err


def test_label_stats_warns_when_bins_hold_too_few_items(labelled, capsys):
    assert main(["label", "stats", "study", "--labeller", "ann"]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "fewer than 5 labelled items" in captured.err
    assert "curve + imperfect curve: no share yet" in captured.out and "of the expected value" not in captured.out
