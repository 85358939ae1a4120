"""Notes, tags, favourites and user families, stored per model in the user's data folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from circuitloupe.core.annotations import AnnotationStore, store_path
from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef
from support import foreign_database


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
    for name, content in [("broken.json", b"{not json"), ("broken.sqlite", b"\x07" * 5000)]:
        path = tmp_path / name
        path.write_bytes(content)
        store = AnnotationStore(path)
        assert store.warning and "unreadable" in store.warning
        assert [p.read_bytes() for p in tmp_path.glob(f"{name}.unreadable-*")] == [content]
        store.set_note("conv2d2:3", "edge")
        assert AnnotationStore(tmp_path / "broken.sqlite").note("conv2d2:3") == "edge"


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


WRITER = """
import sys, time
from pathlib import Path
from circuitloupe.core.annotations import AnnotationStore
path, layer, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = AnnotationStore(path)
while not go.exists():
    time.sleep(0.01)
for channel in range(200):
    store.set_note(f"{layer}:{channel}", f"note {channel} from {layer}")
store.toggle_favourite("mixed4a:1")
"""


@pytest.fixture
def memory_folder(tmp_path):
    """A folder in RAM where there is one (locks work the same; fsync is not what is tested)."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    yield folder
    if folder != tmp_path:
        shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_writing_at_once_lose_nothing(tmp_path, memory_folder):
    path = memory_folder / "inceptionv1--random_0.sqlite"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), layer, str(go)], env=env)
               for layer in ("mixed3a", "mixed3b")]
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = AnnotationStore(path)
    assert len(store.annotated()) == 400 and store.note("mixed3b:199") == "note 199 from mixed3b"
    assert sum(store.note(f"{layer}:{c}") != "" for layer in ("mixed3a", "mixed3b") for c in range(200)) == 400
    assert store.is_favourite("mixed4a:1") is False  # toggled twice, never both from the same old state


def test_an_earlier_json_store_is_imported_once(tmp_path):
    path = store_path("inceptionv1", "random:0")
    legacy = path.with_suffix(".json")
    legacy.write_text(json.dumps({"version": 1, "units": {"mixed3b:379": {"note": "curve", "tags": ["curve"],
                                                                           "favourite": True}},
                                  "families": {"b": ["mixed3b:1"], "a": ["mixed3a:2", "mixed3a:3"]}}))
    store = AnnotationStore(path)
    assert store.note("mixed3b:379") == "curve" and store.favourites() == [UnitRef("mixed3b", 379)]
    assert list(store.families()) == ["b", "a"] and store.warning is None
    assert not legacy.exists() and legacy.with_name(legacy.name + ".migrated").exists()
    store.set_note("mixed3b:379", "curve, revised")
    legacy.write_text(legacy.with_name(legacy.name + ".migrated").read_text())  # an old copy reappears
    assert AnnotationStore(path).note("mixed3b:379") == "curve, revised"


def test_a_database_of_another_program_is_left_untouched(tmp_path):
    foreign = tmp_path / "photos.sqlite"
    before = foreign_database(foreign, "CREATE TABLE photos (name TEXT)", "INSERT INTO photos VALUES ('cat.jpg')")
    store = AnnotationStore(foreign)
    assert "another program" in store.warning
    assert [p.read_bytes() for p in tmp_path.glob("photos.sqlite.unreadable-*")] == [before]


def test_reading_leaves_the_folder_alone_so_a_folder_watcher_sees_only_writes():
    path = store_path("inceptionv1", "random:0")
    writer = AnnotationStore(path)
    writer.set_note("mixed3b:379", "curve")
    before = (sorted(p.name for p in path.parent.iterdir()), path.parent.stat().st_mtime_ns)
    reader = AnnotationStore(path)
    assert reader.reload() is False and reader.note("mixed3b:379") == "curve"
    assert (sorted(p.name for p in path.parent.iterdir()), path.parent.stat().st_mtime_ns) == before
