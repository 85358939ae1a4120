"""Top-K classification of images by a model with class labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from circuitloupe.core.errors import UserError
from circuitloupe.core.images import to_batch
from circuitloupe.core.models.base import LoadedModel


@dataclass(frozen=True)
class Prediction:
    """One class for one image: class index, label and softmax probability in [0, 1]."""

    index: int
    label: str
    probability: float


def predict(model: LoadedModel, images: Sequence[np.ndarray], top: int = 5,
            batch_size: int = 16) -> list[list[Prediction]]:
    """The ``top`` most probable classes of each image ([H, W, C] in [0, 1]), best first.

    Images are resized to the model's input size the way every pane sees them (whole image,
    bilinear with antialiasing). A model without class labels raises :class:`UserError`.
    """
    labels = model.class_labels
    if not labels:
        raise UserError(f"{model.spec} has no class labels, so it cannot name predictions")
    top = max(1, min(int(top), len(labels)))
    results: list[list[Prediction]] = []
    for start in range(0, len(images), batch_size):
        batch = to_batch(list(images[start:start + batch_size]), model.input_size).to(model.device)
        with torch.no_grad():
            logits = model.forward(batch)
        if logits.dim() != 2 or logits.shape[1] != len(labels):
            raise UserError(f"{model.spec} outputs {tuple(logits.shape[1:])} values but has "
                            f"{len(labels)} class labels")
        probabilities, indices = logits.float().softmax(dim=1).topk(top, dim=1)
        for row_p, row_i in zip(probabilities.cpu().tolist(), indices.cpu().tolist()):
            results.append([Prediction(i, labels[i], p) for i, p in zip(row_i, row_p)])
    return results
