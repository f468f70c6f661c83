"""Tables of what a view shows, for export."""

from __future__ import annotations

import csv
import io

import numpy as np


def projection_csv(indices: np.ndarray, points: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                   nh: np.ndarray, classes: list[str]) -> str:
    """CSV with one row per observation: id (index in the test split), x, y, true and predicted
    class, and its neighborhood hit; the projection's mean NH in a header comment."""
    out = io.StringIO()
    out.write(f"# neighborhood_hit_mean={float(np.mean(nh)):.6f}\n")
    writer = csv.writer(out)
    writer.writerow(["test_index", "x", "y", "true_class", "predicted_class", "neighborhood_hit"])
    for i in range(len(points)):
        writer.writerow([int(indices[i]), f"{points[i, 0]:.6f}", f"{points[i, 1]:.6f}", classes[labels[i]],
                         classes[predictions[i]], f"{nh[i]:.4f}"])
    return out.getvalue()
