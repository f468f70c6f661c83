"""Neighborhood hit, discriminative scores, projections and the neuron map on exact cases."""

import numpy as np
import pytest

from nnvis.errors import NNVisError
from nnvis.projection.methods import neuron_dissimilarity, neuron_projection, project
from nnvis.projection.metrics import accuracy, discriminative_scores, neighborhood_hit


def test_neighborhood_hit_by_hand():
    # two tight groups far apart; one point of class 1 sits inside class 0's group
    points = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [100, 100], [100, 101], [101, 100]], float)
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    nh = neighborhood_hit(points, labels, k=2)
    # point 3 (class 1) has neighbours 1 and 2 (class 0): 0; points 0..2 have one class-0 neighbour of two
    # nearest: p0 -> p1,p2 (both 0): 1; p1 -> p0,p3: 0.5; p2 -> p0,p3: 0.5
    np.testing.assert_allclose(nh, [1, 0.5, 0.5, 0, 1, 1, 1])


def test_neighborhood_hit_with_duplicate_points_excludes_self():
    points = np.zeros((4, 2))
    nh = neighborhood_hit(points, np.array([0, 0, 1, 1]), k=1)
    assert nh.shape == (4,) and set(np.unique(nh)) <= {0.0, 1.0}


def test_accuracy():
    assert accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_projections_separate_blobs(blobs, method):
    x, labels = blobs
    points = project(x, method, seed=0, n_jobs=2)
    assert points.shape == (150, 2) and points.dtype == np.float32
    assert np.abs(points).max() == pytest.approx(1.0)
    assert neighborhood_hit(points, labels).mean() > 0.95


def test_unknown_projection():
    with pytest.raises(NNVisError, match="allowed: tsne, umap, pca"):
        project(np.zeros((5, 3)), "lle")


def test_neuron_dissimilarity_is_one_minus_abs_pearson():
    a = np.array([[1, 2, -1, 5], [2, 4, -2, 5], [3, 6, -3, 5], [4, 7, -4, 5]], float)
    d = neuron_dissimilarity(a)
    r01 = np.corrcoef(a[:, 0], a[:, 1])[0, 1]
    assert d[0, 1] == pytest.approx(1 - abs(r01))
    assert d[0, 2] == pytest.approx(0.0)  # perfectly anti-correlated: |r| = 1
    assert d[0, 3] == 1.0 and d[3, 3] == 0.0  # a constant neuron is uncorrelated with all
    np.testing.assert_allclose(d, d.T)


def test_neuron_dissimilarity_over_chunks_equals_the_whole_matrix_formula():
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(70_000, 6)) @ rng.normal(size=(6, 6)) + 3.0).astype(np.float16)  # > one chunk
    expected = 1 - np.abs(np.corrcoef(a.astype(np.float64), rowvar=False))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(neuron_dissimilarity(a), expected, atol=1e-9)


def test_neuron_map_beyond_its_sample_size_uses_a_seeded_sample():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(3000, 1))
    acts = np.column_stack([base[:, 0], -base[:, 0], rng.normal(size=3000), np.zeros(3000)])
    sampled = neuron_projection(acts, max_observations=500)
    np.testing.assert_array_equal(sampled, neuron_projection(acts, max_observations=500))  # seeded
    assert np.isnan(sampled[3]).all() and not np.isnan(sampled[:3]).any()  # the constant neuron is dead
    assert np.linalg.norm(sampled[0] - sampled[1]) < np.linalg.norm(sampled[0] - sampled[2])


def test_neuron_map_places_correlated_neurons_together():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 2))
    # neurons 0-2 follow base[:,0], neurons 3-5 follow base[:,1]
    acts = np.column_stack([base[:, 0] * s + rng.normal(0, 0.05, 200) for s in (1, -2, 3)]
                           + [base[:, 1] * s + rng.normal(0, 0.05, 200) for s in (1, 2, -1)])
    pos = neuron_projection(acts)
    within = np.linalg.norm(pos[0] - pos[1]) + np.linalg.norm(pos[3] - pos[4])
    between = np.linalg.norm(pos[0] - pos[3]) + np.linalg.norm(pos[1] - pos[4])
    assert within < 0.2 * between


def test_discriminative_scores_find_the_class_neuron():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 100)
    acts = rng.normal(size=(300, 5))
    acts[:, 2] += 5 * (labels == 1)  # neuron 2 fires for class 1 only
    scores = discriminative_scores(acts, labels, 3)
    assert scores.shape == (3, 5)
    assert scores[1].argmax() == 2 and scores[1, 2] > 0.5
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_discriminative_scores_train_on_a_seeded_sample_beyond_the_cap():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 100)
    acts = rng.normal(size=(300, 5))
    acts[:, 4] += 5 * (labels == 0)
    capped = discriminative_scores(acts, labels, 3, max_observations=120)
    sample = np.sort(np.random.default_rng(0).choice(300, 120, replace=False))
    np.testing.assert_array_equal(capped, discriminative_scores(acts[sample], labels[sample], 3))
    assert capped[0].argmax() == 4
