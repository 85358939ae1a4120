"""The bundled model: a small CNN trained here on rendered curves, angles and lines.

It ships with the app (``resources/models/bundled.safetensors`` plus ``bundled.json`` with the
class labels, curve-detector family and held-out accuracy written by
``python -m circuitloupe.train_bundled``), so every feature works with no network. The task
(shape type x orientation bin) needs both orientation and curvature, which is what grows curve
detectors. See ``resources/models/bundled_MODEL_CARD.md``.

Layers: ``conv1`` (5x5, 8 ch) -> pool -> ``conv2`` (3x3, 24) -> pool -> ``conv3`` (3x3, 48)
-> pool -> ``conv4`` (3x3, 64) -> global average -> ``logits``; each conv has a ``_pre_relu``
hook point. Input 64 x 64 RGB in [0, 1], normalised as ``(x - 0.5) / 0.25``.
"""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.entry import DownloadProgress, ZooEntry, seeded
from circuitloupe.core.resources import resource_path

NAME = "bundled"
INPUT_SIZE = 64
PREPROCESSING = Preprocessing((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "(x - 0.5) / 0.25")
WIDTHS = (8, 24, 48, 64)
KERNELS = (5, 3, 3, 3)
SHAPES = ("curve", "angle", "line")
CURVE_BINS = 8  # orientation bins of 45 degrees over 360 for curves and angles
LINE_BINS = 4  # lines repeat every 180 degrees


def class_labels() -> list[str]:
    """Class names in output order: 'curve 0°' ... 'angle 315°', 'line 0°' ... 'line 135°'."""
    labels = [f"{shape} {k * 45}°" for shape in SHAPES[:2] for k in range(CURVE_BINS)]
    return labels + [f"line {k * 45}°" for k in range(LINE_BINS)]


class BundledNet(nn.Module):
    """Four conv layers (ReLU, 2x2 max pool after the first three), global average, linear."""

    def __init__(self, classes: int = 2 * CURVE_BINS + LINE_BINS) -> None:
        super().__init__()
        channels = (3,) + WIDTHS
        for i, (cin, cout, k) in enumerate(zip(channels, channels[1:], KERNELS), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, k, padding=k // 2))
            setattr(self, f"relu{i}", nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.logits = nn.Linear(WIDTHS[-1], classes)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(x)))
        x = self.pool(self.relu2(self.conv2(x)))
        x = self.pool(self.relu3(self.conv3(x)))
        x = self.relu4(self.conv4(x))
        return self.logits(x.mean(dim=(2, 3)))


def hook_points(net: BundledNet) -> dict[str, nn.Module]:
    """conv1_pre_relu, conv1, ..., conv4_pre_relu, conv4, logits (in execution order)."""
    points: dict[str, nn.Module] = {}
    for i in range(1, len(WIDTHS) + 1):
        points[f"conv{i}_pre_relu"] = getattr(net, f"conv{i}")
        points[f"conv{i}"] = getattr(net, f"relu{i}")
    points["logits"] = net.logits
    return points


def weights_path():
    return resource_path("models", "bundled.safetensors")


def card_data() -> dict[str, Any]:
    """What training wrote beside the weights (accuracy, families, held-out set), or {}."""
    path = resource_path("models", "bundled.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def build(net: BundledNet, weights_id: str, description: str) -> LoadedModel:
    data = card_data()
    return LoadedModel(
        name=NAME,
        net=net,
        input_size=(INPUT_SIZE, INPUT_SIZE),
        preprocessing=PREPROCESSING,
        hook_points=hook_points(net),
        weights_id=weights_id,
        weights_description=description,
        class_labels=class_labels(),
        families={name: list(units) for name, units in data.get("families", {}).items()},
    )


def load(weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    """Bundled weights (None), ``random[:SEED]``, or a weights file for this architecture."""
    seed = weights_io.parse_random_spec(weights)
    if seed is not None:
        return build(seeded(BundledNet, seed), f"random:{seed}", f"seeded random weights (seed {seed})")
    path = weights_path() if weights is None else weights
    net = BundledNet()
    weights_io.load_into(net, weights_io.read_state_dict(path), path)
    if weights is None:
        version = card_data().get("version", "1")
        return build(net, f"bundled:{version}", "bundled weights (trained on rendered curves, angles, lines)")
    return build(net, weights_io.weights_id_for_file(path), f"weights from {path}")


ZOO = [ZooEntry(NAME, "small CNN trained here on rendered curves, angles and lines (works offline)",
                load, offline=True, default_weights_available=lambda: weights_path().is_file())]

__all__ = ["ZOO", "BundledNet", "class_labels", "hook_points", "load"]
