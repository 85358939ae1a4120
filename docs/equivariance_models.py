"""Hand-made models whose equivariance is known by construction (the README's hue-rotation and
scale-across-layers figures, and the tests). Open one with ``--model docs/equivariance_models.py:NAME``.

``colour_opponent_edges``: layer ``edges`` holds 8 colour-opponent edge detectors, a 5x5 step
(one side +, the other -) at orientations 0, 90, 180, 270° that reads the YIQ chroma along hue
0° (units 0-3) or 90° (units 4-7). Turning the hue by 180° negates the chroma, as rotating the odd
step by 180° does: hue + 180° is rotation + 180° exactly, for every unit.

``blob_pyramid``: centre-surround blob detectors of radius 1.5, 3, 6 and 12 px in three layers
(``small:0``; ``medium:0``, ``medium:1``; ``large:0``), each layer also passing the image on, so a
disc zoomed 2x at a time is fitted by the next unit along the list, across layers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
ORIENTATIONS = (0, 90, 180, 270)
HUES = (0, 90)


def colour_opponent_edges() -> tuple[nn.Module, dict]:
    step = torch.tensor([-1.0, -1.0, 0.0, 1.0, 1.0]).repeat(5, 1)  # dark-to-light along +x: orientation 0
    filters = []
    for hue in np.radians(HUES):
        chroma = torch.tensor([0.0, float(np.cos(hue)), float(np.sin(hue))]) @ YIQ  # RGB weights of one hue
        for quarter in range(len(ORIENTATIONS)):
            filters.append(chroma[:, None, None] * torch.rot90(step, quarter))  # counter-clockwise turns
    conv = nn.Conv2d(3, len(filters), 5, padding=2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.stack(filters))
    net = nn.Sequential(conv, nn.ReLU())
    return net, {"input_size": 21, "in_channels": 3, "value_range": (0.0, 1.0), "layer_names": {"edges": "1"}}


def _blob_kernel(radius: float, size: int) -> torch.Tensor:
    """A disc of ``radius`` (+) in an annulus out to 1.5 ``radius`` (-), each summing to 1."""
    grid = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    distance = torch.hypot(grid[:, None], grid[None, :])
    centre = (distance <= radius).float()
    surround = ((distance > radius) & (distance <= 1.5 * radius)).float()
    return centre / centre.sum() - surround / surround.sum()


def _layer(detectors: list[float], in_channels: int, pass_on: bool) -> nn.Conv2d:
    """Blob detectors reading the previous layer's last channel (the image), plus (``pass_on``)
    that channel copied."""
    kernel = 2 * int(np.ceil(1.5 * max(detectors))) + 1
    conv = nn.Conv2d(in_channels, len(detectors) + int(pass_on), kernel, padding=kernel // 2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        for k, radius in enumerate(detectors):
            conv.weight[k, -1] = _blob_kernel(radius, kernel)
        if pass_on:
            conv.weight[-1, -1, kernel // 2, kernel // 2] = 1.0
    return conv


def blob_pyramid() -> tuple[nn.Module, dict]:
    net = nn.Sequential(_layer([1.5], 1, True), nn.ReLU(), _layer([3.0, 6.0], 2, True), nn.ReLU(),
                        _layer([12.0], 3, False), nn.ReLU())
    return net, {"input_size": 64, "in_channels": 1, "value_range": (0.0, 1.0),
                 "layer_names": {"small": "1", "medium": "3", "large": "5"}}
