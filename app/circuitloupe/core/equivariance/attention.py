"""Attentive p4 CNNs: the overall attention over an input and over it rotated."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from circuitloupe.core import figures
from circuitloupe.core.equivariance.transforms import prepare
from circuitloupe.core.errors import UserError
from circuitloupe.core.models.base import LoadedModel

@dataclass
class AttentionView:
    """An attentive G-CNN's overall attention over an input and over the input rotated.

    ``images`` are ``[2, H, W]`` grey inputs (original, rotated by ``quarter_turns`` x 90
    degrees), ``maps`` the model's overall spatial attention ``[2, H, W]`` in [0, 1]
    (``LoadedModel.overall_attention``) and ``error`` the relative error
    between the second map and the first map rotated (0 for an exactly equivariant model).
    """

    images: np.ndarray
    maps: np.ndarray
    quarter_turns: int
    error: float


def attention_view(model: LoadedModel, image: torch.Tensor | np.ndarray, quarter_turns: int = 1) -> AttentionView:
    """Run an attentive p4 CNN (``a_p4cnn``, ``fa_p4cnn``) on ``image`` and on it rotated."""
    if model.overall_attention is None:
        raise UserError(f"{model.name} has no attention maps; open a_p4cnn or fa_p4cnn")
    x = prepare(model, image)[:1]
    batch = torch.cat([x, torch.rot90(x, quarter_turns, dims=(-2, -1))])
    with torch.no_grad():
        maps = model.overall_attention(batch.to(model.device)).cpu()
    error = float((maps[1] - torch.rot90(maps[0], quarter_turns)).norm() / maps[0].norm())
    return AttentionView(batch[:, 0].cpu().numpy(), maps.cpu().numpy(), quarter_turns, error)


def attention_figure(view: AttentionView, scale: float = 1.0) -> Image.Image:
    """Input and its attention overlay, then the rotated input and its overlay."""
    pictures, labels = [], []
    titles = ("input", f"rotated {90 * view.quarter_turns}°")
    for title, grey, heat in zip(titles, view.images, view.maps):
        rgb = np.repeat(grey[..., None], 3, axis=2)
        pictures += [figures.to_pil(rgb), figures.to_pil(figures.heat_overlay(rgb, heat, signed=False))]
        labels += [title, "attention"]
    labels[-1] += f", err {view.error:.0e}"
    return figures.side_by_side(pictures, labels, height=140, scale=scale)
