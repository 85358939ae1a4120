"""Weights made readable: first-layer RGB filters, expanded weights and circuit grids.

Expanded weights (Distill "Visualizing Weights") are the spatial weights from each channel of an
earlier layer into one later unit's centre position, through everything in between as if it
were linear. Two methods, which agree where both apply:

* the general one, :func:`expanded_weights`: the gradient of the unit's centre value with
  respect to the earlier layer in a *linearised copy* of the model (:func:`linearised_copy`:
  ReLU-like activations -> identity, max pools -> average pools, local response norm ->
  identity). The earlier layer's activations are replaced by a zero leaf tensor, so the result
  does not depend on any input image; the kernel is cropped to the unit's receptive-field
  support in the earlier layer and centred (odd height and width);
* the exact one for InceptionV1 blocks, :func:`bottleneck_product`: the 1x1 bottleneck matrix
  times the 3x3/5x5 conv (and the 1x1 branch's own weights), ignoring the ReLU between them.

For p4 group CNNs, :func:`rotated_filter_copies` gives each filter of a lifting or group
convolution as the layer applies it for output rotations r = 0..3 (rotated by r * 90 degrees,
input-rotation axis rolled by r), drawn side by side by :func:`rotated_copies_figure`.

Figures (:func:`filter_grid_figure`, :func:`expanded_figure`, :func:`circuit_figure`,
:func:`rotated_copies_figure`) use the Circuits red/white/blue convention and are shared by the
CLI and the GUI's Export PNG.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import weakref
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from torch.overrides import TorchFunctionMode

from circuitloupe.core import figures
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import PRE_RELU_SUFFIX, UnitRef

Ranked = list[tuple[UnitRef, float]]

# ---------------------------------------------------------------------------------------------
# The linearised copy

_IDENTITY_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Hardswish, nn.Mish, nn.LocalResponseNorm,
)


class _PaddedAvgPool(nn.Module):
    """Average pool over a zero-padded input: the linear stand-in for a -inf padded max pool."""

    def __init__(self, kernel: int, stride: int, pad: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad = kernel, stride, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, self.pad), self.kernel, self.stride)


def _linear_replacement(module: nn.Module) -> nn.Module | None:
    """The linear module that replaces ``module`` in the linearised copy, or None to keep it."""
    from circuitloupe.core.models import inceptionv1 as iv1

    if isinstance(module, _IDENTITY_TYPES) or isinstance(module, iv1.LocalResponseNorm):
        return nn.Identity()
    if isinstance(module, iv1.PadMaxPool):
        return _PaddedAvgPool(module.kernel, module.stride, module.pad)
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)):
            return None
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                            count_include_pad=True)
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    return None


class _FunctionalReluAsIdentity(TorchFunctionMode):
    """Within the block, ``F.relu``/``torch.relu`` calls written in forward code are identity.

    Module swaps cannot reach activations that a model calls functionally (torchvision's
    GoogLeNet does); at the zero leaf their gradient would otherwise be 0.
    """

    _RELUS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self._RELUS:
            return args[0]
        return func(*args, **(kwargs or {}))


_LINEARISED: "weakref.WeakKeyDictionary[LoadedModel, tuple[str, LoadedModel]]" = weakref.WeakKeyDictionary()


def linearised_copy(model: LoadedModel) -> LoadedModel:
    """A deep copy of ``model`` whose nonlinearities are swapped for linear stand-ins.

    ReLU-like activations and local response norm become identity, max pools become average
    pools (zero padding counted). Hook points keep their names and point at the copied (or
    swapped) modules. Cached per model object.
    """
    cached = _LINEARISED.get(model)
    if cached is not None and cached[0] == model.weights_id:
        return cached[1]
    net = copy.deepcopy(model.net)
    names = {id(module): name for name, module in model.net.named_modules()}
    for name, module in list(net.named_modules()):
        replacement = _linear_replacement(module)
        if replacement is not None and name:
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name), child, replacement.to(model.device))
    hook_points = {layer: net.get_submodule(names[id(module)]) for layer, module in model.hook_points.items()}
    linear = dataclasses.replace(model, net=net, hook_points=hook_points, name=f"{model.name} (linearised)",
                                 weights_id=f"{model.weights_id};linearised")
    linear.__dict__["catalogue"] = model.catalogue  # same layers and shapes
    _LINEARISED[model] = (model.weights_id, linear)
    return linear


# ---------------------------------------------------------------------------------------------
# Which layers to connect by default

_POOL_TYPES: tuple[type[nn.Module], ...] = (
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LocalResponseNorm, nn.Softmax,
)


def _is_pool(model: LoadedModel, name: str) -> bool:
    from circuitloupe.core.models import inceptionv1 as iv1

    module = model.hook_points.get(name)
    return isinstance(module, _POOL_TYPES + (iv1.PadMaxPool, iv1.LocalResponseNorm))


def source_layers(model: LoadedModel, layer: str) -> list[str]:
    """Layers expanded weights into ``layer`` can come from: earlier, not pre-ReLU, with maps."""
    catalogue = model.catalogue
    position = catalogue.position(layer)
    return [info.name for info in catalogue
            if catalogue.position(info.name) < position and not info.is_pre_relu and info.shape[1] > 1]


def target_layers(model: LoadedModel, layer: str) -> list[str]:
    """Layers ``layer``'s units feed that expanded weights can reach: later, not pre-ReLU, with maps."""
    catalogue = model.catalogue
    position = catalogue.position(layer)
    return [info.name for info in catalogue
            if catalogue.position(info.name) > position and not info.is_pre_relu and info.shape[1] > 1]


def default_source_layer(model: LoadedModel, layer: str) -> str | None:
    """The layer the articles would expand from: for a block-structured model (InceptionV1) the
    last earlier top-level layer that is not a pool (mixed3b -> mixed3a, mixed4a -> mixed3b);
    otherwise the last earlier layer that is not a pool (the activation feeding the conv)."""
    catalogue = model.catalogue
    group = catalogue.layer(layer).group
    names = [n for n in source_layers(model, layer) if not _is_pool(model, n)]
    if model.layer_parts:
        top = [n for n in names if catalogue.layer(n).group is None and n != group]
        if top:
            return top[-1]
    return names[-1] if names else None


def default_target_layer(model: LoadedModel, layer: str) -> str | None:
    """The next layer of units ``layer`` feeds: the next top-level block for a block-structured
    model (mixed3a -> mixed3b), else the next layer computed by a conv or linear module."""
    catalogue = model.catalogue
    info = catalogue.layer(layer)
    names = [n for n in target_layers(model, layer) if not _is_pool(model, n) and n != info.group]
    if model.layer_parts:
        top = [n for n in names if catalogue.layer(n).group is None]
        if top:
            return top[0]
    weighted = [n for n in names if isinstance(model.hook_points[n], (nn.Conv2d, nn.Linear))]
    return (weighted or names or [None])[0]


# ---------------------------------------------------------------------------------------------
# Expanded weights by gradient

class _Stop(Exception):
    """Ends the forward pass once the later layer has been computed."""


def _check_order(model: LoadedModel, src_layer: str, dst_layer: str) -> tuple[str, str]:
    catalogue = model.catalogue
    src, dst = catalogue.layer(src_layer).name, catalogue.layer(dst_layer).name
    if catalogue.position(src) >= catalogue.position(dst):
        raise UserError(f"{src} does not come before {dst}; expanded weights run from an earlier layer "
                        "to a later unit")
    return src, dst


Size = tuple[int, int]
LeafFn = Callable[[torch.Tensor], torch.Tensor]


def _linear_response(linear: LoadedModel, src: str, dst: str, size: Size, batch: int, make_leaf: LeafFn,
                     params: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the linearised model on ``batch`` zero images of ``size`` with ``src``'s output
    replaced by ``make_leaf(output)``; returns (leaf, dst output [B, C, H, W])."""
    state: dict[str, torch.Tensor] = {}

    def replace(_module, _inputs, output):
        state["leaf"] = make_leaf(output)
        return state["leaf"]

    def record(_module, _inputs, output):
        state["out"] = output
        raise _Stop()

    images = torch.zeros(batch, linear.in_channels, *size, device=linear.device)
    handles = [linear.hook_points[src].register_forward_hook(replace),
               linear.hook_points[dst].register_forward_hook(record)]
    try:
        with torch.enable_grad(), _FunctionalReluAsIdentity():
            if params is None:
                linear.forward(images)
            else:
                torch.func.functional_call(linear.net, params, (linear.preprocessing.apply(images),))
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    if "out" not in state or "leaf" not in state:
        raise UserError(f"{dst} could not be reached from {src} in one forward pass")
    out = state["out"]
    return state["leaf"], out if out.dim() == 4 else out.reshape(out.shape[0], -1, 1, 1)


def _zero_leaf(output: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(output).requires_grad_(True)


def _centre_gradients(linear: LoadedModel, src: str, dst: str, channels: Sequence[int], size: Size,
                      params: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """d(dst[channel_n] at the centre) / d(src) for each n: [N, C_src, H_src, W_src] at ``size``."""
    leaf, out = _linear_response(linear, src, dst, size, len(channels), _zero_leaf, params)
    y, x = out.shape[2] // 2, out.shape[3] // 2
    index = torch.arange(len(channels), device=out.device)
    picked = out[index, torch.as_tensor(list(channels), device=out.device), y, x]
    if not picked.requires_grad:
        raise UserError(f"{dst} does not depend on {src}")
    (grad,) = torch.autograd.grad(picked.sum(), leaf, allow_unused=True)
    if grad is None:
        raise UserError(f"{dst} does not depend on {src}")
    return grad.detach()


_SUPPORT: "weakref.WeakKeyDictionary[LoadedModel, dict]" = weakref.WeakKeyDictionary()
Window = tuple[int, int, int, int]


def _probe_sizes(model: LoadedModel) -> list[Size]:
    """Input sizes to try, smallest first: 1/8, 1/4, 1/2 of the model's, then the full size."""
    h, w = model.input_size
    sizes = [(max(16, round(h * f)), max(16, round(w * f))) for f in (0.125, 0.25, 0.5)]
    return [size for size in dict.fromkeys(sizes) if size[0] < h and size[1] < w] + [(h, w)]


def _support_window(model: LoadedModel, src: str, dst: str, channel: int, size: Size) -> tuple[Window, Size]:
    """The odd-sized window the centre of ``dst:channel`` sees in ``src`` at input ``size``, and
    the src map's (height, width). Found with every weight set to 1, where nothing cancels."""
    linear = linearised_copy(model)
    ones = {name: torch.ones_like(value) if value.is_floating_point() else value
            for name, value in [*linear.net.named_parameters(), *linear.net.named_buffers()]}
    grad = _centre_gradients(linear, src, dst, [channel], size, params=ones)[0].abs().sum(0)
    rows = torch.nonzero(grad.sum(1) > 0).flatten().tolist()
    cols = torch.nonzero(grad.sum(0) > 0).flatten().tolist()
    if not rows:
        raise UserError(f"{dst}:{channel} does not depend on {src}")
    (top, height), (left, width) = _odd_span(rows[0], rows[-1]), _odd_span(cols[0], cols[-1])
    return (top, left, height, width), (grad.shape[0], grad.shape[1])


def receptive_window(model: LoadedModel, src_layer: str, dst_layer: str,
                     channel: int = 0) -> tuple[Size, Window]:
    """The smallest input size at which the centre of ``dst_layer``'s ``channel`` sees all of its
    receptive field inside ``src_layer``'s map (with a one-cell margin; else the model's input
    size), and the centred window (top, left, height, width) in ``src_layer`` coordinates at that
    size; height and width are odd. Channels of one branch of a concatenated layer share it.

    Expanded weights are translation invariant away from the borders, so computing them at the
    smaller size gives the same kernel for a fraction of the work.
    """
    src, dst = _check_order(model, src_layer, dst_layer)
    part = model.catalogue.branch_of(UnitRef(dst, channel)).layer
    cache = _SUPPORT.setdefault(model, {})
    if (src, dst, part) not in cache:
        sizes = _probe_sizes(model)
        for size in sizes:
            try:
                window, (h, w) = _support_window(model, src, dst, channel, size)
            except RuntimeError:  # too small for this network
                continue
            top, left, height, width = window
            inside = top >= 1 and left >= 1 and top + height <= h - 1 and left + width <= w - 1
            if inside or size == sizes[-1]:
                cache[(src, dst, part)] = (size, window)
                break
    return cache[(src, dst, part)]


def _union(windows: Sequence[Window]) -> Window:
    """The smallest odd-sized window containing all ``windows``."""
    top, left = min(w[0] for w in windows), min(w[1] for w in windows)
    bottom, right = max(w[0] + w[2] for w in windows), max(w[1] + w[3] for w in windows)
    (top, height), (left, width) = _odd_span(top, bottom - 1), _odd_span(left, right - 1)
    return top, left, height, width


def _odd_span(first: int, last: int) -> tuple[int, int]:
    """(start, length) covering first..last with an odd length (one extra cell at the end)."""
    length = last - first + 1
    return first, length + (1 - length % 2)


def _crop(grads: torch.Tensor, window: tuple[int, int, int, int]) -> np.ndarray:
    """Cut [N, C, H, W] gradients to the window, zero-filling any part beyond the map."""
    top, left, height, width = window
    n, c, h, w = grads.shape
    out = torch.zeros(n, c, height, width, dtype=grads.dtype, device=grads.device)
    rows = slice(max(top, 0), min(top + height, h))
    cols = slice(max(left, 0), min(left + width, w))
    out[:, :, rows.start - top:rows.stop - top, cols.start - left:cols.stop - left] = grads[:, :, rows, cols]
    return out.cpu().numpy().astype(np.float32)


def gradient_weights(model: LoadedModel, units: Sequence[UnitRef | str], src_layer: str) -> np.ndarray:
    """Expanded weights of several units of one layer from ``src_layer`` by the linearised gradient.

    Returns [N, C_src, kh, kw] float32, cropped to the union of the units' receptive windows.
    """
    catalogue = model.catalogue
    refs = [catalogue.unit(u) for u in units]
    layers = {ref.layer for ref in refs}
    if len(layers) != 1:
        raise UserError("gradient_weights takes units of one layer")
    dst = layers.pop()
    src, dst = _check_order(model, src_layer, dst)
    size, window = _shared_window(model, src, dst, [ref.channel for ref in refs])
    grads = _centre_gradients(linearised_copy(model), src, dst, [ref.channel for ref in refs], size)
    return _crop(grads, window)


def _shared_window(model: LoadedModel, src: str, dst: str, channels: Sequence[int]) -> tuple[Size, Window]:
    """One input size and one window that serve all ``channels`` of ``dst`` (the largest size
    any of them needs, and the union of their windows at that size)."""
    parts: dict[str, int] = {}
    for channel in channels:
        parts.setdefault(model.catalogue.branch_of(UnitRef(dst, channel)).layer, channel)
    found = [receptive_window(model, src, dst, channel) for channel in parts.values()]
    size = max((size for size, _ in found), key=lambda s: s[0] * s[1])
    windows = [window if wsize == size else _support_window(model, src, dst, channel, size)[0]
               for (wsize, window), channel in zip(found, parts.values())]
    return size, _union(windows)


# ---------------------------------------------------------------------------------------------
# Exact InceptionV1 bottleneck products

def _block_input(block: str) -> str:
    """The layer that feeds an InceptionV1 block (previous block, or the pool before it)."""
    from circuitloupe.core.models import inceptionv1 as iv1

    blocks = list(iv1.BLOCKS)
    if block in iv1.POOL_BEFORE:
        return iv1.POOL_BEFORE[block]
    index = blocks.index(block)
    return "maxpool1" if index == 0 else blocks[index - 1]


def _bottleneck_path(model: LoadedModel, unit: UnitRef | str, src_layer: str) -> list[torch.Tensor] | None:
    """The conv weights to multiply, first to last, or None when the product does not apply."""
    from circuitloupe.core.models import inceptionv1 as iv1

    if not isinstance(model.net, iv1.InceptionV1):
        return None
    catalogue = model.catalogue
    branch = catalogue.branch_of(unit).post_relu()
    src = catalogue.layer(src_layer).name
    for block in iv1.BLOCKS:
        if not branch.layer.startswith(block + "_"):
            continue
        part = branch.layer[len(block) + 1:]
        net = model.net
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


def bottleneck_applies(model: LoadedModel, unit: UnitRef | str, src_layer: str) -> bool:
    """True when :func:`bottleneck_product` can compute ``unit``'s weights from ``src_layer``."""
    return _bottleneck_path(model, unit, src_layer) is not None


def bottleneck_product(model: LoadedModel, unit: UnitRef | str, src_layer: str) -> np.ndarray:
    """Exact expanded weights through one InceptionV1 block: [C_src, k, k] float32.

    For a 3x3/5x5 branch unit (or a unit of the block's concatenation that maps to one) and the
    layer feeding the block, the 1x1 bottleneck matrix times the spatial conv, ignoring the ReLU
    between: ``E[c, i, j] = sum_b W_conv[o, b, i, j] * W_bottleneck[b, c]``. A 1x1 branch (or a
    bottleneck) unit gives its own weights, [C_src, 1, 1]; from the branch's own bottleneck, the
    conv's weights.
    """
    path = _bottleneck_path(model, unit, src_layer)
    if path is None:
        raise UserError(f"the bottleneck product does not apply to {unit} from {src_layer}; "
                        "use the gradient method")
    channel = model.catalogue.branch_of(unit).channel
    with torch.no_grad():
        if len(path) == 1:
            result = path[0][channel]
        else:
            bottleneck, conv = path
            result = torch.einsum("bij,bc->cij", conv[channel].double(), bottleneck[:, :, 0, 0].double())
    return result.float().cpu().numpy()


def expanded_weights(model: LoadedModel, unit: UnitRef | str, src_layer: str, method: str = "auto") -> np.ndarray:
    """Spatial expanded weights from every channel of ``src_layer`` into ``unit``'s centre.

    Returns [C_src, kh, kw] float32, centred on the receptive field (odd kh, kw). ``method``:
    ``"gradient"`` (linearised copy), ``"product"`` (InceptionV1 bottlenecks, exact) or ``"auto"``
    (the product where it applies, else the gradient).
    """
    if method not in ("auto", "gradient", "product"):
        raise UserError(f"method must be auto, gradient or product, not '{method}'")
    ref = model.catalogue.unit(unit)
    if method == "product" or (method == "auto" and bottleneck_applies(model, ref, src_layer)):
        return bottleneck_product(model, ref, src_layer)
    return gradient_weights(model, [ref], src_layer)[0]


def _top_norms(norms: np.ndarray, layer: str, k: int) -> Ranked:
    """The ``k`` largest of ``norms`` ([C]) as units of ``layer``, largest first; channels with no
    connection at all (norm exactly 0, e.g. every other channel into a depthwise unit) are left out."""
    order = [c for c in np.argsort(-norms, kind="stable") if norms[c] != 0][:max(0, k)]
    return [(UnitRef(layer, int(c)), float(norms[c])) for c in order]


def rank_by_norm(weights: np.ndarray, layer: str, k: int) -> Ranked:
    """The ``k`` connected channels of ``weights`` ([C, kh, kw]) with the largest L2 norm, largest first."""
    norms = np.sqrt((weights.astype(np.float64) ** 2).reshape(weights.shape[0], -1).sum(1))
    return _top_norms(norms, layer, k)


def top_inputs(model: LoadedModel, unit: UnitRef | str, src_layer: str, k: int = 10) -> Ranked:
    """The ``k`` units of ``src_layer`` with the largest expanded-weight L2 norm into ``unit``."""
    weights = expanded_weights(model, unit, src_layer)
    return rank_by_norm(weights, model.catalogue.layer(src_layer).name, k)


def output_norms(model: LoadedModel, unit: UnitRef | str, dst_layer: str) -> np.ndarray:
    """L2 norm of the expanded weights from ``unit`` into every unit of ``dst_layer``: [C_dst].

    Impulse responses in the linearised copy: ``unit``'s channel is set to 1 at the centre of
    its map (and at the s x s neighbouring positions for a total stride s, one per batch item,
    so every kernel entry is counted once); the change of ``dst_layer`` at every position is a
    weight, by translation invariance.
    """
    catalogue = model.catalogue
    ref = catalogue.unit(unit)
    src, dst = _check_order(model, ref.layer, dst_layer)
    info = catalogue.layer(dst)
    firsts = np.cumsum([0] + [count for _, count in info.parts[:-1]]) if info.parts else [0]
    size, _ = _shared_window(model, src, dst, [int(c) for c in firsts])
    src_shape, dst_shape = catalogue.layer(src).shape, info.shape
    stride = max(1, round(src_shape[1] / max(1, dst_shape[1])))
    offsets = [(a, b) for a in range(stride) for b in range(stride)]

    def impulses(output: torch.Tensor) -> torch.Tensor:
        leaf = torch.zeros_like(output)
        h, w = leaf.shape[2:]
        for i, (a, b) in enumerate(offsets, start=1):
            leaf[i, ref.channel, min(h // 2 + a, h - 1), min(w // 2 + b, w - 1)] = 1.0
        return leaf

    with torch.no_grad():
        _, out = _linear_response(linearised_copy(model), src, dst, size, len(offsets) + 1, impulses)
    response = (out[1:] - out[:1]).double()
    return response.pow(2).sum(dim=(0, 2, 3)).sqrt().float().cpu().numpy()


def top_outputs(model: LoadedModel, unit: UnitRef | str, dst_layer: str, k: int = 10) -> Ranked:
    """The ``k`` units of ``dst_layer`` that ``unit`` feeds most strongly (expanded-weight L2 norm)."""
    return _top_norms(output_norms(model, unit, dst_layer), model.catalogue.layer(dst_layer).name, k)


def circuit_weights(model: LoadedModel, src_units: Sequence[UnitRef | str], dst_units: Sequence[UnitRef | str],
                    progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """Expanded weights between two families: [len(dst), len(src), kh, kw] float32.

    Cell [i, j] is the spatial weight from ``src_units[j]`` into ``dst_units[i]``; kernels of
    different sizes are zero-padded about their centres to the largest.
    """
    catalogue = model.catalogue
    sources = [catalogue.unit(u) for u in src_units]
    targets = [catalogue.unit(u) for u in dst_units]
    cells: dict[tuple[int, int], np.ndarray] = {}
    pairs = sorted({(t.layer, s.layer) for t in targets for s in sources}, key=str)
    for step, (dst_layer, src_layer) in enumerate(pairs):
        check_stop(should_stop)
        rows = [i for i, t in enumerate(targets) if t.layer == dst_layer]
        cols = [j for j, s in enumerate(sources) if s.layer == src_layer]
        weights = [expanded_weights(model, targets[i], src_layer) for i in rows]
        for i, kernels in zip(rows, weights):
            for j in cols:
                cells[(i, j)] = kernels[sources[j].channel]
        if progress is not None:
            progress(step + 1, len(pairs))
    kh = max(cell.shape[0] for cell in cells.values())
    kw = max(cell.shape[1] for cell in cells.values())
    grid = np.zeros((len(targets), len(sources), kh, kw), dtype=np.float32)
    for (i, j), cell in cells.items():
        top, left = (kh - cell.shape[0]) // 2, (kw - cell.shape[1]) // 2
        grid[i, j, top:top + cell.shape[0], left:left + cell.shape[1]] = cell
    return grid


# ---------------------------------------------------------------------------------------------
# First-layer filters

def first_layer_conv(model: LoadedModel, layer: str | None = None) -> nn.Conv2d:
    """The conv producing ``layer`` (the last conv run up to it), or the first conv taking 3 channels."""
    convs = [m for m in model.net.modules() if isinstance(m, nn.Conv2d)]
    if layer is None:
        for conv in convs:
            if conv.in_channels == 3 and conv.groups == 1:
                return conv
        raise UserError("this model has no conv layer with 3 input channels")
    catalogue = model.catalogue
    name = catalogue.layer(layer).name
    for candidate in (name, catalogue.pre_relu_of(name)):
        if candidate is not None and isinstance(model.hook_points[candidate], nn.Conv2d):
            return model.hook_points[candidate]
    found = _last_run_before(model, name, convs)
    if found is None:
        raise UserError(f"no conv layer runs before {name}")
    return found


def _last_run_before(model: LoadedModel, layer: str, candidates: Sequence[nn.Module]) -> nn.Module | None:
    """Of ``candidates``, the module that finishes last before ``layer``'s hook point (one forward pass)."""
    target = model.hook_points[layer]
    order: list[nn.Module] = []

    def record(module, _inputs, _output):
        order.append(module)
        if module is target:
            raise _Stop()

    handles = [m.register_forward_hook(record) for m in {*candidates, target}]
    try:
        with torch.no_grad():
            model.forward(torch.zeros(1, model.in_channels, *model.input_size, device=model.device))
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    chosen = set(map(id, candidates))
    found = [m for m in order if id(m) in chosen]
    return found[-1] if found else None


def first_layer_filters(model: LoadedModel, layer: str | None = None) -> np.ndarray:
    """First-layer filters as RGB: [N, kh, kw, 3] float32 (raw weights, signed).

    ``layer`` names the conv (or its ReLU); default: the first conv with 3 input channels.
    """
    conv = first_layer_conv(model, layer)
    if conv.in_channels != 3 or conv.groups != 1:
        raise UserError(f"{layer or 'that layer'} takes {conv.in_channels} input channels; only filters "
                        "with 3 input channels show as RGB images")
    return conv.weight.detach().permute(0, 2, 3, 1).float().cpu().numpy()


def filter_grid_figure(filters: np.ndarray, per_filter_scaling: bool = True, scale: float = 1.0,
                       columns: int | None = None, tile_size: int = 48, title: str | None = None) -> Image.Image:
    """RGB filters ([N, kh, kw, 3]) as an indexed grid of tiles, grey = 0.

    Each filter maps 0.5 + 0.5 * w / m to [0, 1], where m is its own max |w| (per-filter scaling)
    or the max |w| over all filters (shared scaling, which keeps strengths comparable).
    """
    filters = np.asarray(filters, dtype=np.float32)
    if filters.ndim != 4 or filters.shape[-1] != 3:
        raise UserError(f"filters must be [N, kh, kw, 3], not {list(filters.shape)}")
    if per_filter_scaling:
        limit = np.abs(filters).reshape(len(filters), -1).max(1)[:, None, None, None]
    else:
        limit = np.full((len(filters), 1, 1, 1), np.abs(filters).max())
    tiles = 0.5 + 0.5 * filters / np.where(limit > 0, limit, 1.0)
    columns = columns or max(1, int(np.ceil(np.sqrt(len(filters)) * 1.25)))
    return figures.tile_grid(list(tiles), [str(i) for i in range(len(filters))], columns=columns,
                             tile_size=tile_size, scale=scale, title=title)


# ---------------------------------------------------------------------------------------------
# Rotated copies of p4 group-convolution filters (models whose ``extras["group_layer"]`` says so)

#: The p4 rotations, counter-clockwise on screen (``torch.rot90`` with ``k = r``).
ROTATION_DEGREES = (0, 90, 180, 270)


def is_group_layer(model: LoadedModel, layer: str) -> bool:
    """Whether ``layer``'s channels are (channel, rotation) pairs: unit ``c * 4 + r``.

    Read from the model's ``extras["group_layer"](name)`` (the p4 group CNNs provide it).
    """
    test = model.extras.get("group_layer")
    return test is not None and bool(test(model.catalogue.layer(layer).name))


def group_layers(model: LoadedModel) -> list[str]:
    """The group layers of ``model`` in execution order, without their pre-ReLU twins."""
    return [info.name for info in model.catalogue if not info.is_pre_relu and is_group_layer(model, info.name)]


def group_conv(model: LoadedModel, layer: str) -> nn.Module:
    """The p4 lifting or group convolution producing group layer ``layer`` (the last one run up to it)."""
    from circuitloupe.core.models import gcnn

    name = model.catalogue.layer(layer).name
    if not is_group_layer(model, name):
        raise UserError(f"{name} is not a p4 group layer; rotated filter copies exist only for group convolutions")
    named = [(n, m) for n, m in model.net.named_modules() if isinstance(m, (gcnn.LiftingConv, gcnn.GroupConv))]
    # Attention modules inside a layer are group convs too; keep only the outermost ones.
    outer = [m for n, m in named if not any(n.startswith(o + ".") for o, _ in named)]
    found = _last_run_before(model, name, outer)
    if found is None:
        raise UserError(f"no group convolution runs before {name}")
    return found


def rotated_kernels(model: LoadedModel, layer: str) -> np.ndarray:
    """The kernels a group layer's convolution applies for each output rotation r = 0..3.

    Returns [C_out, 4, C_in, J, kh, kw] float32: J = 1 for the lifting layer (image input),
    J = 4 input rotations for a group convolution. Copy r is the stored kernel rotated by r * 90
    degrees counter-clockwise and, for group convolutions, its input-rotation axis rolled by r,
    exactly as the layer applies it (raw weights: a group convolution also multiplies its output
    by the Haar measure 2π/4).
    """
    from circuitloupe.core.models import gcnn

    conv = group_conv(model, layer)
    weight = conv.weight.detach().float().cpu()
    if isinstance(conv, gcnn.GroupConv):
        return gcnn.group_kernels(weight).numpy()
    return gcnn.lifted_kernels(weight)[:, :, :, None].numpy()


def select_input_channel(kernels: np.ndarray, input_channel: int | None = None) -> np.ndarray:
    """[C_out, 4, C_in, J, kh, kw] -> [C_out, 4, J, kh, kw]: one input channel's slice, or the sum
    over input channels when ``input_channel`` is None (for the lifting layer both are its one map)."""
    if input_channel is None:
        return kernels.sum(axis=2, dtype=np.float64).astype(np.float32)
    if not 0 <= input_channel < kernels.shape[2]:
        raise UserError(f"this layer has input channels 0..{kernels.shape[2] - 1}, not {input_channel}")
    return np.ascontiguousarray(kernels[:, :, input_channel])


def input_channel_note(inputs: int, input_channel: int | None) -> str:
    """`` (sum over input channels)`` / `` (input channel 3)`` for figure titles; empty with one input."""
    if inputs == 1:
        return ""
    return " (sum over input channels)" if input_channel is None else f" (input channel {input_channel})"


def rotated_filter_copies(model: LoadedModel, layer: str, input_channel: int | None = None) -> np.ndarray:
    """Each filter's four rotated copies: [C_out, 4, J, kh, kw] (see :func:`rotated_kernels`).

    Filter o at rotation r is unit ``layer:o*4+r``. ``input_channel`` picks one input channel's
    [J, kh, kw] slice; None sums over input channels.
    """
    return select_input_channel(rotated_kernels(model, layer), input_channel)


@dataclass(frozen=True)
class CopiesLayout:
    """Where :func:`rotated_copies_figure` puts each map, in figure pixels, for hit tests.

    Filter o's copy for rotation r sits in row o and column r; its map for input rotation j has
    its top-left corner at ``(origin_x + r * column_step + j * (size + map_gap), origin_y + o * row_step)``
    and is ``size`` pixels square.
    """

    origin_x: int
    origin_y: int
    column_step: int
    row_step: int
    size: int
    map_gap: int
    filters: int
    maps: int

    def map_at(self, x: float, y: float, kh: int, kw: int) -> tuple[int, int, int, int, int] | None:
        """(filter, rotation, input rotation, kernel row, kernel column) under (x, y), or None."""
        r, dx = divmod(x - self.origin_x, self.column_step)
        o, dy = divmod(y - self.origin_y, self.row_step)
        j, dx = divmod(dx, self.size + self.map_gap)
        if not (0 <= r < 4 and 0 <= o < self.filters and j < self.maps and dx < self.size and dy < self.size):
            return None
        return int(o), int(r), int(j), int(dy * kh // self.size), int(dx * kw // self.size)


def copies_layout(filters: int, maps: int, scale: float = 1.0) -> CopiesLayout:
    """The layout of :func:`rotated_copies_figure` for ``filters`` rows of ``maps`` maps per copy."""
    size = int(round((56 if maps == 1 else 30) * scale))
    map_gap, column_gap = max(1, int(round(3 * scale))), int(round(12 * scale))
    label_w, title_h = int(round(30 * scale)), int(round(24 * scale))
    header_h = int(round((16 if maps == 1 else 30) * scale))
    step = maps * size + (maps - 1) * map_gap + column_gap
    return CopiesLayout(label_w, title_h + header_h, step, size + int(round(4 * scale)), size, map_gap, filters, maps)


def rotated_copies_figure(copies: np.ndarray, scale: float = 1.0, title: str | None = None) -> Image.Image:
    """Rotated filter copies ([C_out, 4, J, kh, kw]) as a grid: rows = filters, columns = rotations.

    Each cell holds the copy's J maps side by side (J = 4: input rotations j = 0..3, left to
    right); all maps share one red (positive) / white / blue (negative) scale, with a colour key.
    Layout: :func:`copies_layout`.
    """
    copies = np.asarray(copies, dtype=np.float32)
    if copies.ndim != 5 or copies.shape[1] != 4:
        raise UserError(f"rotated copies must be [C_out, 4, J, kh, kw], not {list(copies.shape)}")
    n, _, maps = copies.shape[:3]
    grid = copies_layout(n, maps, scale)
    limit = float(np.abs(copies).max()) or 1.0
    key_h = int(round(22 * scale))
    title = title or f"{n} filters x 4 rotations (shared scale ±{limit:.3g})"
    title_font = figures.font(max(9, int(round(14 * scale))))
    title_w = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(title, font=title_font)) + 8
    width = max(grid.origin_x + 4 * grid.column_step, int(round(300 * scale)), title_w)
    height = grid.origin_y + n * grid.row_step + key_h
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill="black", font=title_font)
    face = figures.font(max(8, int(round(11 * scale))))
    small = figures.font(max(7, int(round(9 * scale))))
    for r, degrees in enumerate(ROTATION_DEGREES):
        x = grid.origin_x + r * grid.column_step
        draw.text((x, grid.origin_y - int(round((15 if maps == 1 else 29) * scale))), f"r={r} ({degrees}°)",
                  fill="black", font=face)
        for j in range(maps if maps > 1 else 0):
            draw.text((x + j * (grid.size + grid.map_gap), grid.origin_y - int(round(13 * scale))), f"j={j}",
                      fill=(90, 90, 90), font=small)
    rgb = weight_rgb(copies, limit)
    for o in range(n):
        y = grid.origin_y + o * grid.row_step
        draw.text((2, y + grid.size // 2 - int(round(6 * scale))), str(o), fill="black", font=face)
        for r in range(4):
            for j in range(maps):
                x = grid.origin_x + r * grid.column_step + j * (grid.size + grid.map_gap)
                canvas.paste(figures.upscale(figures.to_pil(rgb[o, r, j]), (grid.size, grid.size)), (x, y))
    _colour_key(canvas, draw, grid.origin_x, height - key_h + int(round(6 * scale)), limit, scale, magnitude=False)
    return canvas


# ---------------------------------------------------------------------------------------------
# Thumbnails (feature visualisations, when the featurevis cache has them)

def cached_thumbnails(model: LoadedModel, units: Sequence[UnitRef]) -> dict[UnitRef, np.ndarray]:
    """Feature-visualisation thumbnails already cached for ``units`` ([H, W, 3] in [0, 1]).

    Units without a cached thumbnail (or without the feature visualisation module) are left out.
    """
    cache = _featurevis_cache()
    if cache is None:
        return {}
    found = {}
    for unit in units:
        image = cache.thumbnail(model, unit)
        if image is not None:
            found[unit] = np.asarray(image, dtype=np.float32)
    return found


def render_missing_thumbnails(model: LoadedModel, units: Sequence[UnitRef], size: int = 64, steps: int = 64,
                              progress: ProgressFn | None = None,
                              should_stop: StopFn | None = None) -> dict[UnitRef, np.ndarray]:
    """Thumbnails of ``units``: cached ones as they are, the rest rendered (``size`` px, ``steps``
    optimisation steps) and cached. Empty when feature visualisation is not available."""
    cache = _featurevis_cache()
    if cache is None:
        return {}
    found = cache.render_thumbnails(model, units, size=size, steps=steps, progress=progress,
                                    should_stop=should_stop)
    return {unit: np.asarray(image, dtype=np.float32) for unit, image in found.items()}


def featurevis_available() -> bool:
    """True when the feature visualisation module (and its thumbnail cache) can be imported."""
    return _featurevis_cache() is not None


def _featurevis_cache():
    try:
        return importlib.import_module("circuitloupe.core.featurevis.cache")
    except ImportError:
        return None


def pending_tile(size: int = 64, text: str = "") -> np.ndarray:
    """A light grey tile (with optional centred text) for a unit without a thumbnail: [size, size, 3]."""
    image = Image.new("RGB", (size, size), (228, 228, 228))
    if text:
        draw = ImageDraw.Draw(image)
        points = max(8, size // 6)
        face = figures.font(points)
        box = draw.textbbox((0, 0), text, font=face)
        while box[2] > size - 6 and points > 8:
            points -= 1
            face = figures.font(points)
            box = draw.textbbox((0, 0), text, font=face)
        draw.text(((size - box[2]) / 2, (size - box[3]) / 2), text, fill=(120, 120, 120), font=face)
    return np.asarray(image, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# Figures

def weight_rgb(values: np.ndarray, limit: float, magnitude: bool = False) -> np.ndarray:
    """Weights [..., kh, kw] -> RGB: red/white/blue about zero, or |w| from white to black."""
    if magnitude:
        t = np.clip(np.abs(values) / (limit if limit > 0 else 1.0), 0, 1)[..., None]
        return np.repeat(1.0 - t, 3, axis=-1).astype(np.float32)
    return figures.diverging_rgb(values, limit)


def _thumb(thumbnails: dict | None, unit: UnitRef, size: int) -> Image.Image:
    image = (thumbnails or {}).get(unit)
    array = pending_tile(size, str(unit.channel)) if image is None else image
    return figures.upscale(figures.to_pil(array).convert("RGB"), (size, size))


@dataclass(frozen=True)
class FigureGrid:
    """Where the cells of a weight figure lie, in figure pixels, so a view can hit-test them.

    Item ``n`` sits in row ``n // columns`` and column ``n % columns``; its heatmap's top-left
    corner is ``origin + (column * step_x + kernel_dx, row * step_y)`` and it is ``size`` pixels
    square; the thumbnail (expanded figure) lies ``size + gap`` to the heatmap's left.
    """

    origin_x: int
    origin_y: int
    step_x: int
    step_y: int
    size: int
    columns: int
    count: int
    kernel_dx: int = 0

    def cell_at(self, x: float, y: float, kh: int, kw: int) -> tuple[int, int, int] | None:
        """(item, kernel row, kernel column) of the heatmap pixel under (x, y), or None."""
        column, dx = divmod(x - self.origin_x - self.kernel_dx, self.step_x)
        row, dy = divmod(y - self.origin_y, self.step_y)
        item = int(row) * self.columns + int(column)
        if not (0 <= column < self.columns and row >= 0 and item < self.count):
            return None
        if not (0 <= dx < self.size and 0 <= dy < self.size):
            return None
        return item, int(dy * kh // self.size), int(dx * kw // self.size)

    def thumbnail_at(self, x: float, y: float) -> int | None:
        """The item whose thumbnail is under (x, y) (expanded figure), or None."""
        column, dx = divmod(x - self.origin_x, self.step_x)
        row, dy = divmod(y - self.origin_y, self.step_y)
        item = int(row) * self.columns + int(column)
        if 0 <= column < self.columns and row >= 0 and item < self.count and dx < self.size and dy < self.size:
            return item
        return None


def expanded_grid(count: int, scale: float = 1.0, cell: int = 96, columns: int = 4) -> FigureGrid:
    """The layout of :func:`expanded_figure` for ``count`` input units."""
    size, gap = int(round(cell * scale)), max(2, int(round(6 * scale)))
    text_h, title_h = int(round(16 * scale)), int(round(24 * scale))
    columns = max(1, min(columns, count)) if count else 1
    return FigureGrid(gap, title_h, 2 * size + 4 * gap, size + text_h + 2 * gap, size, columns, count,
                      kernel_dx=size + gap)


def expanded_figure(ranked: Sequence[tuple[UnitRef, float, np.ndarray]], target: UnitRef | str,
                    thumbnails: dict[UnitRef, np.ndarray] | None = None, scale: float = 1.0,
                    cell: int = 96, columns: int = 4) -> Image.Image:
    """Top input units of ``target``: each unit's thumbnail beside its kernel heatmap.

    ``ranked`` holds (input unit, L2 norm, kernel [kh, kw]); all kernels share one colour scale
    (red excitatory, blue inhibitory). Layout: :func:`expanded_grid`.
    """
    grid = expanded_grid(len(ranked), scale, cell, columns)
    size, gap = grid.size, max(2, int(round(6 * scale)))
    text_h = int(round(16 * scale))
    limit = max((float(np.abs(k).max()) for _, _, k in ranked), default=1.0) or 1.0
    rows = max(1, -(-len(ranked) // grid.columns))
    width = grid.origin_x + grid.columns * grid.step_x
    height = grid.origin_y + rows * grid.step_y + text_h + gap
    canvas = Image.new("RGB", (max(width, int(round(420 * scale))), height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((gap, gap // 2), f"Expanded weights into {target} (shared scale ±{limit:.3g})", fill="black",
              font=figures.font(max(9, int(round(14 * scale)))))
    face = figures.font(max(8, int(round(11 * scale))))
    for i, (unit, norm, kernel) in enumerate(ranked):
        r, c = divmod(i, grid.columns)
        x, y = grid.origin_x + c * grid.step_x, grid.origin_y + r * grid.step_y
        canvas.paste(_thumb(thumbnails, unit, size), (x, y))
        canvas.paste(figures.upscale(figures.to_pil(weight_rgb(kernel, limit)), (size, size)), (x + grid.kernel_dx, y))
        draw.text((x, y + size + 2), f"{unit}  |w|={norm:.3g}", fill="black", font=face)
    _colour_key(canvas, draw, gap, height - text_h - gap // 2, limit, scale, magnitude=False)
    return canvas


def circuit_grid(n_dst: int, n_src: int, scale: float = 1.0, cell: int = 72) -> FigureGrid:
    """The layout of :func:`circuit_figure`: item ``i * n_src + j`` is row ``i``, column ``j``."""
    size, gap = int(round(cell * scale)), max(2, int(round(4 * scale)))
    head = size + int(round(14 * scale)) + gap
    return FigureGrid(head, head, size + gap, size + gap, size, max(1, n_src), n_dst * n_src)


def circuit_figure(weights: np.ndarray, src_units: Sequence[UnitRef], dst_units: Sequence[UnitRef],
                   magnitude: bool = False, thumbnails: dict[UnitRef, np.ndarray] | None = None,
                   scale: float = 1.0, cell: int = 72) -> Image.Image:
    """A circuit grid: rows = later units, columns = earlier units, one shared colour scale.

    ``weights`` is [len(dst), len(src), kh, kw] (from :func:`circuit_weights`); cells are red
    (excitatory) / blue (inhibitory) about white, or |w| from white to black when ``magnitude``.
    Thumbnails of both families (where given, else stand-ins) run along the top and left
    edges. Layout: :func:`circuit_grid`.
    """
    weights = np.asarray(weights, dtype=np.float32)
    n_dst, n_src = weights.shape[:2]
    grid = circuit_grid(n_dst, n_src, scale, cell)
    size, label_h = grid.size, int(round(14 * scale))
    gap = grid.step_x - size
    limit = float(np.abs(weights).max()) or 1.0
    width = max(grid.origin_x + n_src * grid.step_x + gap, int(round(260 * scale)))
    height = grid.origin_y + n_dst * grid.step_y + label_h + 2 * gap
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    face = figures.font(max(8, int(round(10 * scale))))
    for j, unit in enumerate(src_units):
        x = grid.origin_x + j * grid.step_x
        canvas.paste(_thumb(thumbnails, unit, size), (x, 0))
        draw.text((x, size + 1), str(unit), fill="black", font=face)
    for i, unit in enumerate(dst_units):
        y = grid.origin_y + i * grid.step_y
        canvas.paste(_thumb(thumbnails, unit, size), (0, y))
        box = draw.textbbox((0, y + size + 1 - label_h), str(unit), font=face)
        draw.rectangle(box, fill="white")
        draw.text((0, y + size + 1 - label_h), str(unit), fill="black", font=face)
        for j in range(n_src):
            heat = figures.to_pil(weight_rgb(weights[i, j], limit, magnitude))
            canvas.paste(figures.upscale(heat, (size, size)), (grid.origin_x + j * grid.step_x, y))
    _colour_key(canvas, draw, gap, height - label_h - gap, limit, scale, magnitude)
    return canvas


def _colour_key(canvas: Image.Image, draw: ImageDraw.ImageDraw, x: int, y: int, limit: float, scale: float,
                magnitude: bool) -> None:
    """A small colour bar with its end values at (x, y)."""
    bar_w, bar_h = int(round(120 * scale)), max(4, int(round(10 * scale)))
    ramp = np.linspace(0 if magnitude else -limit, limit, bar_w)[None, :].repeat(bar_h, 0)
    canvas.paste(figures.to_pil(weight_rgb(ramp, limit, magnitude)), (x, y))
    low = "0" if magnitude else f"{-limit:.3g}"
    draw.text((x + bar_w + 4, y - 2), f"{low} .. {limit:.3g}" + ("  |w|" if magnitude else ""), fill="black",
              font=figures.font(max(8, int(round(10 * scale)))))


def kernels_json(ranked: Sequence[tuple[UnitRef, float, np.ndarray]]) -> list[dict]:
    """Ranked inputs as JSON-ready dicts: unit, norm and the kernel as nested lists."""
    return [{"unit": str(unit), "norm": norm, "kernel": np.round(kernel, 7).tolist()} for unit, norm, kernel in ranked]


def ranked_kernels(weights: np.ndarray, layer: str, k: int) -> list[tuple[UnitRef, float, np.ndarray]]:
    """:func:`rank_by_norm` with each unit's kernel attached: (unit, norm, [kh, kw])."""
    return [(unit, norm, weights[unit.channel]) for unit, norm in rank_by_norm(weights, layer, k)]
