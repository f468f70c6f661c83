"""Measures shown with every view: neighborhood hit, accuracy and the discriminative
scores S(c, j) of Rauber et al."""

from __future__ import annotations

import numpy as np


def neighborhood_hit(points: np.ndarray, labels: np.ndarray, k: int = 6) -> np.ndarray:
    """For each point, the fraction of its k nearest neighbours (in `points`, itself excluded)
    that share its label. The NH of a projection is the mean of this array."""
    from sklearn.neighbors import NearestNeighbors

    labels = np.asarray(labels)
    k = min(k, len(points) - 1)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    neighbours = drop_self(neighbours)
    return (labels[neighbours[:, :k]] == labels[:, None]).mean(axis=1)


def drop_self(neighbours: np.ndarray) -> np.ndarray:
    """Remove each row's own index from its neighbour list (duplicates may put it second)."""
    rows = np.arange(len(neighbours))[:, None]
    is_self = neighbours == rows
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True  # point not among its neighbours: drop the farthest instead
    return neighbours[~is_self].reshape(len(neighbours), -1)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of class probabilities against integer labels."""
    return float((np.asarray(probabilities).argmax(axis=1) == np.asarray(labels)).mean())


FOREST_OBSERVATIONS = 10_000


def seeded_sample(n: int, size: int, seed: int) -> np.ndarray:
    """`size` of the indices 0..n-1, drawn without replacement by a seeded generator, sorted."""
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def discriminative_scores(activations: np.ndarray, labels: np.ndarray, n_classes: int, *,
                          seed: int = 0, n_estimators: int = 30,
                          max_observations: int = FOREST_OBSERVATIONS) -> np.ndarray:
    """S(c, j): feature importance of neuron j in an extremely randomized trees classifier of
    class c vs rest, trained on the layer's activations; shape (n_classes, units). Beyond
    `max_observations`, the forests train on a seeded sample of that many (importances are
    stable long before; 100,000 observations would take an hour on two cores)."""
    from sklearn.ensemble import ExtraTreesClassifier

    if len(activations) > max_observations:
        sample = seeded_sample(len(activations), max_observations, seed)
        activations, labels = activations[sample], np.asarray(labels)[sample]
    x = np.asarray(activations, dtype=np.float32)
    scores = np.zeros((n_classes, x.shape[1]), np.float32)
    for c in range(n_classes):
        target = np.asarray(labels) == c
        if target.all() or not target.any():
            continue
        forest = ExtraTreesClassifier(n_estimators=n_estimators, max_features="sqrt", min_samples_leaf=2,
                                      random_state=seed, n_jobs=1)
        scores[c] = forest.fit(x, target).feature_importances_
    return scores
