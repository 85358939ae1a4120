"""predict: the pinned top-1 classes of EfficientNet-Lite0 on scikit-image photos."""

from __future__ import annotations

import numpy as np
import pytest

from circuitloupe.core.errors import UserError
from circuitloupe.core.predict import predict
from circuitloupe.core.samples import load_sample


@pytest.fixture
def lite(efficientnet):
    return efficientnet


def test_packaged_weights_recognise_the_cat_and_the_espresso(lite):
    cat, coffee = predict(lite, [load_sample("chelsea"), load_sample("coffee")], top=3)
    assert cat[0].index == 285 and cat[0].label == "Egyptian cat" and cat[0].probability > 0.6
    assert {p.index for p in cat} == {285, 282, 281}  # Egyptian cat, tiger cat, tabby
    assert coffee[0].index == 967 and coffee[0].label == "espresso" and coffee[0].probability > 0.7
    assert cat[0].probability >= cat[1].probability >= cat[2].probability


def test_imagenet_mean_std_would_also_work_but_tf_edge_is_used(lite):
    # the TF edge-model input (x*255-127)/128 is what the weights were trained with
    assert lite.preprocessing.mean == (127 / 255,) * 3 and lite.preprocessing.std == (128 / 255,) * 3


def test_top_is_clamped_and_batches_split(lite):
    images = [np.full((32, 48, 3), v, np.float32) for v in (0.1, 0.9)]
    results = predict(lite, images, top=5000, batch_size=1)
    assert len(results) == 2 and len(results[0]) == 1000
    assert abs(sum(p.probability for p in results[0]) - 1) < 1e-4


def test_model_without_labels_is_a_readable_error(inception):
    with pytest.raises(UserError, match="has no class labels"):
        predict(inception, [np.zeros((8, 8, 3), np.float32)])
