"""Lucid's InceptionV1 (TensorFlow "inception5h" GoogLeNet), the network of the Circuits thread.

Exact to the TensorFlow graph: local response norm with depth radius 5, alpha 1e-4, beta 0.5,
bias 2; max pools padded with -inf; the first conv padded 2 before and 3 after. The state dict
keys and shapes are those of the public ``inception5h.pth`` (``shared/reference``), so that file
loads unchanged. The classifier averages globally (identical to Lucid's 7x7 pool at 224 px) so
that the network also runs on other input sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from circuitloupe.core.models.base import Concat, LoadedModel, TracePreset
from circuitloupe.core.units import PRE_RELU_SUFFIX, UnitRef

WEIGHTS_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"
WEIGHTS_FILENAME = "inception5h.pth"
WEIGHTS_SHA256: str | None = None  # not yet recorded; the file is checked for keys and shapes

# name: (in, 1x1, 3x3 bottleneck, 3x3, 5x5 bottleneck, 5x5, pool reduce)
BLOCKS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "mixed3a": (192, 64, 96, 128, 16, 32, 32),
    "mixed3b": (256, 128, 128, 192, 32, 96, 64),
    "mixed4a": (480, 192, 96, 204, 16, 48, 64),
    "mixed4b": (508, 160, 112, 224, 24, 64, 64),
    "mixed4c": (512, 128, 128, 256, 24, 64, 64),
    "mixed4d": (512, 112, 144, 288, 32, 64, 64),
    "mixed4e": (528, 256, 160, 320, 32, 128, 128),
    "mixed5a": (832, 256, 160, 320, 48, 128, 128),
    "mixed5b": (832, 384, 192, 384, 48, 128, 128),
}
BRANCHES = ("1x1", "3x3", "5x5", "pool_reduce")
POOL_BEFORE = {"mixed4a": "maxpool4", "mixed5a": "maxpool10"}

# Neuron families from experiments.md (Distill Circuits), as browser presets; the first family's
# first unit (mixed3b:379, the article's curve detector) is where a new session starts.
FAMILIES: dict[str, list[str]] = {
    "curve detectors (mixed3b)": [f"mixed3b:{c}" for c in (379, 406, 385, 343, 342, 388, 324, 340, 330, 349)],
    "curve detectors (conv2d2)": [f"conv2d2:{c}" for c in (32, 171, 111, 80, 140, 180, 39, 130, 63, 182, 117)],
    "curve detectors (mixed3a)": [f"mixed3a:{c}" for c in (81, 104, 92, 145, 95, 163, 171, 71, 147, 189, 137)],
    "curve detectors (mixed4a)": [
        f"mixed4a:{c}" for c in (26, 50, 58, 62, 95, 168, 403, 406, 407, 415, 424, 428, 436, 437)
    ],
    "high-low frequency (mixed3a)": [f"mixed3a:{c}" for c in (136, 153, 112, 132, 106, 186, 110, 117)],
    "edges (conv2d2)": [f"conv2d2:{c}" for c in (9, 97, 145, 3)],
    "lines (mixed3a)": [f"mixed3a:{c}" for c in (154, 69, 101, 134)],
    "circles across scale": ["conv2d2:146", "mixed3b:346", "mixed3b:323", "mixed4a:402"],
    "colour center-surround (mixed3b)": [f"mixed3b:{c}" for c in (271, 109, 26, 87, 89, 448)],
    "flip pair: dog snout (mixed4a)": ["mixed4a:222", "mixed4a:308"],
    "flip pair: S-curve (mixed3b)": ["mixed3b:347", "mixed3b:327"],
    "flip pair: human beside animal (mixed4d)": ["mixed4d:429", "mixed4d:427"],
    "dog heads (mixed4a)": [f"mixed4a:{c}" for c in (235, 222, 234, 308)],
}
CURVE_CIRCUIT = ("mixed3a:81,147,145,71", "mixed3b:342,385,379,330")
# Multi-layer circuits (experiments.md): the Weights pane's Trace presets, each with its article.
ZOOM_IN = "https://distill.pub/2020/circuits/zoom-in/"
CURVE_CIRCUITS = "https://distill.pub/2020/circuits/curve-circuits/"
TRACE_PRESETS: dict[str, TracePreset] = {
    "dog heads -> pose-invariant (mixed4b:418)": TracePreset(
        "mixed4b:418", ("mixed4a",), " ".join(FAMILIES["dog heads (mixed4a)"]), ZOOM_IN),
    "curves: conv2d2 -> mixed3a -> mixed3b:379": TracePreset(
        "mixed3b:379", ("mixed3a", "conv2d2"),
        " ".join(FAMILIES["curve detectors (mixed3a)"] + FAMILIES["curve detectors (conv2d2)"]),
        CURVE_CIRCUITS),
}


class PaddedAvgPool(nn.Module):
    """Average pool over a zero-padded input: the linear stand-in for a -inf padded max pool."""

    def __init__(self, kernel: int, stride: int, pad: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, self.pad), self.kernel, self.stride)


class PadMaxPool(nn.Module):
    """Max pool whose padding is -inf, as in TensorFlow's SAME max pools."""

    #: Not a layer of units worth connecting (core.weights skips pooling layers).
    pools = True

    def __init__(self, kernel: int, stride: int, pad: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.pad(x, self.pad, value=float("-inf")), self.kernel, self.stride)

    def linear_stand_in(self) -> nn.Module:
        """What replaces this module in a linearised copy of the network (expanded weights)."""
        return PaddedAvgPool(self.kernel, self.stride, self.pad)


class LocalResponseNorm(nn.Module):
    """TensorFlow LRN(depth_radius=5, alpha=1e-4, beta=0.5, bias=2): x / (2 + 1e-4 * S) ** 0.5,
    S the sum of squares over the 11 channels centred on each channel.

    The window sum is one banded 1x1 convolution, 3-5x faster forward and backward on CPU than
    ``F.local_response_norm`` (which pads and average-pools in 3-D), with the same result.
    """

    RADIUS, ALPHA, BETA, BIAS = 5, 1e-4, 0.5, 2.0
    pools = True  # see PadMaxPool

    def linear_stand_in(self) -> nn.Module:
        return nn.Identity()

    def __init__(self) -> None:
        super().__init__()
        self._bands: dict[tuple, torch.Tensor] = {}

    def _band(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[1], x.device, x.dtype)
        if key not in self._bands:
            index = torch.arange(x.shape[1], device=x.device)
            inside = (index[None, :] - index[:, None]).abs() <= self.RADIUS
            self._bands[key] = inside.to(x.dtype)[:, :, None, None]
        return self._bands[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = F.conv2d(x * x, self._band(x))
        return x / (self.BIAS + self.ALPHA * window) ** self.BETA


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class InceptionV1(nn.Module):
    """Modules are flat attributes named as in Lucid, so state-dict keys match inception5h.pth.

    Each ``*_pre_relu_conv`` conv's output is that layer's pre-ReLU value; the ReLU modules
    (``conv2d0``, ``mixed3b_5x5``, ...) and the concatenations (``mixed3b``,
    ``mixed3b_pre_relu``) are hook points too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv2d0_pre_relu_conv = nn.Conv2d(3, 64, 7, stride=2)
        self.conv2d0 = nn.ReLU()
        self.maxpool0 = PadMaxPool(3, 2, (0, 1, 0, 1))
        self.localresponsenorm0 = LocalResponseNorm()
        self.conv2d1_pre_relu_conv = nn.Conv2d(64, 64, 1)
        self.conv2d1 = nn.ReLU()
        self.conv2d2_pre_relu_conv = nn.Conv2d(64, 192, 3, padding=1)
        self.conv2d2 = nn.ReLU()
        self.localresponsenorm1 = LocalResponseNorm()
        self.maxpool1 = PadMaxPool(3, 2, (0, 1, 0, 1))
        self.maxpool4 = PadMaxPool(3, 2, (0, 1, 0, 1))
        self.maxpool10 = PadMaxPool(3, 2, (0, 1, 0, 1))
        for block, (cin, c1, b3, c3, b5, c5, cp) in BLOCKS.items():
            for name, (i, o, k) in {
                "1x1": (cin, c1, 1),
                "3x3_bottleneck": (cin, b3, 1),
                "3x3": (b3, c3, 3),
                "5x5_bottleneck": (cin, b5, 1),
                "5x5": (b5, c5, 5),
                "pool_reduce": (cin, cp, 1),
            }.items():
                self.add_module(f"{block}_{name}_pre_relu_conv", _conv(i, o, k))
                self.add_module(f"{block}_{name}", nn.ReLU())
            self.add_module(f"{block}_pool", PadMaxPool(3, 1, (1, 1, 1, 1)))
            self.add_module(block, Concat())
            self.add_module(f"{block}_pre_relu", Concat())
        self.avgpool0 = nn.AdaptiveAvgPool2d(1)
        self.softmax2_pre_activation_matmul = nn.Linear(1024, 1008)
        self.softmax2 = nn.Softmax(dim=1)

    def _unit(self, name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre = getattr(self, f"{name}_pre_relu_conv")(x)
        return pre, getattr(self, name)(pre)

    def _block(self, block: str, x: torch.Tensor) -> torch.Tensor:
        pre_1, out_1 = self._unit(f"{block}_1x1", x)
        _, bottleneck_3 = self._unit(f"{block}_3x3_bottleneck", x)
        pre_3, out_3 = self._unit(f"{block}_3x3", bottleneck_3)
        _, bottleneck_5 = self._unit(f"{block}_5x5_bottleneck", x)
        pre_5, out_5 = self._unit(f"{block}_5x5", bottleneck_5)
        pre_p, out_p = self._unit(f"{block}_pool_reduce", getattr(self, f"{block}_pool")(x))
        getattr(self, f"{block}_pre_relu")(pre_1, pre_3, pre_5, pre_p)
        return getattr(self, block)(out_1, out_3, out_5, out_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, H, W], values x*255-117 -> logits [B, 1008]."""
        _, x = self._unit("conv2d0", F.pad(x, (2, 3, 2, 3)))
        x = self.localresponsenorm0(self.maxpool0(x))
        _, x = self._unit("conv2d1", x)
        _, x = self._unit("conv2d2", x)
        x = self.maxpool1(self.localresponsenorm1(x))
        for block in BLOCKS:
            if block in POOL_BEFORE:
                x = getattr(self, POOL_BEFORE[block])(x)
            x = self._block(block, x)
        logits = self.softmax2_pre_activation_matmul(torch.flatten(self.avgpool0(x), 1))
        self.softmax2(logits)
        return logits


def hook_points(net: InceptionV1) -> dict[str, nn.Module]:
    """Public layer names (Lucid's) -> modules, in execution order."""
    names = ["conv2d0_pre_relu", "conv2d0", "maxpool0", "localresponsenorm0", "conv2d1_pre_relu", "conv2d1",
             "conv2d2_pre_relu", "conv2d2", "localresponsenorm1", "maxpool1"]
    for block in BLOCKS:
        if block in POOL_BEFORE:
            names.append(POOL_BEFORE[block])
        for branch in ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce"):
            names += [f"{block}_{branch}_pre_relu", f"{block}_{branch}"]
        names += [f"{block}_pre_relu", block]
    names += ["avgpool0", "softmax2_pre_activation_matmul", "softmax2"]
    points = {}
    for name in names:
        module_name = name + "_conv" if name.endswith("_pre_relu") and hasattr(net, name + "_conv") else name
        points[name] = getattr(net, module_name)
    return points


def layer_parts() -> dict[str, tuple[tuple[str, int], ...]]:
    """Each block (and its pre-ReLU concatenation) -> its four branches and their widths."""
    parts = {}
    for block, (_, c1, _, c3, _, c5, cp) in BLOCKS.items():
        widths = (c1, c3, c5, cp)
        parts[block] = tuple((f"{block}_{b}", w) for b, w in zip(BRANCHES, widths))
        parts[f"{block}_pre_relu"] = tuple((f"{block}_{b}_pre_relu", w) for b, w in zip(BRANCHES, widths))
    return parts


def layer_groups() -> dict[str, str]:
    """Branch layer -> its block, for the browser tree."""
    groups = {}
    for block in BLOCKS:
        for branch in ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce"):
            groups[f"{block}_{branch}"] = block
            groups[f"{block}_{branch}_pre_relu"] = block
        groups[f"{block}_pre_relu"] = block
    return groups


ALIASES = {block.removeprefix("mixed"): block for block in BLOCKS}


# ---------------------------------------------------------------------------------------------
# Exact expanded weights through one block (registered as ``LoadedModel.bottleneck_path``)

def _block_input(block: str) -> str:
    """The layer that feeds a block (previous block, or the pool before it)."""
    blocks = list(BLOCKS)
    if block in POOL_BEFORE:
        return POOL_BEFORE[block]
    index = blocks.index(block)
    return "maxpool1" if index == 0 else blocks[index - 1]


def bottleneck_path(model: LoadedModel, unit: UnitRef | str, src_layer: str) -> list[torch.Tensor] | None:
    """The conv weights to multiply, first to last, from ``src_layer`` into ``unit``'s branch:
    the 1x1 bottleneck then the 3x3/5x5 conv, or a branch's own 1x1 weights; None when ``unit``
    is not in the block ``src_layer`` feeds."""
    catalogue = model.catalogue
    branch = catalogue.branch_of(unit).post_relu()
    src = catalogue.layer(src_layer).name
    net = model.net
    for block in BLOCKS:
        if not branch.layer.startswith(block + "_"):
            continue
        part = branch.layer[len(block) + 1:]
        own = getattr(net, f"{branch.layer}_pre_relu_conv", None)
        inputs = {_block_input(block), _block_input(block) + PRE_RELU_SUFFIX}
        if part in ("1x1", "3x3_bottleneck", "5x5_bottleneck") and src in inputs:
            return [own.weight]
        if part in ("3x3", "5x5"):
            bottleneck = f"{block}_{part}_bottleneck"
            if src in (bottleneck, bottleneck + PRE_RELU_SUFFIX):
                return [own.weight]
            if src in inputs:
                return [getattr(net, f"{bottleneck}_pre_relu_conv").weight, own.weight]
    return None
