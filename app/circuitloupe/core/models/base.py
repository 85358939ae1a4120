"""What the rest of the app knows about a loaded model."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import torch
from torch import nn

from circuitloupe.core.models.weights_io import parse_random_spec
from circuitloupe.core.layers import LayerCatalogue, build_catalogue

if TYPE_CHECKING:
    import numpy as np

    from circuitloupe.core.units import UnitRef


@dataclass(frozen=True)
class Preprocessing:
    """Map images with values in [0, 1] to the network's input: ``(x - mean) / std``.

    Lucid's InceptionV1 input ``x * 255 - 117`` is ``mean = 117/255``, ``std = 1/255``.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, C, H, W] in [0, 1] -> network input."""
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return (images - mean) / std

    def key(self) -> str:
        return f"mean={self.mean};std={self.std}"


IMAGENET = Preprocessing((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "ImageNet mean/std")
LUCID_INCEPTION = Preprocessing((117 / 255,) * 3, (1 / 255,) * 3, "RGB x*255-117 (Lucid InceptionV1)")
UNIT_RANGE = Preprocessing((0.0,), (1.0,), "values in [0, 1]")


@dataclass(frozen=True)
class TracePreset:
    """A multi-layer circuit from an article: ``target`` (one unit), the ``layers`` traced back
    (latest first) and the article's ``units`` in them (the trace keeps only those), e.g. Zoom
    In's dog heads ``mixed4a:235,222,234,308`` into the pose-invariant ``mixed4b:418``."""

    target: str
    layers: tuple[str, ...]
    units: str
    source: str


class Concat(nn.Module):
    """Channel concatenation as a module, so the concatenated layer is a hook point."""

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts, dim=1)


@dataclass(eq=False)
class LoadedModel:
    """A network ready for analysis.

    ``net`` takes preprocessed input; :meth:`forward` takes images in [0, 1]. ``hook_points``
    maps each public layer name to the module whose output is that layer's value.
    ``layer_parts`` lists a concatenated layer's branches and channel counts in order, and
    ``layer_groups`` the block each branch belongs to. ``weights_id`` identifies the weights
    for caches (``sha256:`` of a file's content, ``random:SEED`` or a bundle version; a custom
    model's adds ``;code:`` and the SHA-256 of its Python file);
    ``weights_spec`` is what ``--weights`` takes to load them again (None: the default weights,
    ``random:SEED``, or a file's absolute path), set by :func:`~circuitloupe.core.models.load_model`.
    """

    name: str
    net: nn.Module
    input_size: tuple[int, int]
    preprocessing: Preprocessing
    hook_points: dict[str, nn.Module]
    weights_id: str
    weights_description: str
    spec: str = ""
    in_channels: int = 3
    layer_parts: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    layer_groups: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    class_labels: list[str] | None = None
    families: dict[str, list[str]] = field(default_factory=dict)
    # The layer whose curve detectors stand for this model in ``compare-models`` (None: ask).
    curve_layer: str | None = None
    # Optional per-model analysis helpers (e.g. a p4 CNN's group layers and attention maps).
    extras: dict[str, Callable] = field(default_factory=dict)
    # What a model offers beyond the generic analyses, so that no analysis imports a model module:
    #: ``(model, unit, src_layer)`` -> the conv weights whose product is the exact expanded weights
    #: from ``src_layer`` into ``unit`` (first to last; InceptionV1's bottlenecks), or None where
    #: the product does not apply.
    bottleneck_path: Callable[[LoadedModel, UnitRef, str], list[torch.Tensor] | None] | None = None
    #: ``(model, layer)`` -> the kernels a p4 group layer applies for each output rotation,
    #: [C_out, 4, C_in, J, kh, kw] (p4 group CNNs).
    rotated_kernels: Callable[[LoadedModel, str], np.ndarray] | None = None
    #: Attentive models: images [B, C, H, W] in [0, 1] -> their overall spatial attention
    #: [B, H, W] at the input size.
    overall_attention: Callable[[torch.Tensor], torch.Tensor] | None = None
    #: A circuit worth showing first: (earlier units, later units), e.g. InceptionV1's curve circuit.
    default_circuit: tuple[str, str] | None = None
    #: Multi-layer circuits worth opening, by name (the Weights pane's Trace presets).
    trace_presets: dict[str, TracePreset] = field(default_factory=dict)
    weights_spec: str | None = None

    def __post_init__(self) -> None:
        self.spec = self.spec or self.name
        self.net.eval()
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)

    @property
    def is_random(self) -> bool:
        """Whether the weights are seeded random ones (``weights_spec`` is ``random:SEED``)."""
        return parse_random_spec(self.weights_spec) is not None

    @property
    def device(self) -> torch.device:
        parameter = next(self.net.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def to(self, device: torch.device | str) -> LoadedModel:
        self.net.to(device)
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, C, H, W] in [0, 1] -> the network's output."""
        return self.net(self.preprocessing.apply(images))

    @cached_property
    def catalogue(self) -> LayerCatalogue:
        return build_catalogue(self)
