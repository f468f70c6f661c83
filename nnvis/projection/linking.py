"""Linking observations and neurons: rank neurons for a selection, an observation's top
units, and representative observations of the visual clusters of a projection."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError


def rank_neurons(activations: np.ndarray, selected: np.ndarray, top: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Neurons ordered by how much more they respond to the `selected` observations (indices)
    than to the rest: mean over the selection minus mean over the rest, in units of the
    neuron's standard deviation. Returns (neuron ids, scores), best first."""
    x = np.asarray(activations, dtype=np.float32)
    mask = np.zeros(len(x), bool)
    mask[np.asarray(selected, dtype=int)] = True
    if not mask.any() or mask.all():
        raise NNVisError(f"select between 1 and {len(x) - 1} observations to rank neurons; got {int(mask.sum())}")
    spread = x.std(axis=0)
    score = (x[mask].mean(axis=0) - x[~mask].mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    order = np.argsort(-score, kind="stable")[:top]
    return order, score[order]


def top_units(activation_row: np.ndarray, top: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The `top` most active units of one observation: (unit ids, activations), highest first."""
    row = np.asarray(activation_row, dtype=np.float32)
    order = np.argsort(-row, kind="stable")[:top]
    return order, row[order]


def representatives(points: np.ndarray, n_clusters: int, *, seed: int = 0) -> np.ndarray:
    """One observation per visual cluster of a 2-D projection: k-means on the points, then the
    point nearest each centre, largest clusters first."""
    from sklearn.cluster import KMeans

    n_clusters = max(1, min(n_clusters, len(points)))
    km = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit(points)
    sizes = np.bincount(km.labels_, minlength=n_clusters)
    chosen = []
    for cluster in np.argsort(-sizes):
        members = np.flatnonzero(km.labels_ == cluster)
        distance = np.linalg.norm(points[members] - km.cluster_centers_[cluster], axis=1)
        chosen.append(members[distance.argmin()])
    return np.array(chosen, dtype=int)
