"""Shang et al.'s rule-based neuron selection over alpha (one value per unit and image).

Max: the top-n units of one image. Intersection: the units in the top-n of every image of a
set (shared neurons). Difference: the units in the top-n of the target image and in the top-n
of none of the others. Ties in alpha are broken by the lower unit index."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError
from nnvis.unitlab.stats import check_k, descending
from nnvis.validation import whole_number


def max_rule(acts_row: np.ndarray, n: int) -> np.ndarray:
    """The n units with the largest alpha in one image, largest first."""
    row = np.asarray(acts_row)
    if row.ndim != 1:
        raise NNVisError(f"max rule takes one image's activations (1-d), got shape {row.shape}")
    return descending(row)[:check_k(n, "n", len(row))]


def _rows(acts_rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(acts_rows)
    if rows.ndim != 2 or len(rows) == 0:
        raise NNVisError(f"the rule takes a set of images (images x units, at least one), got shape {rows.shape}")
    return rows


def _top_sets(rows: np.ndarray, n: int) -> list[set[int]]:
    return [set(max_rule(row, n).tolist()) for row in rows]


def intersection_rule(acts_rows: np.ndarray, n: int) -> np.ndarray:
    """Units in the top-n of every image of the set, ascending unit index."""
    tops = _top_sets(_rows(acts_rows), n)
    return np.array(sorted(set.intersection(*tops)), dtype=np.int64)


def difference_rule(acts_rows: np.ndarray, target: int, n: int) -> np.ndarray:
    """Units in the top-n of image `target` (a row of `acts_rows`) but in the top-n of no other
    image of the set, ascending unit index."""
    rows = _rows(acts_rows)
    target = whole_number(target, "target", 0, len(rows) - 1,
                          detail=f"the set has {len(rows)} images (0..{len(rows) - 1})")
    tops = _top_sets(rows, n)
    others = set().union(*(top for i, top in enumerate(tops) if i != target))
    return np.array(sorted(tops[target] - others), dtype=np.int64)
