"""Torchvision classifiers by name, with their own preprocessing, labels and weights."""

from __future__ import annotations

import urllib.parse
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.zoo import DownloadProgress, ZooEntry, seeded

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum


@lru_cache(maxsize=1)
def classifier_names() -> list[str]:
    import torchvision.models

    return sorted(torchvision.models.list_models(module=torchvision.models))


def entry(name: str) -> ZooEntry:
    return ZooEntry(name, f"torchvision {name} (ImageNet)", lambda w, p=None: load(name, w, p))


def load(name: str, weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    import torchvision.models as tvm

    enum = tvm.get_model_weights(name).DEFAULT
    seed = weights_io.parse_random_spec(weights)
    build = lambda: tvm.get_model(name, weights=None, **_build_kwargs(name))  # noqa: E731
    if seed is not None:
        net, weights_id, description = seeded(build, seed), f"random:{seed}", f"seeded random weights (seed {seed})"
    elif weights is None:
        net = build()
        weights_io.load_into(net, weights_io.read_state_dict(published_file(enum, progress)), enum.url)
        weights_id, description = f"torchvision:{enum}", f"torchvision {enum}"
    else:
        net = build()
        weights_io.load_into(net, weights_io.read_state_dict(weights), weights)
        weights_id, description = weights_io.weights_id_for_file(weights), f"pretrained ({weights})"
    transforms = enum.transforms()
    size = int(getattr(transforms, "crop_size", [224])[0])
    return LoadedModel(
        name=name,
        net=net,
        input_size=(size, size),
        preprocessing=Preprocessing(tuple(transforms.mean), tuple(transforms.std), "ImageNet mean/std"),
        hook_points=module_tree(net),
        weights_id=weights_id,
        weights_description=description,
        layer_groups=dotted_groups(module_tree(net)),
        class_labels=list(enum.meta.get("categories") or []) or None,
    )


def published_file(enum: WeightsEnum, progress: DownloadProgress | None = None) -> Path:
    """torchvision's weights file for ``enum`` in the torch hub cache (where torchvision keeps it),
    downloaded once and checked against the SHA-256 prefix in its name, then read weights-only.

    torchvision's own ``get_state_dict`` unpickles with ``weights_only=False``, so a file
    planted in the cache would run code; this path never does."""
    filename = Path(urllib.parse.urlparse(enum.url).path).name
    prefix = torch.hub.HASH_REGEX.search(filename)
    return weights_io.download(enum.url, filename, prefix.group(1) if prefix else None, progress,
                               offline_hint="Pass a local file with --weights PATH, or use the bundled model offline.")


def _build_kwargs(name: str) -> dict:
    # googlenet and inception_v3 build auxiliary heads unless told otherwise; the released
    # weights are loaded without them.
    return {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}


def module_tree(net: nn.Module) -> dict[str, nn.Module]:
    """Every named submodule (dotted names); the catalogue keeps those that run exactly once."""
    return {name: module for name, module in net.named_modules() if name}


def dotted_groups(points: dict[str, nn.Module]) -> dict[str, str]:
    """``features.3`` -> ``features``: the parent path of each dotted layer name."""
    return {name: name.rsplit(".", 1)[0] for name in points if "." in name}
