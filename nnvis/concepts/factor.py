"""Concepts of a layer as a non-negative factorisation of its activations at spatial positions
(CRAFT, Fel et al. 2023; ACE, Ghorbani et al. 2019): rows of A are the positions (y, x) of many
images, columns the layer's channels, and scikit-learn's NMF finds A ≈ U W with K concept
directions W (K x C) and their strengths U (positions x K).

Arrays only (numpy in, numpy out): the model side is nnvis.concepts.causal."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import NMF, non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from nnvis.errors import NNVisError
from nnvis.validation import whole_number

MAX_K = 64
FIT_ROWS = 65536  # positions the factorisation is fitted on (a seeded sample when there are more)
MAX_ITER = 400
NEGATIVE_TOLERANCE = 1e-6


def check_k(k: int, channels: int, layer: str = "this layer") -> int:
    """A number of concepts in 1..min(channels, MAX_K), or NNVisError naming the allowed range."""
    high = min(channels, MAX_K)
    return whole_number(k, "--k", 1, high,
                        detail=f"allowed: 1..{high} (at most the {channels} channels of layer {layer}, and {MAX_K})")


def positions(maps: np.ndarray) -> np.ndarray:
    """Feature maps (N, C, H, W) as rows of positions (N*H*W, C), image by image, row-major in (y, x)."""
    n, c, h, w = maps.shape
    return np.ascontiguousarray(np.asarray(maps, dtype=np.float32).transpose(0, 2, 3, 1).reshape(n * h * w, c))


def check_non_negative(rows: np.ndarray, layer: str) -> np.ndarray:
    """The rows, with round-off below zero set to zero; NNVisError when the layer has real negative values."""
    low = float(rows.min()) if rows.size else 0.0
    if low < -NEGATIVE_TOLERANCE:
        raise NNVisError(f"layer '{layer}' has negative activations (down to {low:.3g}); a concept atlas factorises "
                         "non-negative activations: pick the layer after a ReLU (the block's output)")
    return np.maximum(rows, 0.0)


def fit_concepts(rows: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, int]:
    """The concept directions W (k x C, float32) of NMF fitted on the rows (a seeded sample of
    FIT_ROWS of them when more), and how many rows it was fitted on."""
    rng = np.random.default_rng(seed)
    fit = rows if len(rows) <= FIT_ROWS else rows[np.sort(rng.choice(len(rows), FIT_ROWS, replace=False))]
    model = NMF(n_components=k, init="nndsvda", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(fit.astype(np.float64))
    return model.components_.astype(np.float32), len(fit)


def strengths(rows: np.ndarray, components: np.ndarray) -> np.ndarray:
    """U (rows x K, float32): the non-negative strengths of the fixed concepts `components` that
    best reconstruct each row (scikit-learn's non_negative_factorization with W fixed)."""
    if len(rows) == 0:
        return np.zeros((0, len(components)), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        u, _, _ = non_negative_factorization(rows.astype(np.float64), H=components.astype(np.float64),
                                             n_components=len(components), init="custom", update_H=False,
                                             max_iter=MAX_ITER, solver="cd")
    return u.astype(np.float32)


def explained_variance(rows: np.ndarray, u: np.ndarray, components: np.ndarray) -> float:
    """r2 of the reconstruction U W: 1 - |A - U W|² / |A - mean(A)|² (over positions)."""
    residual = float(np.square(rows - u @ components, dtype=np.float64).sum())
    total = float(np.square(rows - rows.mean(axis=0, dtype=np.float64), dtype=np.float64).sum())
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


def shares(u: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Each concept's share of the layer: the part of the reconstructed activation (the sum of
    U_k W_k over positions and channels, all non-negative) that concept k makes (sums to 1)."""
    mass = u.sum(axis=0, dtype=np.float64) * components.sum(axis=1, dtype=np.float64)
    total = mass.sum()
    return (mass / total if total > 0 else np.full(len(mass), 1.0 / len(mass))).astype(np.float32)


def exemplars(u_maps: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each concept, the `count` images where it is strongest (one position per image, its
    strongest): arrays (K, count) of image row, y, x and strength, strongest first."""
    n, h, w, k = u_maps.shape
    flat = u_maps.reshape(n, h * w, k)
    best_position = flat.argmax(axis=1)  # (n, K)
    best_value = flat.max(axis=1)
    count = min(count, n)
    order = np.argsort(-best_value, axis=0, kind="stable")[:count].T  # (K, count)
    where = np.take_along_axis(best_position.T, order, axis=1)
    return order, where // w, where % w, np.take_along_axis(best_value.T, order, axis=1)


def match(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concepts of one epoch matched to the next by their strengths over the same images: the
    (N, K) strengths of each, Hungarian assignment (scipy's linear_sum_assignment) maximizing
    the Pearson correlation. Returns, for each concept of `before`, its partner in `after` and
    their correlation (the matching score; 0 for a concept that never varies)."""
    if before.shape[0] != after.shape[0]:
        raise NNVisError(f"concepts are matched over the same images; got {before.shape[0]} and {after.shape[0]}")
    a = before - before.mean(axis=0)
    b = after - after.mean(axis=0)
    norms = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(norms > 0, (a.T @ b) / norms, 0.0)
    rows, cols = linear_sum_assignment(correlation, maximize=True)
    partner = np.full(before.shape[1], -1, dtype=np.int64)
    score = np.zeros(before.shape[1], dtype=np.float32)
    partner[rows], score[rows] = cols, correlation[rows, cols]
    return partner, score
