"""A model declares what it offers through LoadedModel (bottleneck products, rotated kernels,
overall attention, a default circuit); the generic analyses use only those declarations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from circuitloupe.core import equivariance as eq
from circuitloupe.core import weights as W
from circuitloupe.core.errors import UserError
from circuitloupe.core.models import load_model
from circuitloupe.core.models import gcnn


def test_the_bottleneck_product_is_what_the_model_declares(inception):
    assert W.bottleneck_applies(inception, "mixed3b:379", "mixed3a")
    assert inception.default_circuit == ("mixed3a:81,147,145,71", "mixed3b:342,385,379,330")
    plain = dataclasses.replace(inception, bottleneck_path=None)
    assert not W.bottleneck_applies(plain, "mixed3b:379", "mixed3a")
    with pytest.raises(UserError, match="use the gradient method"):
        W.bottleneck_product(plain, "mixed3b:379", "mixed3a")


def test_rotated_kernels_come_from_the_model():
    p4cnn = load_model("p4cnn", "random:0")
    kernels = W.rotated_kernels(p4cnn, "c2")
    assert kernels.shape == (10, 4, 10, 4, 3, 3)
    # Copy r is the stored kernel rotated r quarter turns with its input-rotation axis rolled by r.
    stored = p4cnn.net.c2.weight.detach()
    assert np.allclose(kernels[:, 1], torch.rot90(torch.roll(stored, 1, dims=2), 1, dims=(-2, -1)).numpy())
    with pytest.raises(UserError, match="not a p4 group layer"):
        W.rotated_kernels(dataclasses.replace(p4cnn, rotated_kernels=None), "c2")


def test_attention_view_is_the_product_of_the_layer_maps_and_rotates_with_the_input():
    model = load_model("a_p4cnn", "random:0")
    image = np.random.default_rng(0).random((28, 28, 1)).astype(np.float32)
    view = eq.attention_view(model, image)
    batch = torch.cat([eq.prepare(model, image)[:1], torch.rot90(eq.prepare(model, image)[:1], 1, dims=(-2, -1))])
    layer_maps = {k: torch.from_numpy(v) for k, v in model.extras["attention_maps"](batch).items()}
    assert np.allclose(view.maps, gcnn.combined_attention(layer_maps, model.input_size).numpy(), atol=1e-6)
    assert view.error < 1e-4
    with pytest.raises(UserError, match="no attention maps"):
        eq.attention_view(load_model("p4cnn", "random:0"), image)
