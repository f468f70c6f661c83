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


FAITHFULNESS_KS = (7, 15)
FAITHFULNESS_OBSERVATIONS = 10_000  # on the CPU, trustworthiness and continuity of larger sets use a seeded sample
BLOCK_BYTES = 2 ** 28  # rows of the distance matrices held at a time: about 256 MB of comparisons


def usable_ks(ks: tuple[int, ...], n: int) -> tuple[int, ...]:
    """`ks` capped below n / 2 (Venna and Kaski's normalisation needs k < n / 2)."""
    if n < 5:
        raise ValueError(f"trustworthiness needs at least 5 observations, got {n}")
    return tuple(min(int(k), (n - 1) // 2) for k in ks)


def squared_distances(rows, points):
    """Squared Euclidean distances (torch) between `rows` and `points`, clipped at zero."""
    import torch

    d = (rows * rows).sum(1)[:, None] + (points * points).sum(1)[None, :] - 2.0 * rows @ points.T
    return torch.clamp_min(d, 0.0)


def ranks_of(distances, columns):
    """Rank (1-based) of each of `columns` (B, K) in its row of `distances` (B, N): one plus how
    many of the row's distances are smaller. A search among the K sorted candidates per entry
    (N log K), not N x K comparisons."""
    import torch

    thresholds, order = torch.sort(distances.gather(1, columns), dim=1)
    slot = torch.searchsorted(thresholds.contiguous(), distances.contiguous(), right=True)  # thresholds <= d
    counts = torch.zeros((len(distances), columns.shape[1] + 1), dtype=torch.int64, device=distances.device)
    counts.scatter_add_(1, slot, torch.ones_like(slot))
    smaller = torch.cumsum(counts, dim=1)[:, :-1]  # smaller[:, j]: distances below the j-th smallest threshold
    return torch.empty_like(smaller).scatter_(1, order, 1 + smaller)


def trustworthiness_continuity(high: np.ndarray, low: np.ndarray, ks: tuple[int, ...] = FAITHFULNESS_KS, *,
                               device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Trustworthiness and continuity (Venna and Kaski 2001) of the embedding `low` of `high`
    at each k in `ks`, with exact ranks, in blocks of rows (torch, on `device`). T(k) penalises
    2-D neighbours that are far in activation space, C(k) activation-space neighbours that
    are far in 2-D; both are 1 for a perfect embedding. Equal to scikit-learn's
    `trustworthiness(high, low, n_neighbors=k)` (C with the spaces swapped), but never holds
    an n x n matrix."""
    import torch

    n = len(high)
    ks = usable_ks(ks, n)
    k_max = max(ks)
    x = torch.as_tensor(np.ascontiguousarray(high, dtype=np.float32), device=device)
    y = torch.as_tensor(np.ascontiguousarray(low, dtype=np.float32), device=device)
    excess = torch.zeros((2, len(ks)), dtype=torch.float64, device=device)
    rows_per_block = max(1, BLOCK_BYTES // (n * 32))
    for start in range(0, n, rows_per_block):
        rows = torch.arange(start, min(start + rows_per_block, n), device=device)
        spaces = []
        for data in (x, y):
            d = squared_distances(data[rows], data)
            d[torch.arange(len(rows), device=device), rows] = float("inf")  # a point is not its own neighbour
            spaces.append(d)
        for side, (ranked, neighbouring) in enumerate([(spaces[0], spaces[1]), (spaces[1], spaces[0])]):
            neighbours = torch.topk(neighbouring, k_max, dim=1, largest=False, sorted=True).indices
            rank = ranks_of(ranked, neighbours)
            for i, k in enumerate(ks):
                excess[side, i] += torch.clamp_min(rank[:, :k] - k, 0).sum()
    norm = np.array([2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) for k in ks])
    trust, cont = 1.0 - excess.cpu().numpy() * norm
    return trust, cont


def faithfulness(high: np.ndarray, low: np.ndarray, *, seed: int = 0, device: str = "cpu",
                 max_observations: int | None = FAITHFULNESS_OBSERVATIONS) -> dict[str, np.ndarray]:
    """Trustworthiness and continuity at FAITHFULNESS_KS of a projection: on all observations
    (`max_observations` None, as on a GPU) or on a seeded sample of at most that many.
    Arrays "k", "trustworthiness", "continuity" and "observations" (how many were used)."""
    n = len(high)
    if max_observations is not None and n > max_observations:
        sample = seeded_sample(n, max_observations, seed)
        high, low = np.asarray(high[sample]), np.asarray(low[sample])
    trust, cont = trustworthiness_continuity(np.asarray(high), np.asarray(low), device=device)
    return {"k": np.array(usable_ks(FAITHFULNESS_KS, len(low)), np.int64), "trustworthiness": trust.astype(np.float64),
            "continuity": cont.astype(np.float64), "observations": np.int64(len(low))}


def nearest_neighbours(x: np.ndarray, k: int, *, device: str = "cpu") -> np.ndarray:
    """Indices (N, k) of each row's k nearest other rows (Euclidean), in blocks (torch)."""
    import torch

    data = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)
    n = len(data)
    k = min(k, n - 1)
    found, rows_per_block = [], max(1, BLOCK_BYTES // (8 * n))
    for start in range(0, n, rows_per_block):
        rows = torch.arange(start, min(start + rows_per_block, n), device=device)
        d = squared_distances(data[rows], data)
        d[torch.arange(len(rows), device=device), rows] = float("inf")
        found.append(torch.topk(d, k, dim=1, largest=False).indices.cpu())
    return torch.cat(found).numpy()


def neighbourhood_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per row, how many of its neighbours in `before` (N, k) are not in `after` (N, k)."""
    kept = (before[:, :, None] == after[:, None, :]).any(axis=2).sum(axis=1)
    return before.shape[1] - kept


def temporal_preservation(x_before: np.ndarray, x_after: np.ndarray, y_before: np.ndarray, y_after: np.ndarray,
                          k: int = 15) -> float:
    """DVI/TimeVis temporal preservation of one step of a sequence: Spearman's correlation,
    over the observations, between how much each one's k nearest neighbours in activation
    space change (`x_before` to `x_after`) and how far it moves in 2-D (`y_before` to
    `y_after`). Near 1: the picture moves what changed; NaN when either does not vary."""
    from scipy.stats import spearmanr

    change = neighbourhood_change(nearest_neighbours(x_before, k), nearest_neighbours(x_after, k))
    moved = np.linalg.norm(np.asarray(y_after, np.float64) - np.asarray(y_before, np.float64), axis=1)
    if np.ptp(change) == 0 or np.ptp(moved) == 0:
        return float("nan")
    return float(spearmanr(change, moved).statistic)
