"""train-gcnn: a few steps on rendered rotated digits, checkpoints, data files, validation split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from circuitloupe.cli import main
from circuitloupe.core import train_gcnn
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import Cancelled
from circuitloupe.core.models import load_model
from circuitloupe.core.models.gcnn_entry import training_normalisation


@pytest.fixture(scope="module")
def digits():
    return train_gcnn.rendered_digits(40, seed=0, validation=10)


def test_rendered_digits_are_white_on_black_and_rotated(digits):
    assert digits.train_images.shape == (30, 1, 28, 28) and digits.val_images.shape == (10, 1, 28, 28)
    assert digits.train_images.max() > 0.9 and np.median(digits.train_images) < 0.05
    assert sorted(set(digits.train_labels.tolist())) == list(range(10))


def test_a_few_steps_lower_the_loss_and_write_loadable_checkpoints(tmp_path):
    tiny = train_gcnn.rendered_digits(9, seed=1, validation=3)
    reports = []
    result = train_gcnn.train("p4cnn", tiny, tmp_path, epochs=12, batch_size=6, max_steps=12,
                              progress=lambda step, total, info=None: reports.append((step, total, info)))
    assert result.steps == 12 and [h["epoch"] for h in result.history] == list(range(1, 13))
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])  # one batch, seen 12 times: it is learnt
    assert reports[-1][:2] == (12, 12) and "val_accuracy" in reports[-1][2]
    assert result.best_checkpoint.is_file() and result.last_checkpoint.is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    model = load_model("p4cnn", str(result.best_checkpoint))  # strict load, weights only
    assert model.preprocessing.mean == pytest.approx((result.mean,))
    assert training_normalisation(result.best_checkpoint).std == pytest.approx((result.std,))
    with torch.no_grad():
        assert model.forward(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_training_stops_when_asked(digits, tmp_path):
    with pytest.raises(Cancelled):
        train_gcnn.train("z2cnn", digits, tmp_path, epochs=1, batch_size=10, should_stop=lambda: True)


def test_reads_the_amat_files_and_keeps_the_test_set_apart(tmp_path):
    rng = np.random.default_rng(0)
    for name, rows in ((train_gcnn.AMAT_TRAIN, 30), (train_gcnn.AMAT_TEST, 8)):
        table = np.concatenate([rng.random((rows, 784)).round(3), (np.arange(rows) % 10)[:, None]], axis=1)
        np.savetxt(tmp_path / name, table, fmt="%.3f")
    data = train_gcnn.load_rot_mnist(tmp_path, validation=6)
    assert data.train_images.shape == (24, 1, 28, 28) and data.val_labels.tolist() == [4, 5, 6, 7, 8, 9]
    assert data.test_images.shape == (8, 1, 28, 28)
    result = train_gcnn.train("z2cnn", data, tmp_path / "run", epochs=1, batch_size=12, max_steps=1)
    assert result.test_accuracy is not None


def test_missing_data_is_a_readable_error(tmp_path):
    with pytest.raises(UserError, match="mnist_rotation_new.zip"):
        train_gcnn.load_rot_mnist(tmp_path)


def test_cli_smoke_run(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train-gcnn", "--arch", "z2cnn", "--data", "synthetic:12", "--out", str(out), "--epochs", "1",
                 "--batch-size", "8", "--device", "cpu", "--json", str(tmp_path / "run.json")])
    assert code == 0
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["history"][0]["epoch"] == 1 and (out / "best.safetensors").is_file()
    assert main(["train-gcnn", "--arch", "p4cnn", "--data", str(tmp_path / "nothing")]) == 2
    assert "mnist_rotation_new.zip" in capsys.readouterr().err
