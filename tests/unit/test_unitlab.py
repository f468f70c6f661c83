"""Unit analyses (SPEC section 3 and top-k examples) on tiny hand-built models and numpy
references, with exact expected values (the workspace and CLI side: test_unitlab_workspace.py)."""


import numpy as np
import pytest
import torch
from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.activations import capture
from nnvis.models.zoo import LoadedModel
from nnvis.unitlab import ablation as ab
from nnvis.unitlab import lab as unitlab
from nnvis.unitlab.perturbation import perturbation
from nnvis.unitlab.rules import difference_rule, intersection_rule, max_rule
from nnvis.unitlab.similarity import class_cosine, layer_cosine
from nnvis.unitlab.stats import mean_of_top_k, sparsity, top_k, unit_histograms
from tests.tiny_models import OneHidden


class PatternNet(OneHidden):
    """2x2 grey images -> 2 ReLU units: unit 0 = relu(x0 - x1 - x2 + x3 - 1) answers only to the
    diagonal pattern P (255, 0 / 0, 255) with 1; unit 1 to its inverse Q the same way."""

    def __init__(self):
        super().__init__([[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]], [-1.0, -1.0])


class ThreeUnits(OneHidden):
    """1x3 grey images -> hidden = relu(pixels) (3 units) -> logits = hidden + (0, 0, 0.1)."""

    def __init__(self):
        eye = torch.eye(3).tolist()
        super().__init__(eye, [0.0, 0.0, 0.0], eye, [0.0, 0.0, 0.1])


# pixels /255: A (1, .2, 0), B (0, .4, .2), C (0, .2, .8), D (0, .6, .2)
THREE_IMAGES = np.array([[[255, 51, 0]], [[0, 102, 51]], [[0, 51, 204]], [[0, 153, 51]]], np.uint8)
THREE_LABELS = np.array([0, 1, 2, 2])


def loaded(module: nn.Module) -> LoadedModel:
    return LoadedModel(module, "test", 1)


# ---- top-k, histograms, sparsity

def test_unit_tuned_to_a_pattern_gets_exactly_that_patterns_images_as_top_k():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 2, 2), dtype=np.uint8)
    pattern, inverse = np.array([[255, 0], [0, 255]], np.uint8), np.array([[0, 255], [255, 0]], np.uint8)
    images[[3, 7, 11, 15, 19]] = pattern
    images[[0, 22]] = inverse
    acts = capture(loaded(PatternNet()), images, ["hidden"])[0]["hidden"]
    assert top_k(acts, 0, k=5).tolist() == [3, 7, 11, 15, 19]     # equal activations: by index
    assert top_k(acts, 1, k=2).tolist() == [0, 22]
    assert acts[[3, 7, 11, 15, 19], 0].tolist() == [1.0] * 5 and acts[:, 0].max() == 1.0


def test_top_k_orders_by_activation_then_index_and_checks_its_input():
    acts = np.array([[0.5], [2.0], [0.5], [3.0], [2.0]])
    assert top_k(acts, 0, k=4).tolist() == [3, 1, 4, 0]
    with pytest.raises(NNVisError, match=r"^unit 1200 is out of range; layer hidden4 has 1 units \(0\.\.0\)$"):
        top_k(acts, 1200, layer="hidden4")
    with pytest.raises(NNVisError, match=r"k 6 is out of range; allowed: 1\.\.5"):
        top_k(acts, 0, k=6)


def test_unit_histograms_per_class_share_edges():
    acts = np.array([[0.0, 9], [1.0, 9], [2.0, 9], [3.0, 9], [4.0, 9]])
    found = unit_histograms(acts, 0, np.array([0, 0, 1, 1, 1]), 3, bins=2)
    assert found["edges"].tolist() == [0.0, 2.0, 4.0]
    assert found["counts"].tolist() == [[2, 0], [0, 3], [0, 0]]   # [0,2) and [2,4] (last bin closed)


def test_sparsity_counts_near_zero_alphas_overall_and_per_class():
    acts = np.array([[0.0, 0.005, 1.0, 3.0],
                     [0.0, 0.0, 0.0, 2.0],
                     [0.5, 0.02, 0.0, 0.0]])
    found = sparsity(acts, np.array([0, 0, 1]), 3, threshold=0.01, bins=3)
    assert found["near_zero"] == 7 / 12                      # 0, .005 / 0, 0, 0 / 0, 0
    assert found["class_near_zero"][:2].tolist() == [5 / 8, 2 / 4] and np.isnan(found["class_near_zero"][2])
    assert found["edges"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert found["counts"].tolist() == [9, 1, 2] and found["class_counts"].sum(axis=0).tolist() == [9, 1, 2]
    assert found["class_counts"][1].tolist() == [4, 0, 0]


def test_mean_of_top_k_is_the_numpy_mean_of_the_top_k_images():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 5, 6, 3), dtype=np.uint8)
    acts = rng.random((40, 7))
    best = np.argsort(-acts[:, 4])[:9]
    mean = mean_of_top_k(images, acts, 4)
    assert mean.shape == (5, 6, 3) and mean.dtype == np.float64
    np.testing.assert_array_equal(mean, np.mean(images[best].astype(np.float64), axis=0))
    assert mean_of_top_k(images, acts, 4, k=1).tolist() == images[best[0]].astype(float).tolist()
    with pytest.raises(NNVisError, match=r"39 images for 40 observations"):
        mean_of_top_k(images[:39], acts, 4)
    with pytest.raises(NNVisError, match=r"unit 7 is out of range"):
        mean_of_top_k(images, acts, 7)


def test_cluster_order_puts_the_similar_classes_side_by_side():
    # classes 0 and 2 are alike, 1 and 3 are alike, the pairs unrelated to each other
    matrix = np.array([[1, 0, .9, 0], [0, 1, 0, .8], [.9, 0, 1, 0], [0, .8, 0, 1]], float)
    order = unitlab.cluster_order(matrix).tolist()
    assert sorted(order) == [0, 1, 2, 3]
    assert abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(3)) == 1
    assert unitlab.cluster_order(np.eye(2)).tolist() == [0, 1]


# ---- Shang's selection rules

RULE_ACTS = np.array([[9, 8, 7, 1, 0, 6],      # top-3: 0, 1, 2
                      [9, 1, 8, 7, 0, 2],      # top-3: 0, 2, 3
                      [0, 1, 8, 2, 9, 7]])     # top-3: 4, 2, 5


def test_max_rule_is_the_top_n_of_one_image_ties_to_the_lower_unit():
    assert max_rule(RULE_ACTS[0], 3).tolist() == [0, 1, 2]
    assert max_rule(np.array([1.0, 5.0, 5.0, 0.0]), 2).tolist() == [1, 2]
    with pytest.raises(NNVisError, match=r"n 7 is out of range; allowed: 1\.\.6"):
        max_rule(RULE_ACTS[0], 7)


def test_intersection_rule_keeps_units_in_every_top_n():
    assert intersection_rule(RULE_ACTS, 3).tolist() == [2]
    assert intersection_rule(RULE_ACTS[:2], 3).tolist() == [0, 2]
    assert intersection_rule(RULE_ACTS, 1).tolist() == []


def test_difference_rule_keeps_units_in_the_targets_top_n_only():
    assert difference_rule(RULE_ACTS, 0, 3).tolist() == [1]
    assert difference_rule(RULE_ACTS, 1, 3).tolist() == [3]
    assert difference_rule(RULE_ACTS, 2, 3).tolist() == [4, 5]
    assert difference_rule(RULE_ACTS[:1], 0, 2).tolist() == [0, 1]
    with pytest.raises(NNVisError, match=r"target 3 is out of range; the set has 3 images \(0\.\.2\)"):
        difference_rule(RULE_ACTS, 3, 3)


# ---- cosine similarity

def test_class_cosine_of_hand_made_class_means():
    # class means: 0 -> (1, 0), 1 -> (0, 2), 2 -> (3, 3)
    acts = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [3.0, 3.0]])
    matrix = class_cosine(acts, np.array([0, 0, 1, 1, 2]), 4)
    h = 1 / np.sqrt(2)
    np.testing.assert_allclose(matrix[:3, :3], [[1, 0, h], [0, 1, h], [h, h, 1]], atol=1e-15)
    assert np.isnan(matrix[3]).all() and np.isnan(matrix[:, 3]).all()     # class 3 has no observation


def test_class_cosine_equals_numpy_reference_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(1)
    acts, labels = rng.random((200, 30)).astype(np.float16), rng.integers(0, 6, 200)
    matrix = class_cosine(acts, labels, 6)
    means = np.stack([acts[labels == c].astype(np.float64).mean(axis=0) for c in range(6)])
    unit = means / np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(matrix, unit @ unit.T, rtol=1e-12)
    assert (matrix == matrix.T).all() and (np.diag(matrix) == 1.0).all()


def test_layer_cosine_per_observation_with_zero_vectors():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 5.0], [2.0, 2.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(layer_cosine(a, b), [0.0, 1.0, 1.0, 0.0, -1.0], atol=1e-15)
    with pytest.raises(NNVisError, match="shapes"):
        layer_cosine(a, b[:2])


# ---- ablation

def test_zero_lowest_zeroes_whole_conv_channels_with_the_lowest_mean():
    means = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, 3.0], [1.0, 1.0, 2.0]])
    maps = means[:, :, None, None] + torch.tensor([[-1.0, 1.0], [2.0, -2.0]])   # spatial mean = `means`
    out = ab.zero_lowest(maps, 1)
    zeroed = [1, 0, 0]   # lowest channel of each image (image 2: tie 1.0/1.0 -> channel 0)
    for image, channel in enumerate(zeroed):
        assert (out[image, channel] == 0).all()
        kept = [c for c in range(3) if c != channel]
        assert torch.equal(out[image, kept], maps[image, kept])
    assert ab.zero_lowest(maps, 0) is maps
    assert (ab.zero_lowest(maps, 3) == 0).all()
    with pytest.raises(NNVisError, match=r"count 4 is out of range; layer this layer has 3 units"):
        ab.zero_lowest(maps, 4)


@pytest.mark.parametrize("mode, count, top1", [
    ("per-image", 0, 3 / 4),   # A, B, C right; D (0, .6, .2) + bias -> class 1, labelled 2
    ("per-image", 1, 3 / 4),   # the lowest unit of each image is already 0
    ("per-image", 2, 3 / 4),   # A (1,0,0) B (0,.4,0) C (0,0,.8) D (0,.6,0): still only D wrong
    ("per-image", 3, 2 / 4),   # logits = bias (0, 0, .1): class 2 for all, C and D right
    ("global", 1, 2 / 4),      # mean alpha (.25, .35, .30): unit 0 goes, A -> class 1
    ("global", 2, 1 / 4),      # units 0 and 2 go: everything -> class 1, only B right
    ("global", 3, 2 / 4),      # the bias alone
])
def test_ablation_of_hand_made_units(mode, count, top1):
    model = loaded(ThreeUnits())
    mean_alpha = capture(model, THREE_IMAGES, ["hidden"])[0]["hidden"].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(mean_alpha, [0.25, 0.35, 0.30], atol=1e-3)
    found = ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode=mode, count=count, mean_alpha=mean_alpha,
                      batch_size=3)
    assert found == {"top1": top1, "top5": 1.0}   # 3 classes: the top 5 holds every class


def test_fraction_to_count_and_checks():
    assert [ab.fraction_to_count(p, 1000) for p in (0, 0.2, 0.29, 0.999, 1)] == [0, 200, 290, 999, 1000]
    assert ab.fraction_to_count(1 / 3, 3) == 1
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(NNVisError, match=r"fraction .* is out of range; allowed: 0\.\.1"):
            ab.fraction_to_count(bad, 10)
    with pytest.raises(NNVisError, match="unknown ablation mode 'online'; allowed: per-image, global"):
        ab.check_mode("online")
    assert ab.lowest_units(np.array([3.0, 1.0, 2.0, 1.0]), 3).tolist() == [1, 2, 3]


def test_hooks_come_off_and_the_mode_is_restored_even_on_error():
    model = loaded(ThreeUnits())
    model.module.train()
    hidden = model.module.hidden
    with pytest.raises(NNVisError, match="count 5 is out of range; layer hidden has 3 units"):
        ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode="per-image", count=5)
    assert len(hidden._forward_hooks) == 0 and model.module.training
    ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode="per-image", count=1)
    assert len(hidden._forward_hooks) == 0 and model.module.training
    with pytest.raises(NNVisError, match="unknown layer 'hiden'"):
        ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hiden", mode="per-image", count=1)


# ---- perturbation

def test_perturbation_matches_a_numpy_reference_with_the_same_noise():
    model = loaded(ThreeUnits())
    images = np.random.default_rng(2).integers(0, 256, size=(40, 1, 3), dtype=np.uint8)
    labels = np.random.default_rng(3).integers(0, 3, 40)
    found = perturbation(model, images, labels, ["flatten", "hidden"], variance=0.04, seed=5, batch_size=64)
    x = images.reshape(40, 3).astype(np.float32) / 255
    noisy = x + torch.randn((40, 1, 1, 3), generator=torch.Generator().manual_seed(5)).numpy().reshape(40, 3) * 0.2
    np.testing.assert_allclose(found["cosine"], [layer_cosine(x, noisy).mean(),
                                                 layer_cosine(np.maximum(x, 0), np.maximum(noisy, 0)).mean()],
                               rtol=1e-5)
    bias = np.array([0, 0, 0.1])
    assert found["top1_clean"] == np.mean((x + bias).argmax(axis=1) == labels)
    assert found["top1_noisy"] == np.mean((np.maximum(noisy, 0) + bias).argmax(axis=1) == labels)
    assert found["cosine"][0] < 1
    still = perturbation(model, images, labels, ["hidden"], variance=0.0)
    np.testing.assert_allclose(still["cosine"], [1.0], rtol=1e-12)
    assert still["top1_clean"] == still["top1_noisy"]
    with pytest.raises(NNVisError, match="noise variance -1 is out of range"):
        perturbation(model, images, labels, ["hidden"], variance=-1)


# ---- the digits workspace, through the backend and the CLI
