"""The 1000 ImageNet (ILSVRC-2012) class names, in the standard class-index order.

Read from torchvision's weight metadata (the list every torchvision classifier uses), so
there is no hand-typed copy to drift: index 285 is "Egyptian cat", 967 "espresso".
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 class names; position = the class index a classifier's output uses."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
