"""A handmade curve-detector model for the find-curves tests (also a ``file.py:build`` spec).

Six units on 32 px inputs: matched filters for curves bulging up, left, down and right
(radius 8 px), a horizontal straight line and a dark centre dot, each scaled to respond 1 to
its own stimulus and biased by -0.5, so only close matches drive it above zero.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from circuitloupe.core import stimuli
from circuitloupe.core.models.base import UNIT_RANGE, LoadedModel

SIZE = 32
ORIENTATIONS = (0.0, 90.0, 180.0, 270.0)


def build() -> tuple[nn.Module, dict]:
    """The network and its metadata (layers ``curves_pre_relu`` and ``curves``)."""
    k = SIZE - 1  # the centre output (16, 16) sees input pixels 1..31, centred on (16.5, 16.5)
    # the stimuli are dark strokes on white: a template is the stimulus itself, minus its mean
    shapes = [stimuli.curves(list(ORIENTATIONS), 8.0, k).mean(axis=3),
              stimuli.curves(0.0, np.inf, k).mean(axis=3)]
    dot = np.ones((1, k, k), np.float32)
    dot[0, k // 2 - 1:k // 2 + 2, k // 2 - 1:k // 2 + 2] = 0
    matched = np.concatenate(shapes + [dot])
    kernels = matched - matched.mean(axis=(1, 2), keepdims=True)
    kernels /= (kernels * matched).sum(axis=(1, 2), keepdims=True)
    conv = nn.Conv2d(3, len(kernels), k, padding=k // 2)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(kernels)[:, None].repeat(1, 3, 1, 1) / 3)
        conv.bias.fill_(-0.5)
    net = nn.Sequential(conv, nn.ReLU())
    return net, {"input_size": SIZE, "layer_names": {"curves_pre_relu": "0", "curves": "1"}}


def template_model() -> LoadedModel:
    """:func:`build` as a LoadedModel (no file needed)."""
    net, meta = build()
    return LoadedModel("templates", net, (SIZE, SIZE), UNIT_RANGE,
                       {name: net[int(path)] for name, path in meta["layer_names"].items()},
                       "templates", "handmade curve templates")
