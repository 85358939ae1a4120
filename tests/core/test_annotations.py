"""Notes, tags, favourites and user families, stored per model in the user's data folder."""

from __future__ import annotations

import json

import pytest

from circuitloupe.core.annotations import AnnotationStore, store_path
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef


def test_everything_survives_reopening_the_store():
    path = store_path("inceptionv1", "random:0")
    store = AnnotationStore(path)
    store.set_note("mixed3b:379", "curve, opening up")
    store.set_tags("mixed3b:379", ["curve", " family ", ""])
    assert store.toggle_favourite("mixed3b:379") is True
    store.set_favourite("mixed3a:81", True)
    store.save_family("my curves", "mixed3b:379,385")

    reopened = AnnotationStore(path)
    assert reopened.note("mixed3b:379") == "curve, opening up"
    assert reopened.tags("mixed3b:379") == ["curve", "family"]
    assert reopened.favourites() == [UnitRef("mixed3a", 81), UnitRef("mixed3b", 379)]
    assert reopened.families() == {"my curves": [UnitRef("mixed3b", 379), UnitRef("mixed3b", 385)]}
    assert reopened.units_tagged("curve") == [UnitRef("mixed3b", 379)]
    assert reopened.warning is None


def test_clearing_a_unit_removes_it_and_models_are_kept_apart():
    store = AnnotationStore(store_path("inceptionv1", "random:0"))
    store.set_favourite("mixed3b:1", True)
    store.set_favourite("mixed3b:1", False)
    assert store.annotated() == []
    other = AnnotationStore(store_path("inceptionv1", "sha256:abc"))
    other.set_note("mixed3b:1", "x")
    assert AnnotationStore(store_path("inceptionv1", "random:0")).note("mixed3b:1") == ""


def test_an_unreadable_file_is_moved_aside_not_lost(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    store = AnnotationStore(path)
    assert store.warning and "unreadable" in store.warning
    assert list(tmp_path.glob("broken.json.*.unreadable"))
    store.set_note("conv2d2:3", "edge")
    assert json.loads(path.read_text())["units"]["conv2d2:3"]["note"] == "edge"


def test_family_needs_a_name_and_units():
    store = AnnotationStore(store_path("m", "w"))
    with pytest.raises(UserError):
        store.save_family(" ", ["mixed3b:1"])
    with pytest.raises(UserError):
        store.save_family("x", "")


def test_two_writers_never_erase_each_others_changes():
    path = store_path("inceptionv1", "random:0")
    browser, finder = AnnotationStore(path), AnnotationStore(path)  # both opened before either writes
    finder.save_family("curves mixed3b", "mixed3b:379,385")
    assert browser.toggle_favourite("mixed3b:379") is True  # rewrites the file from what is on disk
    browser.set_note("mixed3b:385", "curve")
    finder.delete_family("nothing by that name")
    finder.set_tags("mixed3b:379", ["curve"])

    on_disk = AnnotationStore(path)
    assert on_disk.families() == {"curves mixed3b": [UnitRef("mixed3b", 379), UnitRef("mixed3b", 385)]}
    assert on_disk.favourites() == [UnitRef("mixed3b", 379)]
    assert on_disk.note("mixed3b:385") == "curve" and on_disk.tags("mixed3b:379") == ["curve"]
    assert browser.families() == on_disk.families()  # its own write read the other's family in
    assert finder.reload() is False and finder.is_favourite("mixed3b:379")  # and so did the finder's


def test_reload_reports_other_writers_changes_once():
    path = store_path("inceptionv1", "random:0")
    reader, writer = AnnotationStore(path), AnnotationStore(path)
    assert reader.reload() is False
    writer.save_family("pair", ["mixed3a:1", "mixed3a:2"])
    assert reader.families() == {}  # readers see their last load until they reload
    assert reader.reload() is True and list(reader.families()) == ["pair"]
    assert reader.reload() is False
    writer.delete_family("pair")
    assert reader.reload() is True and reader.families() == {}
