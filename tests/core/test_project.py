"""Project files: round trip, atomic save, newer/corrupt files refused without being touched,
autosave beside (never over) the project, recent list."""

from __future__ import annotations

import json
import os

import pytest

from circuitloupe.core import project as proj
from circuitloupe.core.project import Project, ProjectError, load_project, save_project


def full_project() -> Project:
    return Project(model_spec="inceptionv1", weights="random:0", images=["/data/a.png", "sample:chelsea"],
                   current_unit="mixed3b:379", families={"my curves": ["mixed3b:379", "mixed3b:385"]},
                   notes="curve detectors ✓\nsecond line", label_sessions=["3", "/x/session.sqlite"],
                   panes={"featurevis": {"steps": 256}}, layout="AAAA/w==", geometry="AdnQyw==", theme="dark")


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "study.loupe"
    original = full_project()
    save_project(original, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "circuitloupe-project" and data["schema_version"] == proj.SCHEMA_VERSION
    assert data["saved_by"].startswith("circuitloupe ")
    assert load_project(path) == original


def test_missing_fields_take_defaults_and_unknown_fields_are_ignored(tmp_path):
    path = tmp_path / "old.loupe"
    path.write_text(json.dumps({"format": "circuitloupe-project", "schema_version": 1,
                                "model_spec": "bundled", "something_new": 5}))
    loaded = load_project(path)
    assert loaded.model_spec == "bundled" and loaded.images == [] and loaded.notes == ""


@pytest.mark.parametrize("content, words", [
    (b"{\"format\": \"circuitloupe-project\", \"schema_version\": 1, \"images\": [", "corrupt (invalid JSON at line 1"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2, 3]", "not a Circuit Loupe project"),
    (b"{\"format\": \"circuitloupe-project\", \"schema_version\": \"one\"}", "no valid schema_version"),
    (b"{\"format\": \"circuitloupe-project\", \"schema_version\": 1, \"images\": \"a.png\"}",
     "field \"images\" should be a list"),
    (b"{\"format\": \"circuitloupe-project\", \"schema_version\": 99, \"saved_by\": \"circuitloupe 9.0\"}",
     "saved by circuitloupe 9.0 with project format 99"),
])
def test_bad_files_give_one_sentence_and_stay_untouched(tmp_path, content, words):
    path = tmp_path / "bad.loupe"
    path.write_bytes(content)
    before = os.stat(path).st_mtime_ns
    with pytest.raises(ProjectError) as caught:
        load_project(path)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert path.read_bytes() == content and os.stat(path).st_mtime_ns == before


def test_missing_file_is_a_readable_error(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "nowhere.loupe")


def test_save_is_atomic_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "study.loupe"
    save_project(Project(notes="first"), path)

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_project(Project(notes="second"), path)
    monkeypatch.undo()
    assert load_project(path).notes == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["study.loupe"]  # no temp file left behind


def test_autosave_goes_beside_never_over_the_project(tmp_path):
    path = tmp_path / "study.loupe"
    save_project(Project(notes="saved"), path)
    old = path.stat().st_mtime
    os.utime(path, (old - 10, old - 10))
    written = proj.autosave(Project(notes="unsaved edits"), path)
    assert written != path and written.parent.name == "autosave"
    assert load_project(path).notes == "saved"
    assert proj.newer_autosave(path) == written and load_project(written).notes == "unsaved edits"
    save_project(Project(notes="saved again"), path)  # the project is newer now
    assert proj.newer_autosave(path) is None
    proj.discard_autosave(path)
    assert not written.exists()
    assert proj.autosave_path(None).name == "untitled.loupe"
    assert proj.autosave_path(tmp_path / "a" / "x.loupe") != proj.autosave_path(tmp_path / "b" / "x.loupe")


def test_recent_projects_newest_first_deduplicated_existing_only(tmp_path):
    paths = [tmp_path / f"p{i}.loupe" for i in range(proj.MAX_RECENT + 2)]
    for path in paths:
        save_project(Project(), path)
        proj.add_recent_project(path)
    proj.add_recent_project(paths[3])
    recent = proj.recent_projects()
    assert recent[0] == paths[3].resolve() and len(recent) == proj.MAX_RECENT
    assert len(set(recent)) == len(recent)
    paths[-1].unlink()
    assert paths[-1].resolve() not in proj.recent_projects()
    proj.forget_recent_project(paths[3])
    assert paths[3].resolve() not in proj.recent_projects()


def test_a_plain_save_refuses_to_replace_an_unreadable_or_newer_file(tmp_path):
    good, newer, broken = tmp_path / "good.loupe", tmp_path / "newer.loupe", tmp_path / "broken.loupe"
    save_project(Project(), good)
    newer.write_text(json.dumps({"format": "circuitloupe-project", "schema_version": 7}))
    broken.write_text("{not json")
    proj.check_can_overwrite(good)
    proj.check_can_overwrite(tmp_path / "new.loupe")
    for path in (newer, broken):
        with pytest.raises(ProjectError, match="not saving over .*use Save As"):
            proj.check_can_overwrite(path)
