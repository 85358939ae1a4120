"""Affine resampling of image batches, shared by the analyses that turn, zoom or jitter images
(equivariance, joint tuning, feature-visualisation transforms).

Maps are in ``F.affine_grid``'s normalised coordinates with ``align_corners=False``: output pixel
p (x right, y down, both in [-1, 1]) samples the input at ``theta @ [p, 1]``; sampling is bilinear.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

PADDINGS = ("border", "zeros", "reflection")


def affine_resample(images: torch.Tensor, theta: torch.Tensor, size: Sequence[int] | None = None,
                    padding: str = "border", fill: float | None = None) -> torch.Tensor:
    """Resample ``[B, C, H, W]`` by ``theta`` ([2, 3] for every image, or [B, 2, 3]) to ``size``
    (height, width; default the input's). Beyond the input: ``padding`` (border repeats the edge,
    zeros, reflection), or the constant ``fill`` when it is given."""
    batch, channels = images.shape[:2]
    theta = theta.to(images.device, images.dtype)
    theta = theta.expand(batch, 2, 3) if theta.dim() == 2 else theta
    grid = F.affine_grid(theta, [batch, channels, *(size or images.shape[-2:])], align_corners=False)
    if fill is not None:
        return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def rotation_thetas(degrees: float | Sequence[float], size: Sequence[int],
                    center: tuple[float, float] | None = None) -> torch.Tensor:
    """Counter-clockwise turns on screen of an image of ``size`` (height, width) about ``center``
    ((x, y) pixels from the top-left corner; default the image centre): [A, 2, 3] float32.

    y points down, so a counter-clockwise turn on screen is a clockwise one in (x, y) maths
    coordinates; the aspect ratio is undone so that non-square images turn rigidly.
    """
    h, w = size
    angles = np.deg2rad(np.atleast_1d(np.asarray(degrees, dtype=np.float64)))
    cos, sin = np.cos(angles), np.sin(angles)
    matrices = np.zeros((len(angles), 2, 3), np.float64)
    matrices[:, 0, 0], matrices[:, 0, 1] = cos, -sin * h / w
    matrices[:, 1, 0], matrices[:, 1, 1] = sin * w / h, cos
    if center is not None:  # input = M output + (c - M c) about the pivot c
        pivot = np.array([2 * center[0] / w - 1, 2 * center[1] / h - 1])
        matrices[:, :, 2] = pivot - matrices[:, :, :2] @ pivot
    return torch.from_numpy(matrices.astype(np.float32))


def zoom_theta(factor: float) -> torch.Tensor:
    """Enlarge about the centre by ``factor`` (< 1 shrinks): [2, 3] float32."""
    return torch.tensor([[1.0 / factor, 0.0, 0.0], [0.0, 1.0 / factor, 0.0]])
