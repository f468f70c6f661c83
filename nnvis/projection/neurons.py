"""What each neuron of a layer does for each class: the neuron map's colour (best class) and
opacity (its score), and the mean activation per class behind them. Whether a neuron is live
at all is `nnvis.projection.neurons.live_units`.

Two scorings of neuron j for class c, each an array (classes x units):

- `auc` (the default): the area under the ROC curve of neuron j's activation alone telling
  class c from the rest, i.e. the chance that a random class-c observation activates the
  neuron more than a random other one (ties count half). 0.5: no preference; 1: every class-c
  observation activates it more than any other. Computed from ranks; no seed, no training.
- `extratrees`: Rauber et al.'s S(c, j), the feature importance of neuron j in an extremely
  randomized trees classifier of class c vs rest (30 trees, seeded). Kept for comparison with
  the paper: on its MNIST MLP the best class it gives agrees between two seeds for only 38%
  of live neurons (docs/neuron-map.md has the comparison).
"""

from __future__ import annotations

import numpy as np

from nnvis.projection.metrics import discriminative_scores
from nnvis.validation import one_of

SCORINGS = {
    "auc": "AUC of the neuron alone, class vs rest (0.5 = no preference, 1 = perfect)",
    "extratrees": "Rauber et al.'s S(c, j): extremely randomized trees importance, class vs rest (30 trees, seeded)",
}
DEFAULT_SCORING = "auc"
UNIT_CHUNK = 256  # units ranked at a time, at most ...
CHUNK_VALUES = 8_000_000  # ... and at most this many values (64 MB as float64) for many observations


def check_scoring(scoring: str) -> str:
    """`scoring` if it is one of SCORINGS, else NNVisError naming the allowed ones."""
    return one_of(scoring, SCORINGS, "neuron scoring")


def class_means(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean activation (float32, classes x units) of each class's observations; NaN for a class
    without observations."""
    labels = np.asarray(labels)
    means = np.full((n_classes, np.shape(activations)[1]), np.nan, np.float32)
    for c in range(n_classes):
        if (labels == c).any():
            means[c] = np.asarray(activations)[labels == c].mean(axis=0, dtype=np.float64)
    return means


def class_auc(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """AUC (float32, classes x units) of each unit's activation telling class c from the rest
    (Mann-Whitney U / (n_c n_rest), ties counted half); 0.5 for a class with no observations or
    no others."""
    from scipy.stats import rankdata

    labels = np.asarray(labels)
    a = np.asarray(activations)
    auc = np.full((n_classes, a.shape[1]), 0.5, np.float32)
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    scored = [c for c in range(n_classes) if 0 < counts[c] < len(labels)]
    step = max(1, min(UNIT_CHUNK, CHUNK_VALUES // max(len(a), 1)))
    for start in range(0, a.shape[1], step):
        ranks = rankdata(a[:, start:start + step].astype(np.float64), axis=0)
        for c in scored:
            n_c, n_rest = counts[c], len(labels) - counts[c]
            auc[c, start:start + step] = (ranks[labels == c].sum(axis=0) - n_c * (n_c + 1) / 2) / (n_c * n_rest)
    return auc


def neuron_scores(activations: np.ndarray, labels: np.ndarray, n_classes: int, scoring: str = DEFAULT_SCORING, *,
                  seed: int = 0) -> np.ndarray:
    """Score of every unit for every class (float32, classes x units) by `scoring` (SCORINGS);
    `seed` matters to `extratrees` only."""
    if check_scoring(scoring) == "extratrees":
        return discriminative_scores(activations, labels, n_classes, seed=seed)
    return class_auc(activations, labels, n_classes)


def best_classes(scores: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the class it scores highest for and that score; -1 and NaN for a dead unit."""
    best = np.where(live, np.asarray(scores).argmax(axis=0), -1)
    score = np.where(live, np.asarray(scores).max(axis=0), np.nan)
    return best, score


def live_units(activations: np.ndarray) -> np.ndarray:
    """Per unit (a column of `activations`), whether its activation varies over the observations.
    One that does not is dead: a ReLU that never fires (0 on every observation) tells nothing."""
    a = np.asarray(activations)
    return a.max(axis=0) > a.min(axis=0) if len(a) else np.zeros(a.shape[1], bool)
