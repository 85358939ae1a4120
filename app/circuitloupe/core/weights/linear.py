"""The linearised copy of a model (nonlinearities swapped for linear stand-ins) and which
layers to connect by default."""

from __future__ import annotations

import copy
import dataclasses
import weakref

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from circuitloupe.core.models.base import LoadedModel

# ---------------------------------------------------------------------------------------------
# The linearised copy

_IDENTITY_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Hardswish, nn.Mish, nn.LocalResponseNorm,
)


def _linear_replacement(module: nn.Module) -> nn.Module | None:
    """The linear module that replaces ``module`` in the linearised copy, or None to keep it.

    A model's own nonlinear modules say what stands in for them with ``linear_stand_in()``."""
    if hasattr(module, "linear_stand_in"):
        return module.linear_stand_in()
    if isinstance(module, _IDENTITY_TYPES):
        return nn.Identity()
    if isinstance(module, nn.MaxPool2d):
        if module.dilation not in (1, (1, 1)):
            return None
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                            count_include_pad=True)
    if isinstance(module, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveAvgPool2d(module.output_size)
    return None


class FunctionalReluAsIdentity(TorchFunctionMode):
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
    """Pools and normalisations (a model's own ones set ``pools = True``) are not connected."""
    module = model.hook_points.get(name)
    return isinstance(module, _POOL_TYPES) or getattr(module, "pools", False)


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
