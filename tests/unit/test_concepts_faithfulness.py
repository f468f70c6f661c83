"""Faithfulness on a model whose class depends on one pixel: every map ranks that pixel first,
so deleting by the map kills the class's probability at once (AUC below a random ranking's) and
inserting by it restores it at once (AUC above)."""

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.deepvis.faithfulness import Faithfulness, area, summary
from nnvis.errors import NNVisError
from nnvis.models.zoo import LoadedModel

PIXEL = 5


def one_pixel_model() -> LoadedModel:
    """(N,1,4,4) -> logits (10 * x[PIXEL], 5) through one ReLU layer: only PIXEL moves the class."""
    hidden = nn.Linear(16, 2)
    output = nn.Linear(2, 2)
    with torch.no_grad():
        hidden.weight.zero_()
        hidden.bias.zero_()
        hidden.weight[0, PIXEL] = 10.0
        hidden.bias[1] = 5.0
        output.weight.copy_(torch.eye(2))
        output.bias.zero_()
    return LoadedModel(nn.Sequential(nn.Flatten(), hidden, nn.ReLU(), output), "one-pixel", 1)


def test_area_is_over_the_fraction_changed():
    assert area(np.array([[1.0, 1.0, 1.0]]))[0] == pytest.approx(1.0)
    assert area(np.array([[1.0, 0.0, 0.0]]))[0] == pytest.approx(0.25)


@pytest.mark.parametrize("method", ["gradient", "guided", "integrated"])
def test_a_map_on_the_one_pixel_that_matters_beats_a_random_ranking(method):
    images = np.random.default_rng(0).integers(0, 40, size=(6, 4, 4)).astype(np.uint8)
    images[:, 1, 1] = 255  # PIXEL 5 = (1, 1): class 0 logit 10 against 5
    found = Faithfulness(one_pixel_model(), method, steps=8).measure(images)
    figures = summary(method, found)
    assert figures["deletion_auc"] < figures["random_deletion_auc"] - 0.1
    assert figures["insertion_auc"] > figures["random_insertion_auc"] + 0.1
    assert set(figures) == {"method", "deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc",
                            "randomisation_similarity"}


def test_a_method_without_a_check_and_a_unit_without_its_layer_are_refused():
    with pytest.raises(NNVisError, match="no faithfulness or randomisation check"):
        Faithfulness(one_pixel_model(), "occlusion")
    with pytest.raises(NNVisError, match="--layer and --unit together"):
        Faithfulness(one_pixel_model(), "gradient", unit=1)
