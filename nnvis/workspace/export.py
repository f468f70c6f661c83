"""Tables of what a view shows, for export."""

from __future__ import annotations

import csv
import io

import numpy as np

SPLIT_NAMES = ("test", "train")  # the subset's split codes: 0 test, 1 train


def projection_csv(indices: np.ndarray, points: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                   nh: np.ndarray, classes: list[str], split: np.ndarray | None = None,
                   faithfulness: dict | None = None) -> str:
    """CSV with one row per observation: id (index into the observation pool; for a pool of the
    test split alone, the index in the test split), x, y, true and predicted class, its
    neighborhood hit and, when `split` is given, the split it came from (test/train); the
    projection's mean NH in a header comment. With `faithfulness` (`nnvis.projection.metrics.faithfulness`),
    the projection's trustworthiness and continuity at each k and the observations they were
    measured on, as columns before the NH (the same on every row: they measure the whole
    projection)."""
    out = io.StringIO()
    out.write(f"# neighborhood_hit_mean={float(np.mean(nh)):.6f}\n")
    names: list[str] = []
    measures: list[str] = []
    if faithfulness is not None:
        for name in ("trustworthiness", "continuity"):
            names += [f"{name}_k{int(k)}" for k in faithfulness["k"]]
            measures += [f"{value:.6f}" for value in faithfulness[name]]
        names.append("faithfulness_observations")
        measures.append(str(int(faithfulness["observations"])))
    writer = csv.writer(out)
    writer.writerow(["test_index", "x", "y", "true_class", "predicted_class", *names, "neighborhood_hit"]
                    + (["split"] if split is not None else []))
    for i in range(len(points)):
        where = [SPLIT_NAMES[split[i]]] if split is not None else []
        writer.writerow([int(indices[i]), f"{points[i, 0]:.6f}", f"{points[i, 1]:.6f}", classes[labels[i]],
                         classes[predictions[i]], *measures, f"{nh[i]:.4f}", *where])
    return out.getvalue()
