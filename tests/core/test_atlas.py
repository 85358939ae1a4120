"""The atlas: per-unit summaries equal a whole-layer scan, merge exactly in any order, resume
after a stop, and take the same room whatever the number of images."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from circuitloupe.core.atlas import Atlas, BuildSettings, build_atlas
from circuitloupe.core.atlas.store import FINAL_ARRAYS
from circuitloupe.core.atlas.summary import LayerSpec, LayerSummary, Moments, MomentTree, unit_edges
from circuitloupe.core.dataset import ScanSettings, exponential_tail_fit, extreme_positions, scan
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models import load_model
from image_folders import make_mixed_folder, make_plain_folder

SETTINGS = BuildSettings(layers=("conv3", "conv4"), top=5, bins=40, reservoir=64, batch_size=4)


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_unit_equals_a_whole_layer_scan(tmp_path, bundled):
    images = make_mixed_folder(tmp_path / "images")
    built = build_atlas(bundled, images, tmp_path / "atlas", SETTINGS)
    atlas = Atlas(built.folder)
    result = scan(bundled, "conv3", images, ScanSettings(batch_size=4))
    records = result.cache.images()
    assert atlas.images == len(records) and sorted(f for f, _ in atlas.skipped) == sorted(f for f, _ in result.bad)
    for channel in range(48):
        values = result.cache.values(channel, "pre")
        unit = atlas.unit(f"conv3:{channel}")
        for mine, theirs in ((unit.top, extreme_positions(values, 5)),
                             (unit.bottom, extreme_positions(values, 5, bottom=True))):
            assert [(e.file, e.y, e.x, e.value) for e in mine] == [
                (records[p.image].relpath, p.y, p.x, pytest.approx(p.value, abs=0)) for p in theirs]
        flat = values.astype(np.float64).ravel()
        stats = unit.statistics
        assert stats["count"] == flat.size and stats["fraction_firing"] == float((flat > 0).mean())
        assert stats["mean"] == pytest.approx(flat.mean(), rel=1e-12, abs=1e-15)
        assert stats["std"] == pytest.approx(flat.std(), rel=1e-9)
        assert (stats["min"], stats["max"]) == (float(flat.min()), float(flat.max()))
        fit = exponential_tail_fit(flat)
        assert (unit.fit.count, unit.fit.fraction) == (fit.count, fit.fraction)
        assert unit.fit.rate == pytest.approx(fit.rate, rel=1e-12)
        counts, _ = np.histogram(flat, bins=unit.edges)
        assert unit.counts.tolist() == counts.tolist()
        assert unit.underflow == (flat < unit.edges[0]).sum() and unit.overflow == (flat > unit.edges[-1]).sum()


def test_merging_in_any_split_gives_the_same_bits():
    rng = np.random.default_rng(0)
    spec = LayerSpec("layer", "layer", 3, (4, 5))
    values = torch.as_tensor(rng.normal(size=(23, 3, 4, 5)).astype(np.float32))
    keys = np.arange(23, dtype=np.uint64) * np.uint64(7919)

    def summarise(parts):
        summaries = []
        for part in parts:
            s = LayerSummary(spec, 4, 10, unit_edges(np.full(3, -2.0), np.full(3, 2.0), 8))
            s.update(np.array(part), keys[part], values[part])
            summaries.append(s)
        for other in summaries[1:]:
            summaries[0].merge(other)
        return summaries[0]

    whole = summarise([list(range(23))])
    order = list(range(23))
    random.Random(1).shuffle(order)
    shuffled = summarise([order[:5], order[5:6], order[6:17], order[17:]])
    a, b = whole.state(), shuffled.state()
    for name in ("hist", "positives", "top_value", "top_file", "bottom_file", "sample_key", "sample_value"):
        assert np.array_equal(a[name], b[name]), name
    m, n = whole.moments(), shuffled.moments()
    assert m.count == n.count == 23 * 20
    assert m.mean.tobytes() == n.mean.tobytes() and m.m2.tobytes() == n.m2.tobytes()
    flat = values.double().permute(1, 0, 2, 3).reshape(3, -1).numpy()
    assert m.mean == pytest.approx(flat.mean(1), rel=1e-12) and m.m2 / m.count == pytest.approx(flat.var(1), rel=1e-9)


@pytest.mark.parametrize("lo, hi", [(-1.3, 2.7), (1000.0, 1000.5)])  # the second is binned by search
def test_histogram_counts_equal_numpy_on_and_next_to_every_edge(lo, hi):
    spec = LayerSpec("layer", "layer", 2, (1, 1))
    summary = LayerSummary(spec, 1, 0, unit_edges(np.full(2, lo), np.full(2, hi), 7))
    edges = summary.edges[0]
    values = np.concatenate([edges, np.nextafter(edges, np.float32(-np.inf)), np.nextafter(edges, np.float32(np.inf)),
                             np.array([-np.inf, np.inf], np.float32),
                             np.random.default_rng(0).uniform(lo - 1, hi + 1, 500).astype(np.float32)])
    summary.update(np.arange(values.size), np.zeros(values.size, np.uint64),
                   torch.as_tensor(np.stack([values, values[::-1]], axis=1).astype(np.float32)))
    for channel, channel_values in enumerate((values, values[::-1])):
        counts, _ = np.histogram(channel_values.astype(np.float64), bins=edges.astype(np.float64))
        assert summary.hist[channel, 1:-1].tolist() == counts.tolist()
        assert summary.hist[channel, 0] == (channel_values < edges[0]).sum()
        assert summary.hist[channel, -1] == (channel_values > edges[-1]).sum()


def test_moment_tree_root_does_not_depend_on_arrival_order():
    leaves = {i: Moments(1, np.array([float(i) ** 1.5]), np.zeros(1), np.zeros(1)) for i in range(13)}
    roots = []
    for seed in range(5):
        tree = MomentTree()
        order = list(leaves)
        random.Random(seed).shuffle(order)
        for i in order:
            tree.insert(0, i, leaves[i])
        roots.append(tree.root(1).mean.tobytes())
    assert len(set(roots)) == 1


def test_same_images_in_another_order_give_the_same_atlas(tmp_path, bundled):
    make_plain_folder(tmp_path / "images", 10, size=40)
    names = [f"images/img{i:03d}.png" for i in range(10)]
    (tmp_path / "sorted.txt").write_text("\n".join(names) + "\n")
    random.Random(3).shuffle(names)
    (tmp_path / "shuffled.txt").write_text("# shuffled\n" + "\n".join(names) + "\n\n")
    build_atlas(bundled, tmp_path / "sorted.txt", tmp_path / "a", SETTINGS)
    build_atlas(bundled, tmp_path / "shuffled.txt", tmp_path / "b", SETTINGS)
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")
    assert Atlas(tmp_path / "a").unit("conv4:3").top[0].cls == "images"


def test_a_stopped_build_resumes_to_the_same_atlas(tmp_path, bundled):
    make_plain_folder(tmp_path / "images", 16, size=40)
    settings = BuildSettings(**{**SETTINGS.__dict__, "checkpoint_every": 4})
    build_atlas(bundled, tmp_path / "images", tmp_path / "whole", settings)
    calls = []

    def stop_on_third_batch() -> bool:
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(Cancelled):
        build_atlas(bundled, tmp_path / "images", tmp_path / "resumed", settings, should_stop=stop_on_third_batch)
    assert not (tmp_path / "resumed" / "atlas.json").exists()
    report = build_atlas(bundled, tmp_path / "images", tmp_path / "resumed", settings)
    assert (report.resumed, report.processed) == (8, 8)
    assert folder_bytes(tmp_path / "whole") == folder_bytes(tmp_path / "resumed")


def test_atlas_size_does_not_grow_with_the_images(tmp_path, bundled):
    sizes = {}
    for count in (100, 1000):
        images = make_plain_folder(tmp_path / f"i{count}", count, size=16, seed=count)
        build_atlas(bundled, images, tmp_path / f"a{count}", BuildSettings(layers=("conv4",), batch_size=100, size=32))
        sizes[count] = {name: len(data) for name, data in folder_bytes(tmp_path / f"a{count}").items()}
    assert set(sizes[100]) == set(sizes[1000]) >= {f"layers/conv4/{n}.npy" for n in FINAL_ARRAYS}
    grown = {name for name in sizes[100] if sizes[100][name] != sizes[1000][name]}
    assert grown == {"index.json"}


def test_featvis_puts_both_visualisations_of_every_unit_in_the_atlas(tmp_path, bundled):
    from PIL import Image

    from circuitloupe.core.units import UnitRef

    make_plain_folder(tmp_path / "images", 4, size=40)
    settings = BuildSettings(layers=("conv1",), batch_size=4, featvis=True, featvis_size=32, featvis_steps=2)
    atlas = Atlas(build_atlas(bundled, tmp_path / "images", tmp_path / "atlas", settings).folder)
    assert atlas.meta["featvis"] == {"size": 32, "steps": 2, "objectives": ["channel", "neuron"]}
    for channel in range(8):
        for objective in ("channel", "neuron"):
            with Image.open(atlas.featvis(UnitRef("conv1", channel), objective)) as image:
                assert image.size == (32, 32)
