"""Pruned forward passes: a traced copy of the network that computes only the layers asked for.

Stopping the forward pass after the deepest needed layer (what hooks can do) still computes
every branch before it. Tracing the network with ``torch.fx`` (each hook point a leaf) and
removing every node the requested layers do not depend on also skips sibling branches: for
``mixed3b:379`` (the 5x5 branch) the 1x1, 3x3 and pool branches of ``mixed3b`` are never run.
The traced module calls the network's own submodules, so weights and hooks are shared. Networks
that cannot be traced, or that modify tensors in place, get None (callers fall back to hooks).
"""

from __future__ import annotations

import operator
import weakref
from typing import Callable, Sequence

import torch
from torch import fx, nn

from circuitloupe.core.models.base import LoadedModel

PrunedForward = Callable[[torch.Tensor], dict[str, torch.Tensor]]

_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.iand,
                      operator.ior, operator.setitem}
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_SIZE = 16


class _Tracer(fx.Tracer):
    """Treats the model's hook-point modules as leaves, so each layer's output is one node, and
    modules without children too (custom convolutions may compute padding from input shapes)."""

    def __init__(self, leaves: set[int]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return (id(module) in self.leaves or next(module.children(), None) is None
                or super().is_leaf_module(module, qualified_name))


def _trace(model: LoadedModel) -> fx.GraphModule | None:
    tracer = _Tracer({id(m) for m in model.hook_points.values()})
    try:
        graph = tracer.trace(model.net)
    except Exception:  # any untraceable Python in forward(): use hooks instead
        return None
    return fx.GraphModule(model.net, graph)


def _modifies_in_place(module: fx.GraphModule) -> bool:
    for node in module.graph.nodes:
        if node.op == "call_function" and node.target in _INPLACE_FUNCTIONS:
            return True
        if node.op == "call_method" and str(node.target).endswith("_"):
            return True
        if node.op == "call_module" and getattr(module.get_submodule(node.target), "inplace", False):
            return True
    return False


def pruned_forward(model: LoadedModel, layers: Sequence[str]) -> PrunedForward | None:
    """A function ``images01 -> {layer: output}`` that runs only what ``layers`` need, or None.

    ``layers`` are catalogue names; images are [B, C, H, W] in [0, 1] (preprocessing applied
    inside). Outputs are the network's own tensors (usable as autograd inputs).
    """
    key = tuple(sorted(layers))
    per_model = _CACHE.setdefault(model, {})
    if key in per_model:
        return per_model[key]
    result = _build(model, key)
    if len(per_model) >= _CACHE_SIZE:
        per_model.pop(next(iter(per_model)))
    per_model[key] = result
    return result


def _build(model: LoadedModel, layers: tuple[str, ...]) -> PrunedForward | None:
    traced = _trace(model)
    if traced is None or _modifies_in_place(traced):
        return None
    qualified = {id(m): name for name, m in model.net.named_modules()}
    graph = traced.graph
    wanted = []
    for layer in layers:
        target = qualified.get(id(model.hook_points[layer]))
        nodes = [n for n in graph.nodes if n.op == "call_module" and n.target == target]
        if len(nodes) != 1:
            return None
        wanted.append(nodes[0])
    output = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(output):
        graph.output(tuple(wanted))
    graph.erase_node(output)
    graph.eliminate_dead_code()
    graph.lint()
    traced.recompile()
    preprocessing = model.preprocessing

    def forward(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(layers, traced(preprocessing.apply(images))))

    return forward
