"""p4 group-equivariant CNNs for rot-MNIST: P4CNN, α-P4CNN, αF-P4CNN and the Z2CNN baseline.

After "Attentive Group Equivariant Convolutional Networks" (Romero, Bekkers, Tomczak,
Hoogendoorn, ICML 2020) and its MIT-licensed code. The p4 group is the four rotations by
0, 90, 180 and 270 degrees counter-clockwise on screen (``torch.rot90`` with ``k = r``).

A group feature map has shape ``[B, C, 4, H, W]``: axis 2 is the rotation. Rotating the input
by 90 degrees rotates every group map by 90 degrees and shifts its rotation axis cyclically by
one (``torch.roll(..., 1, dims=2)``), exactly. For the app each group layer is also exposed
flattened to ``[B, C * 4, H, W]``, so unit ``c2:9`` is channel ``9 // 4 = 2`` at rotation
``9 % 4 = 1``.

Module and parameter names follow the authors' classes so that their rot-MNIST checkpoints
load strictly and unchanged (``c1.weight``, ``c2.channel_attention.weight_fc1``, ``bn1.*``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from circuitloupe.core.errors import UserError
from circuitloupe.core.layers import last_module_before
from circuitloupe.core.models.base import LoadedModel

ROTATIONS = 4
#: Haar measure of one rotation step, 2π/4; the group convolution integrates over rotations.
HAAR = 2 * math.pi / ROTATIONS
ARCHITECTURES = ("p4cnn", "a_p4cnn", "fa_p4cnn", "z2cnn")
BN_EPS = 2e-5
DROPOUT = 0.3


def rotate_group(x: torch.Tensor, k: int = 1) -> torch.Tensor:
    """The action of rotation ``r^k`` on a group map ``[B, C, 4, H, W]``: rotate, shift axis 2."""
    return torch.roll(torch.rot90(x, k, dims=(-2, -1)), shifts=k, dims=2)


def lifted_kernels(weight: torch.Tensor) -> torch.Tensor:
    """``[C_out, C_in, k, k]`` -> ``[C_out, 4, C_in, k, k]``: the kernel rotated by r * 90 degrees."""
    return torch.stack([torch.rot90(weight, r, dims=(-2, -1)) for r in range(ROTATIONS)], dim=1)


def group_kernels(weight: torch.Tensor) -> torch.Tensor:
    """``[C_out, C_in, 4, k, k]`` -> ``[C_out, 4, C_in, 4, k, k]``: rotated, input axis shifted by r."""
    return torch.stack([torch.roll(torch.rot90(weight, r, dims=(-2, -1)), r, dims=2)
                        for r in range(ROTATIONS)], dim=1)


def _to_group(out: torch.Tensor, channels: int) -> torch.Tensor:
    """Conv output ``[B, 4 * C, H, W]`` (rotation-major) -> ``[B, C, 4, H, W]``."""
    b, _, h, w = out.shape
    return out.view(b, ROTATIONS, channels, h, w).transpose(1, 2)


class LiftingConv(nn.Module):
    """Image -> group: ``[B, C_in, H, W]`` -> ``[B, C_out, 4, H', W']``; weight ``[C_out, C_in, k, k]``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, padding: int = 0, dilation: int = 1) -> None:
        super().__init__()
        self.c_in, self.c_out, self.padding, self.dilation = c_in, c_out, padding, dilation
        self.weight = nn.Parameter(torch.empty(c_out, c_in, kernel_size, kernel_size))
        nn.init.uniform_(self.weight, -1 / math.sqrt(c_in * kernel_size ** 2), 1 / math.sqrt(c_in * kernel_size ** 2))

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        kernels = lifted_kernels(self.weight).transpose(0, 1).reshape(-1, self.c_in, *self.weight.shape[-2:])
        out = F.conv2d(x, kernels, padding=self.padding, dilation=self.dilation)
        return _to_group(out, self.c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GroupConv(nn.Module):
    """Group -> group: ``[B, C_in, 4, H, W]`` -> ``[B, C_out, 4, H', W']``, times the Haar measure 2π/4.

    Weight ``[C_out, C_in, 4, k, k]``; output rotation r uses the kernel rotated by r * 90 degrees
    with its input-rotation axis rolled by r.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, padding: int = 0) -> None:
        super().__init__()
        self.c_in, self.c_out, self.padding = c_in, c_out, padding
        self.weight = nn.Parameter(torch.empty(c_out, c_in, ROTATIONS, kernel_size, kernel_size))
        bound = 1 / math.sqrt(c_in * kernel_size ** 2)
        nn.init.uniform_(self.weight, -bound, bound)

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[-1]
        kernels = group_kernels(self.weight).transpose(0, 1).reshape(-1, self.c_in * ROTATIONS, k, k)
        b, _, _, h, w = x.shape
        out = F.conv2d(x.reshape(b, self.c_in * ROTATIONS, h, w), kernels, padding=self.padding)
        return HAAR * _to_group(out, self.c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


# --------------------------------------------------------------------------- full attention (α)

class _CbamChannelAttention(nn.Module):
    """CBAM channel attention, as the α and αF layers use it: the sigmoid of a two-layer MLP
    (``weight_fc1``, ReLU, ``weight_fc2``; Kaiming-uniform like ``nn.Linear``) applied to the mean and
    to the max over positions, summed. ``first`` and ``second`` are the two layers' einsum equations.
    With ``rolled``, the weights' last axis is a rotation, rolled by r for output rotation r (so the
    attention stays equivariant)."""

    def __init__(self, fc1_shape: tuple[int, ...], fc2_shape: tuple[int, ...], first: str, second: str,
                 rolled: bool = False) -> None:
        super().__init__()
        self.first, self.second, self.rolled = first, second, rolled
        self.weight_fc1 = nn.Parameter(torch.empty(fc1_shape))
        self.weight_fc2 = nn.Parameter(torch.empty(fc2_shape))
        nn.init.kaiming_uniform_(self.weight_fc1, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.weight_fc2, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fc1, fc2 = self.weight_fc1, self.weight_fc2
        if self.rolled:
            fc1, fc2 = (torch.stack([w.roll(r, dims=-1) for r in range(ROTATIONS)], dim=1) for w in (fc1, fc2))
        total = sum(torch.einsum(self.second, torch.relu(torch.einsum(self.first, stat, fc1)), fc2)
                    for stat in (x.mean(dim=(-2, -1)), x.amax(dim=(-2, -1))))
        return torch.sigmoid(total)[..., None, None]


class ChannelAttention(_CbamChannelAttention):
    """α lifting: one MLP per output channel over the input-channel contributions.

    weight_fc1 ``[C_out, C_in // ratio, C_in]``, weight_fc2 ``[C_out, C_in, C_in // ratio]``;
    input contributions ``[B, C_out, 4, C_in, H, W]`` -> attention ``[B, C_out, 4, C_in, 1, 1]``.
    """

    def __init__(self, c_out: int, c_in: int, ratio: int = 1) -> None:
        super().__init__((c_out, c_in // ratio, c_in), (c_out, c_in, c_in // ratio),
                         "bori,oli->borl", "borl,oil->bori")


class ChannelAttentionGG(_CbamChannelAttention):
    """α group conv: MLPs over (input channel) for each (output channel, rotation, input rotation).

    weight_fc1 ``[C_out, C_in // ratio, C_in, 4]``, weight_fc2 ``[C_out, C_in, C_in // ratio, 4]``,
    rolled along the last axis by r for output rotation r (so the attention stays equivariant).
    Contributions ``[B, C_out, 4, C_in, 4, H, W]`` -> ``[B, C_out, 4, C_in, 4, 1, 1]``.
    """

    def __init__(self, c_out: int, c_in: int, ratio: int = 1) -> None:
        super().__init__((c_out, c_in // ratio, c_in, ROTATIONS), (c_out, c_in, c_in // ratio, ROTATIONS),
                         "borij,orlij->borlj", "borlj,orilj->borij", rolled=True)


def _stats(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean and max over ``dim``, stacked in its place (2 entries)."""
    return torch.cat([x.mean(dim=dim, keepdim=True), x.amax(dim=dim, keepdim=True)], dim=dim)


class SpatialAttention(nn.Module):
    """α lifting: a rotated 7x7 conv over the mean and max across input channels.

    weight ``[C_out, 2, k, k]``; ``[B, C_out, 4, C_in, H, W]`` -> ``[B, C_out, 4, 1, H, W]`` in [0, 1].
    """

    def __init__(self, c_out: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, 2, kernel_size, kernel_size))
        nn.init.uniform_(self.weight, -1 / math.sqrt(2 * kernel_size ** 2), 1 / math.sqrt(2 * kernel_size ** 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c_out, _, _, h, w = x.shape
        k = self.weight.shape[-1]
        kernels = lifted_kernels(self.weight).reshape(-1, 1, k, k)  # (o, r, stat)
        out = F.conv2d(_stats(x, 3).reshape(b, -1, h, w), kernels, padding=k // 2, groups=kernels.shape[0])
        return torch.sigmoid(out.view(b, c_out, ROTATIONS, 2, h, w).sum(3, keepdim=True))


class SpatialAttentionGG(nn.Module):
    """α group conv: a 7x7 group conv over the mean and max across input channels.

    weight ``[C_out, 2, 4, k, k]``; ``[B, C_out, 4, C_in, 4, H, W]`` -> ``[B, C_out, 4, 1, 4, H, W]``.
    """

    def __init__(self, c_out: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, 2, ROTATIONS, kernel_size, kernel_size))
        bound = 1 / math.sqrt(2 * kernel_size ** 2)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c_out, _, _, _, h, w = x.shape
        k = self.weight.shape[-1]
        kernels = group_kernels(self.weight).reshape(-1, 1, k, k)  # (o, r, stat, j)
        out = F.conv2d(_stats(x, 3).reshape(b, -1, h, w), kernels, padding=k // 2, groups=kernels.shape[0])
        return torch.sigmoid(out.view(b, c_out, ROTATIONS, 2, ROTATIONS, h, w).sum(3, keepdim=True))


def _unattended(parts: torch.Tensor, channel_attention: nn.Module, spatial_attention: nn.Module) -> torch.Tensor:
    """α: each input contribution less its attended part, ``parts * (1 - a_ch * a_sp)``, the spatial
    attention computed on the channel-attended contributions."""
    attended = channel_attention(parts) * parts
    return parts - spatial_attention(attended) * attended


class AttLiftingConv(LiftingConv):
    """α lifting conv: every input channel's contribution is attended before the sum.

    out = Σ_i contribution_i * (1 - a_ch * a_sp), with a_sp computed on the channel-attended
    contributions (no Haar factor on the lifting layer, as in the authors' code).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, ratio: int = 1, sp_kernel: int = 7) -> None:
        super().__init__(c_in, c_out, kernel_size)
        self.channel_attention = ChannelAttention(c_out, c_in, ratio)
        self.spatial_attention = SpatialAttention(c_out, sp_kernel)

    def contributions(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` -> per-input-channel outputs ``[B, C_out, 4, C_in, H', W']``."""
        k = self.weight.shape[-1]
        kernels = lifted_kernels(self.weight).permute(2, 0, 1, 3, 4).reshape(-1, 1, k, k)  # (i, o, r)
        out = F.conv2d(x, kernels, padding=self.padding, groups=self.c_in)
        b, _, h, w = out.shape
        return out.view(b, self.c_in, self.c_out, ROTATIONS, h, w).permute(0, 2, 3, 1, 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _unattended(self.contributions(x), self.channel_attention, self.spatial_attention).sum(dim=3)


class AttGroupConv(GroupConv):
    """α group conv: each (input channel, input rotation) contribution is attended before the sum."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, ratio: int = 2, sp_kernel: int = 7) -> None:
        super().__init__(c_in, c_out, kernel_size)
        self.channel_attention = ChannelAttentionGG(c_out, c_in, ratio)
        self.spatial_attention = SpatialAttentionGG(c_out, sp_kernel)

    def contributions(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, 4, H, W]`` -> ``[B, C_out, 4, C_in, 4, H', W']``."""
        k = self.weight.shape[-1]
        kernels = group_kernels(self.weight).permute(2, 3, 0, 1, 4, 5).reshape(-1, 1, k, k)  # (i, j, o, r)
        b, _, _, h, w = x.shape
        out = F.conv2d(x.reshape(b, self.c_in * ROTATIONS, h, w), kernels, padding=self.padding,
                       groups=self.c_in * ROTATIONS)
        h2, w2 = out.shape[-2:]
        return out.view(b, self.c_in, ROTATIONS, self.c_out, ROTATIONS, h2, w2).permute(0, 3, 4, 1, 2, 5, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = _unattended(self.contributions(x), self.channel_attention, self.spatial_attention)
        return HAAR * parts.sum(dim=(3, 4))


# --------------------------------------------------------------------------- feature-map attention (αF)

class FeatChannelAttention(_CbamChannelAttention):
    """αF lifting: CBAM channel attention on the input image channels. fc1 ``[C // r, C]``."""

    def __init__(self, channels: int, ratio: int = 1) -> None:
        super().__init__((channels // ratio, channels), (channels, channels // ratio), "bi,li->bl", "bl,il->bi")


class FeatChannelAttentionGG(_CbamChannelAttention):
    """αF group: channel attention over (channel, rotation), a rolled 1x1 group conv MLP.

    fc1 ``[C // r, C, 4]``, fc2 ``[C, C // r, 4]``; ``[B, C, 4, H, W]`` -> ``[B, C, 4, 1, 1]``.
    """

    def __init__(self, channels: int, ratio: int = 2) -> None:
        super().__init__((channels // ratio, channels, ROTATIONS), (channels, channels // ratio, ROTATIONS),
                         "bij,lrij->blr", "blj,irlj->bir", rolled=True)


class FeatSpatialAttention(LiftingConv):
    """αF lifting: a dilated lifting conv over channel mean/max, max over rotations -> ``[B, 1, H, W]``."""

    def __init__(self, kernel_size: int = 7, dilation: int = 4) -> None:
        super().__init__(2, 1, kernel_size, padding=dilation * (kernel_size // 2), dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(_stats(x, 1)).amax(dim=2))


class FeatSpatialAttentionGG(GroupConv):
    """αF group: a 7x7 group conv over channel mean/max -> ``[B, 1, 4, H, W]`` in [0, 1]."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(_stats(x, 1)))


class FAttLiftingConv(LiftingConv):
    """αF lifting conv: x * (1 - a_ch * a_sp) on the input image, then the lifting conv."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__(c_in, c_out, kernel_size)
        self.channel_attention = FeatChannelAttention(c_in, 1)
        self.spatial_attention = FeatSpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.channel_attention(x) * x
        attended = self.spatial_attention(attended) * attended
        return self.conv(x - attended)


class FAttGroupConv(GroupConv):
    """αF group conv: x * (1 - a_ch * a_sp) on the input group maps, then the group conv."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, ratio: int = 2) -> None:
        super().__init__(c_in, c_out, kernel_size)
        self.channel_attention = FeatChannelAttentionGG(c_in, ratio)
        self.spatial_attention = FeatSpatialAttentionGG()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = self.channel_attention(x) * x
        attended = self.spatial_attention(attended) * attended
        return self.conv(x - attended)


# --------------------------------------------------------------------------- the rot-MNIST networks

class GroupFlatten(nn.Module):
    """``[B, C, 4, H, W]`` -> ``[B, C * 4, H, W]`` (unit c * 4 + r); a hook point for the app."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1, 2)


class RotMnistNet(nn.Module):
    """The 7-layer rot-MNIST layout shared by all four architectures.

    Layers c1..c6 (3x3, no padding, no bias) each followed by BatchNorm and ReLU, dropout 0.3
    after layers 1 and 3-6, a 2x2 max pool after layer 2, and a final 4x4 layer to 10 classes
    (max over rotations for the group models). Input ``[B, 1, 28, 28]`` normalised; output logits ``[B, 10]``.

    Hook modules (no parameters): ``pre{i}`` (after BatchNorm), ``relu{i}`` (the layer value),
    ``pool2``, ``out7`` (the last layer before the max) and ``logits``. For group models they
    see flattened ``[B, C * 4, H, W]`` tensors, and the forward pass continues from what they return.
    """

    group = True

    def __init__(self, convs: list[nn.Module], channels: int) -> None:
        super().__init__()
        self.channels = channels
        for i, conv in enumerate(convs, start=1):
            self.add_module(f"c{i}", conv)
        norm = nn.BatchNorm3d if self.group else nn.BatchNorm2d
        flat = GroupFlatten if self.group else nn.Identity
        for i in range(1, 7):
            self.add_module(f"bn{i}", norm(channels, eps=BN_EPS))
            self.add_module(f"pre{i}", flat())
            self.add_module(f"relu{i}", nn.ReLU())
        self.pool2 = flat()
        self.out7 = flat()
        self.logits = nn.Identity()
        self.dp = nn.Dropout(DROPOUT)

    def _unflat(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (-1, ROTATIONS)) if self.group else x

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = getattr(self, f"bn{i}")(getattr(self, f"c{i}")(x))
        return self._unflat(getattr(self, f"relu{i}")(getattr(self, f"pre{i}")(x)))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if not self.group:
            return F.max_pool2d(x, 2, 2)
        b, c, r, h, w = x.shape
        return F.max_pool2d(x.reshape(b, c * r, h, w), 2, 2).view(b, c, r, h // 2, w // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``[B, 1, 28, 28]`` (normalised) -> logits ``[B, 10]``."""
        x = self.dp(self._layer(1, x))
        x = self._layer(2, x)
        x = self._unflat(self.pool2(self._pool(x)))
        for i in range(3, 7):
            x = self.dp(self._layer(i, x))
        x = self._unflat(self.out7(self.c7(x)))
        if self.group:
            x = x.amax(dim=2)
        return self.logits(x.flatten(1))


class P4CNN(RotMnistNet):
    """P4CNN (Cohen & Welling 2016 layout): 24,610 parameters."""

    def __init__(self, channels: int = 10) -> None:
        convs = [LiftingConv(1, channels, 3)] + [GroupConv(channels, channels, 3) for _ in range(5)]
        super().__init__(convs + [GroupConv(channels, 10, 4)], channels)


class AttP4CNN(RotMnistNet):
    """α-P4CNN: full attentive group convolutions (channel ratio 2, 7x7 spatial): 73,130 parameters."""

    def __init__(self, channels: int = 10) -> None:
        convs = [AttLiftingConv(1, channels, 3, ratio=1)]
        convs += [AttGroupConv(channels, channels, 3, ratio=2) for _ in range(5)]
        super().__init__(convs + [AttGroupConv(channels, 10, 4, ratio=2)], channels)


class FAttP4CNN(RotMnistNet):
    """αF-P4CNN: attention on the input feature maps of each layer: 29,462 parameters."""

    def __init__(self, channels: int = 10) -> None:
        convs = [FAttLiftingConv(1, channels, 3)] + [FAttGroupConv(channels, channels, 3) for _ in range(5)]
        super().__init__(convs + [FAttGroupConv(channels, 10, 4)], channels)


class Z2CNN(RotMnistNet):
    """Z2CNN: the same layout with ordinary convolutions and 20 channels: 21,620 parameters."""

    group = False

    def __init__(self, channels: int = 20) -> None:
        convs = [nn.Conv2d(1, channels, 3, bias=False)]
        convs += [nn.Conv2d(channels, channels, 3, bias=False) for _ in range(5)]
        super().__init__(convs + [nn.Conv2d(channels, 10, 4, bias=False)], channels)
        for conv in convs:
            nn.init.normal_(conv.weight, 0.0, math.prod(conv.weight.shape[1:]) ** -0.5)


CLASSES: dict[str, type[RotMnistNet]] = {"p4cnn": P4CNN, "a_p4cnn": AttP4CNN, "fa_p4cnn": FAttP4CNN,
                                         "z2cnn": Z2CNN}


def build(arch: str) -> RotMnistNet:
    """A freshly initialised network for ``arch`` (one of :data:`ARCHITECTURES`)."""
    return CLASSES[arch]()


def hook_points(net: RotMnistNet) -> dict[str, nn.Module]:
    """Public layer names -> modules: ``c1..c6`` (after ReLU), ``c{i}_pre_relu``, ``pool2``, ``c7``, ``logits``."""
    points: dict[str, nn.Module] = {}
    for i in range(1, 7):
        points[f"c{i}_pre_relu"] = getattr(net, f"pre{i}")
        points[f"c{i}"] = getattr(net, f"relu{i}")
        if i == 2:
            points["pool2"] = net.pool2
    points["c7"] = net.out7
    points["logits"] = net.logits
    return points


def is_group_layer(net: RotMnistNet, layer: str) -> bool:
    """Whether a public layer's channels are (channel, rotation) pairs; ``logits`` is invariant."""
    return net.group and layer != "logits"


def spatial_attention_modules(net: nn.Module) -> dict[str, nn.Module]:
    """``{"c1": module, ...}``: the spatial attention of each attentive layer (empty for P4CNN/Z2CNN)."""
    found = {}
    for i in range(1, 8):
        module = getattr(getattr(net, f"c{i}", None), "spatial_attention", None)
        if module is not None:
            found[f"c{i}"] = module
    return found


def attention_maps(net: RotMnistNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Spatial attention of every attentive layer for a normalised input ``x`` ``[B, 1, H, W]``.

    Returns ``{"c1": [B, R, h, w], ...}`` with values in [0, 1]: for α-P4CNN the mean over
    output channels (and input rotations) of a_sp for each output rotation (R = 4); for
    αF-P4CNN the map applied to the layer's input (R = 1 on the image, 4 on group maps).
    Rotating the input by 90 degrees rotates each map and shifts its rotation axis by one.
    Hooks are removed before returning. Empty for networks without attention.
    """
    found: dict[str, torch.Tensor] = {}
    handles = []

    def keep(name: str):
        def hook(_module, _inputs, output):
            found[name] = output.detach()
        return hook

    try:
        for name, module in spatial_attention_modules(net).items():
            handles.append(module.register_forward_hook(keep(name)))
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    maps = {}
    for name, value in found.items():
        if value.dim() == 7:  # α group conv: [B, C_out, 4, 1, 4, H, W]
            value = value.mean(dim=(1, 3, 4))
        elif value.dim() == 6:  # α lifting: [B, C_out, 4, 1, H, W]
            value = value.mean(dim=(1, 3))
        elif value.dim() == 5:  # αF group: [B, 1, 4, H, W]
            value = value[:, 0]
        maps[name] = value  # αF lifting stays [B, 1, H, W]
    return maps


def combined_attention(maps: dict[str, torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """The authors' overall view: the product over layers of each map's rotation mean, upsampled
    bilinearly to ``size`` -> ``[B, H, W]``. It rotates with the input."""
    total = None
    for value in maps.values():
        layer = F.interpolate(value.mean(dim=1, keepdim=True), size=size, mode="bilinear", align_corners=False)
        total = layer if total is None else total * layer
    return total[:, 0]


# ---------------------------------------------------------------------------------------------
# Rotated filter copies (registered as ``LoadedModel.rotated_kernels``)

def group_conv(model: LoadedModel, layer: str) -> nn.Module:
    """The lifting or group convolution producing group layer ``layer`` (the last one run up to it)."""
    named = [(n, m) for n, m in model.net.named_modules() if isinstance(m, (LiftingConv, GroupConv))]
    # Attention modules inside a layer are group convs too; keep only the outermost ones.
    outer = [m for n, m in named if not any(n.startswith(o + ".") for o, _ in named)]
    found = last_module_before(model, layer, outer)
    if found is None:
        raise UserError(f"no group convolution runs before {layer}")
    return found


def rotated_kernels(model: LoadedModel, layer: str) -> np.ndarray:
    """[C_out, 4, C_in, J, kh, kw]: the kernels group layer ``layer`` applies per output rotation
    (J = 1 for the lifting layer, 4 input rotations for a group convolution)."""
    conv = group_conv(model, layer)
    weight = conv.weight.detach().float().cpu()
    if isinstance(conv, GroupConv):
        return group_kernels(weight).numpy()
    return lifted_kernels(weight)[:, :, :, None].numpy()
