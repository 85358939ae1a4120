"""What the labeling tool reveals after an answer: which pixels of the crop drove the unit there."""

from __future__ import annotations

import numpy as np

from circuitloupe.core.dataset.report import position_attribution as example_attribution
from circuitloupe.core.errors import UserError
from circuitloupe.core.labeling.session import SessionInfo
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


def position_attribution(model: LoadedModel, info: SessionInfo, pixels: np.ndarray, y: int, x: int) -> np.ndarray:
    """Gradient x input of the session unit's pre-ReLU value at position (y, x), summed over
    colour channels and cut to the receptive field: [h, w] (positive = pushes the unit up).

    ``pixels`` is the image as the scan prepared it ([H, W, C] in [0, 1] at the session's input
    size). The model must be the one the session was sampled with.
    """
    if (model.spec, model.weights_id) != (info.model, info.weights_id):
        raise UserError(f"this session was sampled with {info.model} ({info.weights_id}); load that model "
                        "to see attributions")
    unit = model.catalogue.unit(UnitRef.parse(info.unit))
    return example_attribution(model, unit, info.receptive, pixels, y, x)
