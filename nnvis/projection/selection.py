"""Neuron ranking of a selection among very many observations (the WebGL point view's lasso):
the same scores as `linking.rank_neurons`, from each neuron's sum and sum of squares over all
observations (one pass, kept by the caller) and the selected rows alone, so that a lasso over a
million observations reads only its own rows, never a float32 copy of the whole layer."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError

CHUNK = 65_536


def unit_moments(activations: np.ndarray) -> dict[str, np.ndarray | int]:
    """Each unit's sum and sum of squares over the observations of `activations` (observations x
    units, e.g. a memory-mapped float16 array), read in chunks: {"sum", "squares", "n"}."""
    total = np.zeros(activations.shape[1], np.float64)
    squares = np.zeros(activations.shape[1], np.float64)
    for start in range(0, len(activations), CHUNK):
        chunk = np.asarray(activations[start:start + CHUNK], np.float64)
        total += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    return {"sum": total, "squares": squares, "n": len(activations)}


def rank_selection(activations: np.ndarray, selected, moments: dict, top: int = 10) -> dict[str, np.ndarray]:
    """The `top` neurons by (mean over the selected observations - mean over the rest) / the
    neuron's standard deviation, as `rank_neurons` scores them: {"neurons", "scores",
    "selected_mean", "rest_mean"} (the means of those neurons), best first."""
    rows = np.unique(np.asarray(selected, dtype=np.int64))
    n = int(moments["n"])
    if len(rows) == 0 or len(rows) >= n or rows[0] < 0 or rows[-1] >= n:
        raise NNVisError(f"select between 1 and {n - 1} observations (indices 0..{n - 1}) to rank neurons; "
                         f"got {len(rows)}")
    picked = np.zeros(activations.shape[1], np.float64)
    for start in range(0, len(rows), CHUNK):
        picked += np.asarray(activations[rows[start:start + CHUNK]], np.float64).sum(axis=0)
    mean = moments["sum"] / n
    spread = np.sqrt(np.maximum(moments["squares"] / n - mean ** 2, 0.0))
    selected_mean = picked / len(rows)
    rest_mean = (moments["sum"] - picked) / (n - len(rows))
    score = (selected_mean - rest_mean) / np.where(spread > 1e-12, spread, 1.0)
    order = np.argsort(-score, kind="stable")[:top]
    return {"neurons": order, "scores": score[order], "selected_mean": selected_mean[order],
            "rest_mean": rest_mean[order]}
