"""Cosine similarity of activations: between classes (Shang et al.'s table of per-class mean
activation vectors) and between two activation sets of the same observations (perturbation).

A zero vector has no direction: two zero vectors count as identical (1), a zero vector and a
non-zero one as unrelated (0)."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError
from nnvis.unitlab.stats import check_labels


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of matching rows of a and b (float64), with the zero-vector convention above."""
    norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    dot = np.sum(a * b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.clip(dot / (norm_a * norm_b), -1.0, 1.0)
    return np.where((norm_a == 0) & (norm_b == 0), 1.0, np.where((norm_a == 0) | (norm_b == 0), 0.0, cosine))


def class_means(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean activation vector of each class (n_classes x units); NaN rows for absent classes."""
    labels = check_labels(activations, labels, n_classes)
    x = np.asarray(activations, dtype=np.float64)
    means = np.full((n_classes, x.shape[1]), np.nan)
    for c in range(n_classes):
        if np.any(labels == c):
            means[c] = x[labels == c].mean(axis=0)
    return means


def class_cosine(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The class x class cosine similarity of the per-class mean activation vectors: symmetric,
    1 on the diagonal, NaN in the rows and columns of classes without observations."""
    means = class_means(activations, labels, n_classes)
    absent = np.isnan(means).any(axis=1)
    means[absent] = 0.0
    norms = np.linalg.norm(means, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.clip(means @ means.T / np.outer(norms, norms), -1.0, 1.0)
    zero = norms == 0
    matrix[zero[:, None] | zero[None, :]] = 0.0
    matrix[zero[:, None] & zero[None, :]] = 1.0
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 1.0)
    matrix[absent, :] = np.nan
    matrix[:, absent] = np.nan
    return matrix


def layer_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-observation cosine between two activation sets of the same shape (observations x units)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise NNVisError(f"activation sets of shapes {a.shape} and {b.shape}; need two equal (observations, units)")
    return _cosine(a, b)
