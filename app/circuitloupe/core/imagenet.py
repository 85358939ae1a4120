"""The 1000 ImageNet (ILSVRC-2012) class names, in the standard class-index order.

Read from torchvision's weight metadata (the list every torchvision classifier uses), so
there is no hand-typed copy to drift: index 285 is "Egyptian cat", 967 "espresso".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 class names; position = the class index a classifier's output uses."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def class_name(index: int, labels: Sequence[str] | None) -> str:
    """A class as people read it, index first: ``285 Egyptian cat``; just ``285`` when the model
    has no labels (or none for that index)."""
    if labels and 0 <= index < len(labels) and labels[index]:
        return f"{index} {labels[index]}"
    return str(index)
