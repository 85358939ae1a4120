"""One affine resampler (core.resample) for the equivariance transforms, joint tuning's rotations
and the feature-visualisation transforms; it reproduces the five hand-written ones it replaced."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from circuitloupe.core import equivariance as eq
from circuitloupe.core.featurevis.transforms import STANDARD, Transforms
from circuitloupe.core.resample import affine_resample, rotation_thetas, zoom_theta
from circuitloupe.core.tuning import rotate_images

IMAGES = torch.from_numpy(np.random.default_rng(0).random((2, 3, 20, 28), dtype=np.float32))


def _old_sample(images, theta, padding):  # what every old copy did
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def _old_rotate_theta(degrees, h, w):  # equivariance.rotate before
    a = math.radians(degrees)
    return torch.tensor([[math.cos(a), -math.sin(a) * h / w, 0.0], [math.sin(a) * w / h, math.cos(a), 0.0]])


@pytest.mark.parametrize("degrees", [30.0, 45.0, 137.5])
def test_rotation_equals_the_old_equivariance_rotation(degrees):
    expected = _old_sample(IMAGES, _old_rotate_theta(degrees, 20, 28), "border")
    assert torch.allclose(eq.rotate(IMAGES, degrees), expected, atol=1e-6)


def test_zoom_equals_the_old_zoom():
    expected = _old_sample(IMAGES, torch.tensor([[1 / 1.5, 0.0, 0.0], [0.0, 1 / 1.5, 0.0]]), "border")
    assert torch.allclose(eq.zoom(IMAGES, 1.5), expected, atol=1e-6)


def test_kernel_transforms_equal_the_old_zero_padded_ones():
    kernel = np.random.default_rng(1).standard_normal((4, 5, 5)).astype(np.float32)
    tensor = torch.from_numpy(kernel).reshape(-1, 1, 5, 5)
    padded = F.pad(tensor, (1, 1, 1, 1))
    old_rotated = _old_sample(padded, _old_rotate_theta(45.0, 7, 7), "zeros")[..., 1:-1, 1:-1]
    assert np.allclose(eq.transform_kernel(kernel, "rotate", 45.0), old_rotated.reshape(kernel.shape), atol=1e-6)
    old_zoomed = _old_sample(tensor, torch.tensor([[1 / 2.0, 0.0, 0.0], [0.0, 1 / 2.0, 0.0]]), "zeros") / 4.0
    assert np.allclose(eq.transform_kernel(kernel, "scale", 2.0), old_zoomed.reshape(kernel.shape), atol=1e-6)


def test_joint_tuning_rotation_equals_the_old_one_about_a_pivot():
    angles, (cx, cy) = np.array([0.0, 33.0, 200.0]), (11.0, 9.5)
    theta = np.deg2rad(angles)
    old = np.zeros((3, 2, 3), np.float32)
    old[:, 0, 0], old[:, 0, 1] = np.cos(theta), -np.sin(theta) * 20 / 28
    old[:, 1, 0], old[:, 1, 1] = np.sin(theta) * 28 / 20, np.cos(theta)
    pivot = np.array([2 * cx / 28 - 1, 2 * cy / 20 - 1])
    old[:, :, 2] = pivot - old[:, :, :2] @ pivot
    assert torch.allclose(rotation_thetas(angles, (20, 28), (cx, cy)), torch.from_numpy(old), atol=1e-7)
    repeated = IMAGES.repeat_interleave(3, dim=0)
    rotated = _old_sample(repeated, torch.from_numpy(old).repeat(2, 1, 1), "border")
    turned = rotate_images(IMAGES, angles, (cx, cy))
    radius = min(cx, 28 - cx, cy, 20 - cy)  # inside the aperture the pixels are the rotated ones
    ys, xs = np.mgrid[0:20, 0:28] + 0.5
    inside = torch.from_numpy(np.hypot(ys - cy, xs - cx) <= radius - 0.5)
    assert torch.allclose(turned[..., inside], rotated[..., inside], atol=1e-6)


def test_featurevis_transforms_equal_the_old_fill_and_reflection():
    transforms = Transforms(STANDARD)
    images = IMAGES[:, :, :20, :20]
    out = transforms(images, torch.Generator().manual_seed(3))
    # The same random maps, applied the old way: grid_sample of (images - fill) with zeros, + fill.
    generator = torch.Generator().manual_seed(3)
    total = torch.eye(3).repeat(2, 1, 1)
    for item in transforms.items:
        m = item.matrices(2, generator)
        if m is not None:
            total = total @ m
    size = transforms.output_size((20, 20))
    d_out = torch.diag(torch.tensor([size[1] / 2, size[0] / 2, 1.0]))
    theta = (torch.diag(torch.tensor([2 / 20, 2 / 20, 1.0])) @ total @ d_out)[:, :2, :]
    grid = F.affine_grid(theta, [2, 3, *size], align_corners=False)
    fill = transforms.fill
    old = F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    assert torch.allclose(out, old, atol=1e-6)


def test_the_helper_keeps_size_and_fill():
    out = affine_resample(IMAGES, zoom_theta(0.5), size=(10, 14), fill=0.25)
    assert out.shape == (2, 3, 10, 14)
    assert torch.allclose(out[..., 0, 0], torch.full((2, 3), 0.25))  # beyond the shrunk image: the fill
