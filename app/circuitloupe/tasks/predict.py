"""predict: the top-K classes of images, with probabilities."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import Context, Request, Result, option, positional, task
from circuitloupe.tasks.inputs import read_images


@dataclass(frozen=True)
class PredictRequest(Request):
    """The ``top`` most probable classes of each of ``images``."""

    command = "predict"

    images: tuple[str, ...] = positional(many=True)
    top: int = option("--top", default=5)

    def validate(self) -> None:
        if not self.images:
            raise UserError("name at least one IMAGE")
        if self.top < 1:
            raise UserError("--top must be at least 1")


@dataclass
class PredictResult(Result):
    """``predictions[i]``: image i's classes, best first."""

    predictions: list[list[Any]]
    pixels: list[np.ndarray]

    def figure(self, scale: float = 1.0):
        """Each image under its best class and probability."""
        from circuitloupe.core.figures import side_by_side, to_pil

        labels = [f"{found[0].label} {found[0].probability:.0%}" if found else "" for found in self.predictions]
        return side_by_side([to_pil(p[..., :3]) for p in self.pixels], labels, scale=scale)

    def data(self) -> dict[str, Any]:
        request: PredictRequest = self.request  # type: ignore[assignment]
        return {"images": [{"image": path, "top": [asdict(p) for p in found]}
                           for path, found in zip(request.images, self.predictions)]}


@task(PredictRequest)
def predict(ctx: Context, request: PredictRequest) -> PredictResult:
    from circuitloupe.core.predict import predict as top_classes

    model = ctx.model
    pixels = read_images(request.images, model.in_channels)
    ctx.progress(0, 1)
    predictions = top_classes(model, pixels, top=request.top)
    ctx.progress(1, 1)
    return PredictResult(request, model.spec, model.weights_id, predictions, pixels)
