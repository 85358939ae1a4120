"""Training the rot-MNIST group CNNs (P4CNN, α-P4CNN, αF-P4CNN, Z2CNN) as in the paper.

Data: rot-MNIST ("mnist_rotation_new", 12,000 training and 50,000 test digits rotated uniformly
in [0, 2π)), which the user downloads from the dataset's home page
(http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip) and unzips into a
folder. Read from that folder, in this order of preference:

* ``mnist_all_rotation_normalized_float_train_valid.amat`` and ``..._test.amat``: text rows of
  784 pixel values in [0, 1] (a 28x28 image, row-major) followed by the label;
* or ``train_all.npz`` / ``test.npz`` (``data`` [N, 1, 28, 28] and ``labels``), the arrays the
  authors' code reads.

The last 2,000 training digits are the validation split (the dataset's own 10,000 / 2,000
split); checkpoints are chosen on it, never on the test set, which is only evaluated once at the
end. Optimiser as in the paper: Adam, learning rate 1e-3, weight decay 1e-4, batch 128.
Inputs are normalised with the mean and standard deviation of the training pixels, which are
stored in the checkpoint's metadata (``mean``, ``std``) so ``--weights`` uses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models import gcnn
from circuitloupe.core.paths import atomic_write

DATASET_URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
AMAT_TRAIN = "mnist_all_rotation_normalized_float_train_valid.amat"
AMAT_TEST = "mnist_all_rotation_normalized_float_test.amat"
VALIDATION_SIZE = 2000
PAPER_EPOCHS = {"p4cnn": 100, "a_p4cnn": 100, "fa_p4cnn": 100, "z2cnn": 300}


@dataclass
class RotMnist:
    """Images ``[N, 1, 28, 28]`` float32 in [0, 1] and labels ``[N]`` int64 for each split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    source: str = ""


def _split(images: np.ndarray, labels: np.ndarray, validation: int) -> tuple[np.ndarray, ...]:
    if len(images) <= validation:
        raise UserError(f"the training file has {len(images)} digits; at least {validation + 1} are needed")
    return images[:-validation], labels[:-validation], images[-validation:], labels[-validation:]


def _read_amat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        rows = np.loadtxt(path, dtype=np.float32)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {error}") from None
    if rows.ndim != 2 or rows.shape[1] != 785:
        raise UserError(f"{path} should have 785 numbers per row (784 pixels and a label)")
    return rows[:, :-1].reshape(-1, 1, 28, 28), rows[:, -1].astype(np.int64)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["data"].astype(np.float32), data["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as error:
        raise UserError(f"cannot read {path} (expected arrays 'data' and 'labels'): {error}") from None
    return images.reshape(-1, 1, 28, 28), labels


def load_rot_mnist(folder: str | Path, validation: int = VALIDATION_SIZE) -> RotMnist:
    """Read rot-MNIST from ``folder`` (see the module docstring for the files it looks for)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"data folder {folder} does not exist; download {DATASET_URL} and unzip it there")
    if (folder / AMAT_TRAIN).is_file():
        images, labels = _read_amat(folder / AMAT_TRAIN)
        test = _read_amat(folder / AMAT_TEST) if (folder / AMAT_TEST).is_file() else (None, None)
        source = f"{folder / AMAT_TRAIN}"
    elif (folder / "train_all.npz").is_file():
        images, labels = _read_npz(folder / "train_all.npz")
        test = _read_npz(folder / "test.npz") if (folder / "test.npz").is_file() else (None, None)
        source = f"{folder / 'train_all.npz'}"
    else:
        raise UserError(f"{folder} has neither {AMAT_TRAIN} nor train_all.npz; download {DATASET_URL} "
                        "and unzip it into that folder")
    return RotMnist(*_split(images, labels, validation), *test, source=source)


def rendered_digits(count: int, seed: int = 0, validation: int | None = None) -> RotMnist:
    """A tiny stand-in for rot-MNIST: the digits 0-9 drawn with Pillow's font at random
    rotations, white on black, 28x28 -> :class:`RotMnist` (for tests and a quick smoke run)."""
    from PIL import Image, ImageDraw

    from circuitloupe.core.equivariance import rotate
    from circuitloupe.core.figures import font

    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = np.zeros((count, 1, 28, 28), dtype=np.float32)
    for i, digit in enumerate(labels):
        canvas = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(canvas).text((14, 14), str(digit), fill=255, font=font(20), anchor="mm")
        pixels = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)[None, None]
        images[i] = rotate(pixels, float(rng.uniform(0, 360)))[0].numpy()
    validation = max(1, count // 5) if validation is None else validation
    return RotMnist(*_split(images, labels.astype(np.int64), validation), source=f"rendered digits ({count})")


@dataclass
class TrainResult:
    """What a run produced: checkpoint paths, per-epoch history and the final accuracies (in %)."""

    arch: str
    best_checkpoint: Path
    last_checkpoint: Path
    mean: float
    std: float
    history: list[dict] = field(default_factory=list)
    best_val_accuracy: float = 0.0
    test_accuracy: float | None = None
    steps: int = 0


def save_checkpoint(net: torch.nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """Write ``net``'s state dict as safetensors atomically (weights only; nothing runs on load)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata), make_parents=True)


def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Percentage of ``images`` (normalised) that ``net`` classifies as ``labels`` (eval mode)."""
    was_training = net.training
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = net(images[start:start + batch_size])
            correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    net.train(was_training)
    return 100.0 * correct / max(1, len(images))


def train(arch: str, data: RotMnist, out_dir: str | Path, epochs: int | None = None, batch_size: int = 128,
          lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0, max_steps: int | None = None,
          device: str | torch.device = "cpu", progress: ProgressFn | None = None,
          should_stop: StopFn | None = None) -> TrainResult:
    """Train ``arch`` on ``data``; write ``best.safetensors`` (highest validation accuracy) and
    ``last.safetensors`` into ``out_dir`` after every epoch.

    ``epochs`` defaults to the paper's (100; 300 for Z2CNN); ``max_steps`` stops early (tests).
    ``progress(step, total, preview)`` gets a dict with epoch, loss and validation accuracy.
    The test split, if present, is evaluated once with the best checkpoint.
    """
    if arch not in gcnn.ARCHITECTURES:
        raise UserError(f"unknown architecture '{arch}'; choose one of {', '.join(gcnn.ARCHITECTURES)}")
    epochs = PAPER_EPOCHS[arch] if epochs is None else epochs
    out_dir = Path(out_dir)
    device = torch.device(device)
    mean = float(data.train_images.mean())
    std = float(data.train_images.std()) or 1.0

    def tensors(images, labels):
        return (torch.from_numpy((images - mean) / std).float().to(device), torch.from_numpy(labels).long().to(device))

    train_x, train_y = tensors(data.train_images, data.train_labels)
    val_x, val_y = tensors(data.val_images, data.val_labels)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = gcnn.build(arch).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    per_epoch = math.ceil(len(train_x) / batch_size)
    total = epochs * per_epoch if max_steps is None else min(max_steps, epochs * per_epoch)
    result = TrainResult(arch, out_dir / "best.safetensors", out_dir / "last.safetensors", mean, std)
    metadata = {"arch": arch, "mean": repr(mean), "std": repr(std), "data": data.source,
                "optimiser": f"Adam lr={lr} weight_decay={weight_decay} batch={batch_size}"}
    step = 0
    for epoch in range(1, epochs + 1):
        net.train()
        order = torch.randperm(len(train_x), generator=generator).to(device)
        losses = []
        for start in range(0, len(order), batch_size):
            check_stop(should_stop)
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            step += 1
            if progress is not None:
                progress(step, total, {"epoch": epoch, "loss": losses[-1]})
            if step >= total:
                break
        val_accuracy = accuracy(net, val_x, val_y)
        record = {"epoch": epoch, "steps": step, "loss": float(np.mean(losses)), "val_accuracy": val_accuracy}
        result.history.append(record)
        meta = {**metadata, "epoch": str(epoch), "val_accuracy": f"{val_accuracy:.4f}"}
        save_checkpoint(net, result.last_checkpoint, meta)
        if epoch == 1 or val_accuracy > result.best_val_accuracy:
            result.best_val_accuracy = val_accuracy
            save_checkpoint(net, result.best_checkpoint, meta)
        if progress is not None:
            progress(step, total, record)
        if step >= total:
            break
    result.steps = step
    if data.test_images is not None:
        from circuitloupe.core.models import weights_io

        best = gcnn.build(arch).to(device)
        weights_io.load_into(best, weights_io.read_state_dict(result.best_checkpoint), result.best_checkpoint)
        result.test_accuracy = accuracy(best, *tensors(data.test_images, data.test_labels))
    return result
