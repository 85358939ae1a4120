"""Expanded weights: by gradient through the linearised copy (any model), or the exact product
where the model declares one (``LoadedModel.bottleneck_path``); ranking, circuits."""

from __future__ import annotations

import weakref
from typing import Callable, Sequence

import numpy as np
import torch

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef
from circuitloupe.core.weights.linear import FunctionalReluAsIdentity, linearised_copy

Ranked = list[tuple[UnitRef, float]]


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
        with torch.enable_grad(), FunctionalReluAsIdentity():
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

def _bottleneck_path(model: LoadedModel, unit: UnitRef | str, src_layer: str) -> list[torch.Tensor] | None:
    """The conv weights to multiply (the model's ``bottleneck_path``), or None when the product does not apply."""
    return None if model.bottleneck_path is None else model.bottleneck_path(model, unit, src_layer)


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


def kernels_json(ranked: Sequence[tuple[UnitRef, float, np.ndarray]]) -> list[dict]:
    """Ranked inputs as JSON-ready dicts: unit, norm and the kernel as nested lists."""
    return [{"unit": str(unit), "norm": norm, "kernel": np.round(kernel, 7).tolist()} for unit, norm, kernel in ranked]


def ranked_kernels(weights: np.ndarray, layer: str, k: int) -> list[tuple[UnitRef, float, np.ndarray]]:
    """:func:`rank_by_norm` with each unit's kernel attached: (unit, norm, [kh, kw])."""
    return [(unit, norm, weights[unit.channel]) for unit, norm in rank_by_norm(weights, layer, k)]
