"""What the labeling tool reveals after an answer: which pixels of the crop drove the unit there."""

from __future__ import annotations

import numpy as np
import torch

from circuitloupe.core.activations import forward_until
from circuitloupe.core.dataset.receptive import crop
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
    layer = model.catalogue.pre_relu_of(unit.layer) or unit.layer
    image = torch.as_tensor(np.asarray(pixels, np.float32)).permute(2, 0, 1)[None].to(model.device)
    image.requires_grad_(True)
    out = forward_until(model, image, [layer], detach=False)[layer]
    out = out if out.dim() == 4 else out[:, :, None, None]
    out[0, unit.channel, y, x].backward()
    heat = (image.grad * image).detach()[0].sum(0).cpu().numpy()
    return crop(heat[..., None], info.receptive, y, x, fill=(0.0,))[..., 0]
