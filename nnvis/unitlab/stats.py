"""One unit at a time: the observations that excite it most, its activation histogram per
class, and the sparsity of a layer (Shang et al.: most channels have alpha near zero).

`activations` are observations x units, one alpha per unit (a conv channel's spatial mean)."""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError
from nnvis.projection.neurons import live_units
from nnvis.validation import whole_number


def n_units(activations: np.ndarray) -> int:
    return int(np.shape(activations)[1])


def check_unit(activations: np.ndarray, unit: int, layer: str = "this layer") -> int:
    """`unit` as an int, or NNVisError naming the layer's unit range."""
    count = n_units(activations)
    return whole_number(unit, "unit", 0, count - 1, detail=f"layer {layer} has {count} units (0..{count - 1})")



def dead_unit_note(values: np.ndarray) -> str | None:
    """How a unit is dead, given its activation on every observation (`values`): "never fires
    on the N observations of the subset"; None when it is live."""
    values = np.asarray(values, dtype=np.float32)
    if live_units(values[:, None])[0]:
        return None
    level = float(values[0]) if len(values) else 0.0
    how = "never fires" if level == 0 else f"never varies (its activation is {level:.3g} on every one)"
    return f"{how} on the {len(values)} observations of the subset"


def refuse_dead_unit(values: np.ndarray, unit: int, layer: str, task: str) -> None:
    """NNVisError when the unit is dead: `task` (e.g. activation maximization) would show nothing."""
    note = dead_unit_note(values)
    if note:
        raise NNVisError(f"unit {unit} of {layer} {note}: a dead unit; {task} would only give blank images, "
                         "so it is not run")


def check_k(k: int, what: str, upper: int) -> int:
    """A count between 1 and `upper`, or NNVisError."""
    return whole_number(k, what, 1, upper)


def descending(values: np.ndarray) -> np.ndarray:
    """Indices that sort `values` from largest to smallest, ties broken by the lower index."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def top_k(activations: np.ndarray, unit: int, k: int = 9, *, layer: str = "this layer") -> np.ndarray:
    """Indices of the k observations that activate `unit` most, best first (ties: lower index)."""
    unit = check_unit(activations, unit, layer)
    k = check_k(k, "k", len(activations))
    return descending(np.asarray(activations)[:, unit])[:k]


def check_labels(activations: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (len(activations),):
        raise NNVisError(f"{len(labels)} labels for {len(activations)} observations; need one label each")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise NNVisError(f"labels span {labels.min()}..{labels.max()}; allowed: 0..{n_classes - 1}")
    return labels.astype(np.int64)


def class_histograms(values: np.ndarray, labels: np.ndarray, n_classes: int,
                     bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shared bin edges over `values` (observations x anything) and counts per class
    (n_classes x bins); a class without observations gets a row of zeros."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise NNVisError(f"bins {bins} is out of range; allowed: a positive integer")
    values = np.asarray(values, dtype=np.float64)
    edges = np.histogram_bin_edges(values, bins=int(bins))
    counts = np.stack([np.histogram(values[labels == c], bins=edges)[0] for c in range(n_classes)])
    return edges, counts


def unit_histograms(activations: np.ndarray, unit: int, labels: np.ndarray, n_classes: int, bins: int = 20,
                    *, layer: str = "this layer") -> dict[str, np.ndarray]:
    """Histogram of one unit's activation per class: `edges` (bins + 1) and `counts` (n_classes x bins)."""
    unit = check_unit(activations, unit, layer)
    labels = check_labels(activations, labels, n_classes)
    edges, counts = class_histograms(np.asarray(activations)[:, unit], labels, n_classes, bins)
    return {"edges": edges, "counts": counts}


def sparsity(activations: np.ndarray, labels: np.ndarray, n_classes: int, threshold: float = 0.01,
             bins: int = 20) -> dict[str, np.ndarray]:
    """Histograms of alpha over every (observation, unit): `edges`, `counts` (bins) and
    `class_counts` (n_classes x bins); `near_zero`, the fraction of units with |alpha| <= threshold
    (averaged over observations), overall and per class (`class_near_zero`, NaN for an absent class)."""
    if not threshold >= 0:
        raise NNVisError(f"threshold {threshold} is out of range; allowed: >= 0")
    labels = check_labels(activations, labels, n_classes)
    x = np.asarray(activations, dtype=np.float64)
    edges, class_counts = class_histograms(x, labels, n_classes, bins)
    near = np.abs(x) <= threshold
    per_class = np.array([near[labels == c].mean() if np.any(labels == c) else np.nan for c in range(n_classes)])
    return {"edges": edges, "counts": class_counts.sum(axis=0), "class_counts": class_counts,
            "near_zero": np.float64(near.mean()), "class_near_zero": per_class}


def mean_of_top_k(images: np.ndarray, activations: np.ndarray, unit: int, k: int = 9, *,
                  layer: str = "this layer") -> np.ndarray:
    """The mean image (float64, one image's shape) of the k observations that activate `unit`
    most: what its top-k examples have in common (Yosinski et al.'s average of the top images)."""
    images = np.asarray(images)
    if len(images) != len(activations):
        raise NNVisError(f"{len(images)} images for {len(activations)} observations; need one image each")
    return images[top_k(activations, unit, k, layer=layer)].astype(np.float64).mean(axis=0)
