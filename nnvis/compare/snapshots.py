"""Comparing two snapshots of the same observations: two epochs (or layers) of one workspace,
or two workspaces over the same data set and subset (two architectures, two training runs).

Per observation: the share of its k = 10 nearest neighbours in activation space that it keeps
from the first snapshot to the second (its change score is 1 - that share); the observations
that keep fewest are the movers. Per class: NH in both projections (which classes mixed or
separated). The two 2-D projections are aligned as trails are (`nnvis.projection.trails`): the second is
initialised from the first and rotated onto it. Every artifact is cached in the first
workspace's store under a key naming both snapshots' activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnvis.errors import NNVisError
from nnvis.progress import Progress, no_progress
from nnvis.projection.metrics import drop_self, neighborhood_hit
from nnvis.projection.trails import project_from
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import Arrays, ArtifactKey
from nnvis.workspace.workspace import OBSERVATIONS, Workspace

K_NEIGHBOURS = 10
TIE_BREAK_FACTOR = 3  # ties of the k = 10 share are ordered by the share of the 30 nearest kept
TOP_MOVERS = 50
CLASS_NH_CHANGE = 0.02  # a class whose NH moves by more than this "mixed" or "separated"


@dataclass(frozen=True)
class Snapshot:
    """One side of a comparison: a workspace's activations at a layer and epoch."""

    analysis: Analysis
    layer: str
    epoch: int

    def activations(self) -> np.ndarray:
        return np.asarray(self.analysis.activations(self.layer, self.epoch), np.float32)

    def identity(self) -> str:
        """The digest of what its activations depend on (data, subset, weights, layer, precision)."""
        return keys.side_identity(self)

    def describe(self) -> str:
        return f"{self.analysis.workspace.path.name}: {self.layer}, epoch {self.epoch}"


def snapshot(analysis: Analysis, layer: str, epoch: int) -> Snapshot:
    """A checked side: NNVisError naming the allowed layers or epochs otherwise."""
    analysis.check_layer(layer)
    analysis.weights(int(epoch))
    return Snapshot(analysis, layer, int(epoch))


def subset_description(analysis: Analysis) -> str:
    config = analysis.config
    return f"{config.subset} observations of {OBSERVATIONS[config.observations]} drawn with seed {config.seed}"


def check_same_observations(a: Analysis, b: Analysis) -> None:
    """NNVisError saying why when the two workspaces do not hold the same observations in the
    same order (another data set, or another subset of it)."""
    names = f"workspaces {a.workspace.path} and {b.workspace.path}"
    data_a, data_b = a.manifest["dataset_id"], b.manifest["dataset_id"]
    if data_a != data_b:
        raise NNVisError(f"{names} hold different data sets ({data_a} vs {data_b}); only snapshots of the same "
                         "observations can be compared: make both with the same --dataset, --observations, "
                         "--subset and --seed")
    if a.key("subset").subset == b.key("subset").subset:
        return
    if not np.array_equal(a.subset()["index"], b.subset()["index"]):
        raise NNVisError(f"{names} hold different observations of {data_a} ({subset_description(a)} vs "
                         f"{subset_description(b)}); only snapshots of the same observations can be compared: "
                         "make both with the same --observations, --subset and --seed")


def open_pair(workspaces: list[str | Path], layers: list[str], epochs: list[int], *,
              progress: Progress = no_progress) -> tuple[Snapshot, Snapshot]:
    """The two sides named by one or two workspaces, layers and epochs (a single value serves
    both sides); NNVisError when they are not two snapshots of the same observations."""
    for name, values in (("--workspace", workspaces), ("--layer", layers), ("--epoch", epochs)):
        if not 1 <= len(values) <= 2:
            raise NNVisError(f"{name} was given {len(values)} times; allowed: once or twice")
    first = Analysis(Workspace(workspaces[0]), progress=progress)
    same = len(workspaces) == 1 or Path(workspaces[0]).resolve() == Path(workspaces[-1]).resolve()
    second = first if same else Analysis(Workspace(workspaces[-1]), progress=progress)
    a, b = snapshot(first, layers[0], epochs[0]), snapshot(second, layers[-1], epochs[-1])
    if same and a.identity() == b.identity():
        raise NNVisError(f"nothing to compare: both sides are {a.describe()}; give a second --epoch, --layer "
                         "or --workspace")
    if not same:
        check_same_observations(first, second)
    return a, b


def pair_key(a: Snapshot, b: Snapshot, kind: str, **params) -> ArtifactKey:
    """The store key of an artifact of the pair (a, b), in a's store."""
    return keys.pair(a, b, kind, **params)


def nearest_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Each row's k nearest other rows (Euclidean), nearest first; (N, k)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(x) - 1)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return drop_self(neighbours)[:, :k]


def shared_share(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per row, the share of `first`'s neighbours also in `second`'s (both (N, k))."""
    return (first[:, :, None] == second[:, None, :]).any(axis=2).mean(axis=1).astype(np.float32)


def neighbourhood_change(a: Snapshot, b: Snapshot, k: int = K_NEIGHBOURS) -> Arrays:
    """`kept`: per observation, the share of its k nearest neighbours in a's activation space
    that are among its k nearest in b's; `kept_wide`: the same for 3k (orders ties)."""
    def compute() -> Arrays:
        wide = TIE_BREAK_FACTOR * k
        a.analysis.progress("neighbours", 0, 2)
        first = nearest_neighbours(a.activations(), wide)
        a.analysis.progress("neighbours", 1, 2)
        second = nearest_neighbours(b.activations(), wide)
        a.analysis.progress("neighbours", 2, 2)
        return {"kept": shared_share(first[:, :k], second[:, :k]), "kept_wide": shared_share(first, second)}
    return a.analysis.store.get_or_compute(pair_key(a, b, "neighbourhood-change", k=k), compute)


def mover_order(change: Arrays) -> np.ndarray:
    """Observation indices from the one that kept fewest neighbours to the one that kept most."""
    return np.lexsort((np.arange(len(change["kept"])), change["kept_wide"], change["kept"]))


def aligned_key(a: Snapshot, b: Snapshot, method: str) -> ArtifactKey:
    return keys.aligned_pair(a, b, method)


def has_aligned_projections(a: Snapshot, b: Snapshot, method: str) -> bool:
    """Whether the comparison is in the store (so showing it computes nothing)."""
    return aligned_key(a, b, method) in a.analysis.store and \
        pair_key(a, b, "neighbourhood-change", k=K_NEIGHBOURS) in a.analysis.store


def aligned_projections(a: Snapshot, b: Snapshot, method: str) -> Arrays:
    """`a`: a's projection (the one the explore page shows), `b`: b's projection initialised
    from it and rotated onto it; `nh_a`, `nh_b`: their per-observation NH (k = 6)."""
    def compute() -> Arrays:
        first = a.analysis.projection(a.layer, a.epoch, method)
        a.analysis.progress(f"aligned {method}", 0, 1)
        points = project_from(b.activations(), method, first["points"], seed=a.analysis.config.seed)
        a.analysis.progress(f"aligned {method}", 1, 1)
        return {"a": first["points"], "b": points, "nh_a": first["nh"],
                "nh_b": neighborhood_hit(points, a.analysis.labels).astype(np.float32)}
    return a.analysis.store.get_or_compute(aligned_key(a, b, method), compute)


def compute_comparison(a: Snapshot, b: Snapshot, method: str) -> None:
    """Everything the page and the CLI show, into the store (a background job's work)."""
    neighbourhood_change(a, b)
    aligned_projections(a, b, method)


def class_nh(nh: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean NH of each class's observations (NaN for a class with none)."""
    counts = np.bincount(labels, minlength=n_classes)
    sums = np.bincount(labels, weights=nh, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def class_verdict(before: float, after: float) -> str:
    """'mixed' when a class's NH fell by more than CLASS_NH_CHANGE, 'separated' when it rose so."""
    if np.isnan(before) or np.isnan(after) or abs(after - before) <= CLASS_NH_CHANGE:
        return "same"
    return "separated" if after > before else "mixed"


def number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def comparison(a: Snapshot, b: Snapshot, method: str, top: int = TOP_MOVERS) -> dict:
    """The comparison as plain JSON-ready values: the `top` movers (index, change, kept,
    class, predictions in both), mean kept share and NH per class in both projections."""
    if top < 1:
        raise NNVisError(f"--top must be at least 1, got {top}")
    change = neighbourhood_change(a, b)
    pair = aligned_projections(a, b, method)
    labels, classes = a.analysis.labels, a.analysis.classes
    predicted_a, confidence_a = a.analysis.predictions(a.epoch)
    predicted_b, confidence_b = b.analysis.predictions(b.epoch)
    movers = [{"index": int(i), "change": number(1 - change["kept"][i]), "kept": number(change["kept"][i]),
               "class": classes[labels[i]], "prediction_a": classes[predicted_a[i]],
               "prediction_b": classes[predicted_b[i]], "confidence_a": number(confidence_a[i]),
               "confidence_b": number(confidence_b[i])} for i in mover_order(change)[:top]]
    per_class_a = class_nh(pair["nh_a"], labels, len(classes))
    per_class_b = class_nh(pair["nh_b"], labels, len(classes))
    return {"a": a.describe(), "b": b.describe(), "method": method, "k": K_NEIGHBOURS, "observations": len(labels),
            "mean_kept": number(change["kept"].mean()), "nh": {"a": number(pair["nh_a"].mean()),
                                                                  "b": number(pair["nh_b"].mean())},
            "movers": movers,
            "nh_per_class": {"a": {c: number(v) for c, v in zip(classes, per_class_a)},
                             "b": {c: number(v) for c, v in zip(classes, per_class_b)}},
            "class_change": {c: class_verdict(x, y) for c, x, y in zip(classes, per_class_a, per_class_b)}}
