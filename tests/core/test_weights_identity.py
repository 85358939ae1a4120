"""Weights are identified by their content: two files with the same name, size and modification
time but other bytes never share a cached result, and a file's hash is computed once."""

from __future__ import annotations

import os

import numpy as np
import torch
from safetensors.torch import save

from circuitloupe.core import dataset as ds
from circuitloupe.core import filehash
from circuitloupe.core.activations import capture
from circuitloupe.core.annotations import store_path
from circuitloupe.core.dataset.receptive import receptive_field
from circuitloupe.core.featurevis.cache import model_dir
from circuitloupe.core.images import load_image
from circuitloupe.core.models import load_model
from image_folders import make_plain_folder

UNIT = "conv1:0"
SETTINGS = ds.ScanSettings(size=(64, 64), batch_size=8)


def weights_bytes(sign: float) -> bytes:
    """The bundled weights (sign 1) or their negation (sign -1): same tensors, same file size."""
    return save({k: v * sign for k, v in load_model("bundled").net.state_dict().items()})


def test_same_name_size_and_mtime_in_two_folders_are_different_weights(tmp_path):
    first, second = tmp_path / "a" / "w.safetensors", tmp_path / "b" / "w.safetensors"
    for path, sign in ((first, 1.0), (second, -1.0)):
        path.parent.mkdir()
        path.write_bytes(weights_bytes(sign))
        os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    assert first.stat().st_size == second.stat().st_size
    a, b = load_model("bundled", str(first)), load_model("bundled", str(second))
    assert a.weights_id != b.weights_id
    assert b.weights_id == "sha256:" + filehash.compute_sha256(second)
    assert model_dir(a) != model_dir(b)  # feature visualisations and thumbnails
    assert store_path(a.name, a.weights_id) != store_path(b.name, b.weights_id)  # notes, stars, families

    folder = make_plain_folder(tmp_path / "images", 3)
    ds.scan(a, UNIT, folder, SETTINGS)
    result = ds.scan(b, UNIT, folder, SETTINGS)
    assert (result.scanned, result.reused) == (3, 0)
    records = result.cache.images()
    pixels = [ds.prepare_pixels(load_image(folder / r.relpath), (64, 64)) for r in records]
    batch = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in pixels])
    direct = capture(b, batch, ["conv1_pre_relu"])["conv1_pre_relu"][:, 0]
    np.testing.assert_allclose(result.cache.values(0, "pre"), direct, atol=1e-5)
    receptive_field(a, "conv2", (64, 64))
    assert receptive_field(b, "conv2", (64, 64)) is not receptive_field(a, "conv2", (64, 64))


def test_a_file_rewritten_in_place_with_its_old_mtime_is_new_weights(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(weights_bytes(1.0))
    before = path.stat()
    old = load_model("bundled", str(path)).weights_id
    with open(path, "r+b") as handle:  # same inode, same size
        handle.write(weights_bytes(-1.0))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    new = load_model("bundled", str(path))
    assert new.weights_id != old and new.weights_id == "sha256:" + filehash.compute_sha256(path)
    assert torch.equal(new.net.conv1.weight, -load_model("bundled").net.conv1.weight)


def test_a_file_is_hashed_once_then_remembered(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(weights_bytes(1.0))
    reads = []
    original = filehash.compute_sha256
    monkeypatch.setattr(filehash, "compute_sha256", lambda p: reads.append(p) or original(p))
    first = load_model("bundled", str(path)).weights_id
    assert load_model("bundled", str(path)).weights_id == first and len(reads) == 1
    os.link(path, tmp_path / "same.safetensors")  # another path to the same bytes: hashed again, same id
    assert load_model("bundled", str(tmp_path / "same.safetensors")).weights_id == first and len(reads) == 2


def test_a_damaged_hash_store_is_set_aside(tmp_path):
    from circuitloupe.core.paths import data_dir

    store = data_dir() / filehash.STORE
    store.write_bytes(os.urandom(4096))
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert filehash.sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (data_dir() / (filehash.STORE + ".damaged")).is_file()



def test_several_processes_share_the_hash_store(tmp_path):
    import hashlib
    import subprocess
    import sys

    paths = []
    for i in range(40):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(1000 + i))
        paths.append(str(path))
    code = ("import sys; from circuitloupe.core.filehash import sha256; "
            "print(' '.join(sha256(p) for p in sys.argv[1:]))")
    workers = [subprocess.Popen([sys.executable, "-c", code, *order], stdout=subprocess.PIPE, text=True)
               for order in (paths, paths[::-1], paths)]
    results = [worker.communicate(timeout=120)[0].split() for worker in workers]
    expected = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]
    assert results[0] == results[2] == expected and results[1] == expected[::-1]
    assert all(worker.returncode == 0 for worker in workers)
    from circuitloupe.core import userdb

    with userdb.connect(filehash.STORE, filehash.SCHEMA) as db:
        assert db.execute("SELECT COUNT(*) FROM hashes").fetchone()[0] == 40
