"""A labeling session sampled from an atlas's sample of positions, without a scan."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from circuitloupe.cli import main
from circuitloupe.core.atlas import Atlas, BuildSettings, build_atlas
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling import LabelSession, SamplingPlan
from circuitloupe.core.labeling.sampling import bin_of
from circuitloupe.core.labeling.session import create_session_from_atlas
from circuitloupe.core.models import load_model
from image_folders import make_plain_folder

UNIT = "conv3:5"


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


@pytest.fixture(scope="module")
def atlas(tmp_path_factory, bundled) -> Atlas:
    root = tmp_path_factory.mktemp("atlas-labeling")
    folder = make_plain_folder(root / "images", 6)
    build_atlas(bundled, folder, root / "atlas", BuildSettings(layers=("conv3",), reservoir=48, batch_size=3))
    return Atlas(root / "atlas")


def test_items_come_from_the_atlas_sample_up_to_per_bin_in_every_bin(tmp_path, bundled, atlas):
    sample = atlas.unit(UNIT).sample
    values = np.array([e.value for e in sample])
    plan = SamplingPlan(bin_width=float(np.ptp(values)) / 6, per_bin=3, seed=4)
    with create_session_from_atlas(tmp_path / "s.labels", bundled, UNIT, atlas, plan) as session:
        items, info = session.items, session.info
    in_sample = {(e.file, e.y, e.x): e.value for e in sample}
    assert all(in_sample[(i.relpath, i.y, i.x)] == pytest.approx(i.value) for i in items)
    available = Counter(bin_of(values, plan.bin_width).tolist())
    drawn = Counter(i.bin for i in items)
    assert drawn == {b: min(3, n) for b, n in available.items()}  # every bin covered, uniform up to per_bin
    assert info.dataset == str(atlas.root) and info.dataset_bins.counts.sum() == len(sample)
    with LabelSession(tmp_path / "s.labels") as again:  # the crops come from the atlas's images
        assert again.crop_loader()(items[0].relpath, items[0].y, items[0].x) is not None


def test_an_atlas_session_needs_positions_and_the_atlas_model(tmp_path, bundled, atlas):
    with pytest.raises(UserError, match="sample over positions"):
        create_session_from_atlas(tmp_path / "a.labels", bundled, UNIT, atlas, SamplingPlan(over="images"))
    other = load_model("bundled", "random:3")
    with pytest.raises(UserError, match="not built with this model"):
        create_session_from_atlas(tmp_path / "b.labels", other, UNIT, atlas)


def test_label_new_from_an_atlas_on_the_command_line(tmp_path, atlas, capsys):
    path = tmp_path / "cli.labels"
    assert main(["label", "new", str(path), UNIT, "--atlas", str(atlas.folder), "--model", "bundled",
                 "--per-bin", "2"]) == 0
    assert "from the atlas" in capsys.readouterr().out
    with LabelSession(path) as session:
        assert session.items and all(i.relpath in atlas.files for i in session.items)
    assert main(["label", "new", str(tmp_path / "x.labels"), UNIT, str(tmp_path), "--atlas", str(atlas.folder),
                 "--model", "bundled"]) != 0
    assert "not both" in capsys.readouterr().err
