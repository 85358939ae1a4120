"""Zoo entries for the rot-MNIST group CNNs: ``p4cnn``, ``a_p4cnn``, ``fa_p4cnn``, ``z2cnn``.

Default weights are the authors' released rot-MNIST checkpoints (seed 0), shipped under
``resources/models/att_gconvs_rotmnist/`` with their MIT licence. Note that the authors'
training code picked each checkpoint by its test-set accuracy, so the test accuracies quoted
for them (Z2CNN 95.19 %, P4CNN 97.86 %, α-P4CNN 98.36 %) are optimistic.

Preprocessing: images in [0, 1], one channel, white digit on black, normalised by mean 0.1307
and std 0.3081 (MNIST's training statistics; the released checkpoints do not record the
rot-MNIST numbers, and their first BatchNorm running means imply mean / std = 0.42 ± 0.02,
matching 0.1307 / 0.3081 = 0.424). Weights trained with ``circuitloupe train-gcnn`` carry
their own training mean and std in the safetensors metadata, which is used instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from circuitloupe.core.models import gcnn, weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.entry import DownloadProgress, ZooEntry, seeded
from circuitloupe.core.resources import resource_path

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
ROT_MNIST = Preprocessing((MNIST_MEAN,), (MNIST_STD,), "grey in [0, 1], white on black; (x - 0.1307) / 0.3081")
CHECKPOINTS = {"p4cnn": "p4cnn.pth", "a_p4cnn": "att_p4cnn.pth", "fa_p4cnn": "f_att_p4cnn.pth",
               "z2cnn": "z2cnn.pth"}
DESCRIPTIONS = {
    "p4cnn": "P4CNN for rot-MNIST: p4 group convolutions, exactly rotation-equivariant (24,610 params)",
    "a_p4cnn": "α-P4CNN for rot-MNIST: attentive p4 group convolutions (73,130 params)",
    "fa_p4cnn": "αF-P4CNN for rot-MNIST: p4 group convolutions with feature-map attention (29,462 params)",
    "z2cnn": "Z2CNN for rot-MNIST: the ordinary-convolution baseline of the p4 models (21,620 params)",
}
#: Test-set accuracy in the authors' logs for the shipped checkpoints (selected on the test set).
REPORTED_TEST_ACCURACY = {"z2cnn": 95.19, "p4cnn": 97.86, "a_p4cnn": 98.36}
SELECTION_NOTE = ("the authors' code selected these checkpoints on the rot-MNIST test set, "
                  "so their quoted test accuracies are optimistic")
CLASS_LABELS = [str(digit) for digit in range(10)]


def checkpoint_path(arch: str) -> Path:
    """The shipped checkpoint of ``arch``."""
    return resource_path("models", "att_gconvs_rotmnist", CHECKPOINTS[arch])


def families(net: gcnn.RotMnistNet) -> dict[str, list[str]]:
    """Preset families: the four rotated copies of a few channels in each group layer."""
    if not net.group:
        return {}
    found = {}
    for layer in ("c2", "c4", "c1", "c3", "c5", "c6"):
        for channel in range(2):
            found[f"{layer} channel {channel} at 0/90/180/270°"] = [
                f"{layer}:{channel * gcnn.ROTATIONS + r}" for r in range(gcnn.ROTATIONS)]
    return found


def training_normalisation(path: str | Path) -> Preprocessing | None:
    """The mean/std a ``train-gcnn`` checkpoint recorded in its safetensors metadata, if any."""
    if Path(path).suffix != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        mean, std = float(meta["mean"]), float(meta["std"])
    except (KeyError, ValueError, OSError):
        return None
    return Preprocessing((mean,), (std,), f"grey in [0, 1], white on black; (x - {mean:.4f}) / {std:.4f}")


def build(arch: str, net: gcnn.RotMnistNet, weights_id: str, description: str,
          preprocessing: Preprocessing = ROT_MNIST) -> LoadedModel:
    extras = {"group_layer": lambda layer: gcnn.is_group_layer(net, layer)}
    overall = None
    if gcnn.spatial_attention_modules(net):
        extras["attention_maps"] = lambda images: attention_maps_for(net, preprocessing, images)
        overall = lambda images: gcnn.combined_attention(  # noqa: E731
            gcnn.attention_maps(net, preprocessing.apply(images)), tuple(images.shape[-2:]))
    return LoadedModel(
        name=arch,
        net=net,
        input_size=(28, 28),
        preprocessing=preprocessing,
        hook_points=gcnn.hook_points(net),
        weights_id=weights_id,
        weights_description=description,
        in_channels=1,
        class_labels=list(CLASS_LABELS),
        families=families(net),
        extras=extras,
        rotated_kernels=gcnn.rotated_kernels,
        overall_attention=overall,
    )


def attention_maps_for(net: gcnn.RotMnistNet, preprocessing: Preprocessing, images) -> dict[str, np.ndarray]:
    """Spatial attention maps for images ``[B, 1, 28, 28]`` in [0, 1]: ``{layer: [B, R, h, w]}``."""
    maps = gcnn.attention_maps(net, preprocessing.apply(images))
    return {name: value.cpu().numpy() for name, value in maps.items()}


def load(arch: str, weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    """Load ``arch`` with the shipped checkpoint (default), ``random[:SEED]`` or a weights file."""
    seed = weights_io.parse_random_spec(weights)
    if seed is not None:
        return build(arch, seeded(lambda: gcnn.build(arch), seed), f"random:{seed}",
                     f"seeded random weights (seed {seed})")
    path = checkpoint_path(arch) if weights is None else Path(weights)
    net = gcnn.build(arch)
    weights_io.load_into(net, weights_io.read_state_dict(path), path)
    if weights is None:
        return build(arch, net, f"att_gconvs:{CHECKPOINTS[arch]}",
                     f"authors' rot-MNIST checkpoint (seed 0; {SELECTION_NOTE})")
    preprocessing = training_normalisation(path) or ROT_MNIST
    return build(arch, net, weights_io.weights_id_for_file(path), f"trained ({path})", preprocessing)


def _entry(arch: str) -> ZooEntry:
    return ZooEntry(arch, DESCRIPTIONS[arch], lambda weights, progress=None: load(arch, weights, progress),
                    offline=True, default_weights_available=lambda: checkpoint_path(arch).is_file())


ZOO = [_entry(arch) for arch in gcnn.ARCHITECTURES]

__all__ = ["ZOO"]
