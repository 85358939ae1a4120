"""Custom models: ``path/to/file.py:factory``.

The factory returns an ``nn.Module``, or ``(module, metadata)``, where metadata may hold
``input_size`` (int or (h, w)), ``mean``/``std`` or ``value_range`` (lo, hi), ``in_channels``,
``layer_names`` (list of module paths, or dict public name -> module path) and
``class_labels``. Without layer names every submodule is a layer.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from torch import nn

from circuitloupe.core import trust
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.torchvision_zoo import dotted_groups, module_tree
from circuitloupe.core.models.zoo import seeded


def is_custom_spec(spec: str) -> bool:
    path, sep, _ = spec.rpartition(":")
    return bool(sep) and path.endswith(".py")


def load_custom(spec: str, weights: str | None = None) -> LoadedModel:
    """Import the file, call the factory and wrap the module (optionally loading weights)."""
    path_text, _, factory_name = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    seed = weights_io.parse_random_spec(weights)
    code = trust.identify(path)  # its hash is part of what caches depend on
    module_name = f"circuitloupe_custom_{abs(hash(str(path.resolve())))}"
    import_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(import_spec)
    try:
        sys.modules[module_name] = module
        import_spec.loader.exec_module(module)
    except Exception as error:
        raise UserError(f"could not import {path}: {type(error).__name__}: {error}") from None
    trust.remember(code)  # it has run: a project naming this file with this content need not ask
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise UserError(f"{path} has no callable '{factory_name}'")

    made = seeded(factory, seed) if seed is not None else factory()
    net, meta = made if isinstance(made, tuple) else (made, {})
    if not isinstance(net, nn.Module):
        raise UserError(f"{spec} returned {type(net).__name__}, not a torch nn.Module")
    if weights and seed is None:
        weights_io.load_into(net, weights_io.read_state_dict(weights), weights)
        weights_id, description = weights_io.weights_id_for_file(weights), f"weights from {weights}"
    elif seed is not None:
        weights_id, description = f"random:{seed}", f"seeded random weights (seed {seed})"
    else:
        weights_id, description = "factory", "weights as the factory made them"
    weights_id += f";code:{code.sha256}"
    points = _hook_points(net, meta.get("layer_names"))
    return LoadedModel(
        name=f"{path.stem}:{factory_name}",
        net=net,
        input_size=_size(meta.get("input_size", 224)),
        preprocessing=_preprocessing(meta),
        hook_points=points,
        weights_id=weights_id,
        weights_description=description,
        in_channels=int(meta.get("in_channels", 3)),
        layer_groups=dotted_groups(points),
        class_labels=meta.get("class_labels"),
    )


def _size(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _preprocessing(meta: dict) -> Preprocessing:
    channels = int(meta.get("in_channels", 3))
    if "mean" in meta:
        return Preprocessing(tuple(meta["mean"]), tuple(meta["std"]), "custom mean/std")
    lo, hi = meta.get("value_range", (0.0, 1.0))
    # x in [0, 1] -> lo + x * (hi - lo)  ==  (x - mean) / std
    return Preprocessing((-lo / (hi - lo),) * channels, (1 / (hi - lo),) * channels, f"values in [{lo}, {hi}]")


def _hook_points(net: nn.Module, names: Any) -> dict[str, nn.Module]:
    modules = dict(net.named_modules())
    if names is None:
        return module_tree(net)
    mapping = names if isinstance(names, dict) else {n: n for n in names}
    missing = [path for path in mapping.values() if path not in modules]
    if missing:
        raise UserError(f"layer_names name modules the model does not have: {', '.join(missing)}")
    return {public: modules[path] for public, path in mapping.items()}
