"""Concepts on hand-checkable arrays and a tiny conv model: a layer whose activations are an
exact sum of two known non-negative patterns, a head that ignores one of them, matching of
permuted concepts."""

import numpy as np
import pytest
import torch
from torch import nn

from nnvis.concepts import causal, factor
from nnvis.errors import NNVisError
from nnvis.models.zoo import LoadedModel

PATTERNS = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0]], dtype=np.float32)


def two_pattern_maps(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Maps (n, 4, 3, 3) that are exactly u0 * PATTERNS[0] + u1 * PATTERNS[1] at every position."""
    u = np.random.default_rng(seed).uniform(0, 2, size=(n, 3, 3, 2)).astype(np.float32)
    return np.einsum("nhwk,kc->nchw", u, PATTERNS), u


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_two_known_patterns_are_found_and_reconstructed_exactly():
    maps, u_true = two_pattern_maps()
    rows = factor.positions(maps)
    assert rows.shape == (40 * 9, 4)
    np.testing.assert_allclose(rows[1], maps[0, :, 0, 1])  # row-major (y, x) within each image
    components, fitted = factor.fit_concepts(rows, 2, seed=0)
    assert fitted == len(rows)
    # each found direction is one of the patterns
    best = sorted(max(cosine(w, p) for p in PATTERNS) for w in components)
    assert best[0] > 0.999
    u = factor.strengths(rows, components)
    assert factor.explained_variance(rows, u, components) > 0.999
    shares = factor.shares(u, components)
    assert shares.sum() == pytest.approx(1.0, abs=1e-6)
    # the share of a concept is its part of the total activation mass
    mass = [u_true[..., k].sum() * PATTERNS[k].sum() for k in range(2)]
    expected = sorted(np.array(mass) / sum(mass))
    np.testing.assert_allclose(sorted(shares), expected, atol=0.01)


def test_one_concept_of_two_patterns_explains_less():
    rows = factor.positions(two_pattern_maps()[0])
    components, _ = factor.fit_concepts(rows, 1, seed=0)
    r2 = factor.explained_variance(rows, factor.strengths(rows, components), components)
    assert r2 < 0.9


def test_exemplars_are_the_strongest_positions_one_per_image():
    u = np.zeros((3, 2, 2, 1), dtype=np.float32)
    u[0, 1, 0, 0], u[0, 0, 0, 0], u[1, 0, 1, 0], u[2, 1, 1, 0] = 5, 4, 3, 1
    order, ys, xs, values = factor.exemplars(u, 2)
    assert order.tolist() == [[0, 1]] and ys.tolist() == [[1, 0]] and xs.tolist() == [[0, 1]]
    assert values.tolist() == [[5, 3]]


def test_matching_finds_a_permutation_with_score_one():
    rng = np.random.default_rng(1)
    before = rng.uniform(size=(50, 4))
    after = before[:, [2, 0, 3, 1]] * 3 + 1  # concept j of before is column after.index(j)
    partner, score = factor.match(before, after)
    assert partner.tolist() == [1, 3, 0, 2]
    np.testing.assert_allclose(score, 1.0, atol=1e-9)
    with pytest.raises(NNVisError, match="same images"):
        factor.match(before, after[:10])


def test_k_out_of_range_and_negative_activations_are_one_line():
    with pytest.raises(NNVisError, match=r"allowed: 1\.\.4 "):
        factor.check_k(5, 4, "conv")
    with pytest.raises(NNVisError, match="not a whole number"):
        factor.check_k(2.5, 4)
    with pytest.raises(NNVisError, match="negative activations"):
        factor.check_non_negative(np.array([[1.0, -0.5]]), "conv")


class PatternNet(nn.Module):
    """Input (N, 2, 3, 3) holds u0, u1 per position; `layer` (1x1 conv, ReLU) writes
    u0 * PATTERNS[0] + u1 * PATTERNS[1]; the head sums channels 0 and 1 into logit 0 and
    channel 0 minus channel 1 into logit 1: it ignores channels 2 and 3 (pattern 1)."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Sequential(nn.Conv2d(2, 4, 1, bias=False), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2, bias=False))
        with torch.no_grad():
            self.layer[0].weight.copy_(torch.from_numpy(PATTERNS.T.copy())[:, :, None, None])
            self.head[2].weight.copy_(torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0]]))

    def forward(self, x):
        return self.head(self.layer(x))


class FloatInput(LoadedModel):
    """A model whose input is the float array as is (no pixels, no preprocessing)."""

    def input_tensor(self, images):
        return torch.as_tensor(np.asarray(images, dtype=np.float32))


def test_removing_a_concept_the_head_ignores_changes_no_logit():
    maps, u_true = two_pattern_maps(n=8)
    images = u_true.transpose(0, 3, 1, 2).copy()  # the model's input (N, 2, 3, 3)
    model = FloatInput(PatternNet(), "pattern", 2)
    found = causal.layer_maps(model, images, "layer")
    np.testing.assert_allclose(found, maps, rtol=1e-5, atol=1e-5)
    u_maps = u_true  # strengths of the exact patterns
    logits = causal.edited_logits(model, images, "layer",
                                  [None, causal.removal(u_maps, PATTERNS, [1]), causal.removal(u_maps, PATTERNS, [0]),
                                   causal.reconstruction(u_maps, PATTERNS)])
    base, without_1, without_0, rebuilt = logits
    np.testing.assert_allclose(without_1, base, atol=1e-5)  # the head ignores pattern 1
    # removing pattern 0 leaves channels 0, 1 at zero: both logits drop to 0
    np.testing.assert_allclose(without_0, 0.0, atol=1e-5)
    expected = u_true[..., 0].mean(axis=(1, 2))[:, None] * np.array([3.0, -1.0])
    np.testing.assert_allclose(base, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rebuilt, base, atol=1e-5)


def test_a_dense_layer_is_refused_naming_the_conv_layers():
    from nnvis.models.zoo import build_model

    model = build_model("cnn", image_shape=(8, 8), n_classes=10)
    with pytest.raises(NNVisError) as error:
        causal.check_spatial(model, "fc1", (8, 8))
    message = str(error.value)
    assert "needs a layer with spatial positions" in message and "conv1" in message and "conv2" in message
    assert "\n" not in message
    assert causal.check_spatial(model, "conv2", (8, 8)) == (64, 4, 4)


def test_receptive_box_of_a_position():
    from nnvis.models.zoo import build_model

    model = build_model("cnn", image_shape=(8, 8), n_classes=10)
    # conv1: 5x5 kernel, padding 2; position (3, 4) sees rows 1..5, columns 2..6
    boxes = causal.receptive_boxes(model, "conv1", (8, 8), np.array([3, 0]), np.array([4, 0]))
    assert boxes.tolist() == [[1, 2, 6, 7], [0, 0, 3, 3]]
