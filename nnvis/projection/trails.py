"""Trails (Rauber et al.): an observation's positions across a sequence of layers or epochs.

Frames are made comparable by *aligned* projection: each frame starts from the previous
frame's layout (openTSNE / UMAP initialisation), then is rotated onto it by orthogonal
Procrustes (which also fixes PCA's sign flips). Independent projections land in arbitrary
orientations; alignment costs the later frames a little of their own optimum (they start from
the previous layout instead of PCA) and buys trails that mean something.

How strongly frames are tied is the *coherence*: "independent" (each frame its own projection,
only rotated onto the previous one), "chain" (initialised from the previous frame), or, for
t-SNE, an attraction λ in (0, 1): the chain plus an attraction towards the previous frame's
positions, in the spirit of dynamic t-SNE (Rauber et al. 2016). After every gradient step an
observation moves the fraction λ·kept of the way to where it was in the previous frame (at the
current frame's scale), kept being the share of its TIE_NEIGHBOURS nearest neighbours in
activation space that it keeps from one frame to the next: what did not change stays put, what
changed is free to move. Written "λ" the attraction moves the points only ("tied"); written
"damped-λ" (the default, λ 0.5) it also takes the same fraction off each point's optimiser
state: its momentum (openTSNE's last update) and its gain (delta-bar-delta step size) are
pulled back towards rest. A held point's gradient keeps its sign (it is held away from where
the gradient wants it), so without that its gain grows step after step and its momentum carries
it off its anchor again: how far it ends up from where it was then depends on its optimiser
state more than on how much it changed. (A uniform pull, λ alone, was measured too: strong
enough to steady the picture, it also holds back what changed and costs NH; see
docs/faithfulness.md.)
"""

from __future__ import annotations

import numpy as np

from nnvis.errors import NNVisError
from nnvis.progress import Progress, no_progress
from nnvis.projection.knn import graph_space, knn_graph
from nnvis.projection.methods import (
    BH_LIMIT,
    TSNE_ITERATIONS,
    check_method,
    default_jobs,
    normalise,
    pca_2d,
    project,
    tsne_affinities,
    umap_from_graph,
)
from nnvis.projection.metrics import nearest_neighbours, neighborhood_hit, neighbourhood_change
from nnvis.projection.numba_cache import import_cached


def procrustes_onto(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`points` rotated (or reflected) and scaled about their centre to best match `reference`."""
    from scipy.linalg import orthogonal_procrustes

    a = points - points.mean(axis=0)
    b = reference - reference.mean(axis=0)
    rotation, scale = orthogonal_procrustes(a, b)
    return (a @ rotation * (scale / max(float((a ** 2).sum()), 1e-12))).astype(np.float32) + reference.mean(axis=0)


COHERENCE = ("independent", "chain")  # and, for t-SNE, any attraction λ in (0, 1): "λ" (tied) or "damped-λ"
DAMPED = "damped-"
DEFAULT_ATTRACTION = "damped-0.5"


def check_coherence(coherence: str | None, method: str) -> str:
    """The coherence setting to use: `coherence`, or the method's default (t-SNE: attraction
    DEFAULT_ATTRACTION; UMAP and PCA: "chain"). NNVisError naming what is allowed otherwise."""
    if coherence in (None, ""):
        return DEFAULT_ATTRACTION if method == "tsne" else "chain"
    if coherence in COHERENCE:
        return str(coherence)
    allowed = f"{', '.join(COHERENCE)}" + \
        (f" or an attraction between 0 and 1, alone (tied) or after {DAMPED!r} (t-SNE)" if method == "tsne" else "")
    text = str(coherence)
    damped = text.startswith(DAMPED)
    try:
        strength = float(text[len(DAMPED):] if damped else text)
    except (TypeError, ValueError):
        raise NNVisError(f"unknown coherence {coherence!r}; allowed: {allowed}") from None
    if method != "tsne" or not 0 < strength < 1:
        raise NNVisError(f"coherence {coherence!r} is not available for {method}; allowed: {allowed}")
    return f"{DAMPED if damped else ''}{strength:g}"


def attraction_of(coherence: str) -> tuple[float, bool]:
    """(λ, damped) of a checked attraction setting ("0.9" or "damped-0.9")."""
    damped = coherence.startswith(DAMPED)
    return float(coherence[len(DAMPED):] if damped else coherence), damped


TIE_NEIGHBOURS = 15  # the neighbourhood whose persistence ties an observation (as temporal preservation's k)


class Attraction:
    """openTSNE callback (run at every gradient step, before the step is taken) moving each point
    the fraction `strength` (one number, or one per point) of the way to its position in
    `anchor` (the previous frame), rescaled to the embedding's current spread: an added
    attraction. `damped`: the same fraction also comes off the point's optimiser state (its
    momentum goes that much towards 0, its gain towards 1), so that the steps that follow do
    not carry it off again."""

    def __init__(self, anchor: np.ndarray, strength: float | np.ndarray, *, damped: bool = False):
        self.anchor = np.asarray(anchor, np.float64) - np.mean(anchor, axis=0)
        self.anchor_spread = max(float(np.sqrt((self.anchor ** 2).mean())), 1e-12)
        self.strength = np.reshape(strength, (-1, 1)) if np.ndim(strength) else strength
        self.damped = damped

    def __call__(self, _iteration: int, _error: float, embedding: np.ndarray) -> bool:
        scale = float(np.sqrt((np.asarray(embedding) ** 2).mean())) / self.anchor_spread
        embedding += self.strength * (self.anchor * scale - embedding)
        optimiser = getattr(embedding, "optimizer", None)  # openTSNE's gradient_descent: update and gains
        if self.damped and optimiser is not None and optimiser.update is not None:
            optimiser.update *= 1.0 - self.strength
            optimiser.gains += self.strength * (1.0 - optimiser.gains)
        return False  # never stop the optimisation


def project_from(x: np.ndarray, method: str, previous: np.ndarray, *, seed: int = 0,
                 attraction: float | np.ndarray = 0.0, damped: bool = False,
                 graph: dict[str, np.ndarray] | None = None, labels: np.ndarray | None = None,
                 target_nh: float | None = None) -> np.ndarray:
    """Project `x` starting from the layout `previous` (t-SNE and UMAP), aligned onto it; with
    `attraction` > 0 (t-SNE; one number or one per point), every step also pulls the points
    towards `previous` (`damped`: and takes as much off their optimiser state). t-SNE and UMAP
    run as `project` runs them: in `graph_space(x)` on its neighbour graph (`graph`, the stored
    one when the caller has it, else found here). Given `labels` and `target_nh` (the NH of the
    frame's own projection), t-SNE runs the shorter ALIGNED_TSNE_ITERATIONS, measures the
    frame's NH, and runs the rest of the full main phase only if it is more than NH_ALLOWANCE
    below `target_nh`."""
    x = np.asarray(x, dtype=np.float32)
    if method in ("tsne", "umap"):
        x = graph_space(x, seed=seed)
        graph = graph if graph is not None else knn_graph(x, seed=seed, n_jobs=default_jobs())
    if method == "tsne":
        points = tsne_from(x, graph, previous, seed=seed, attraction=attraction, damped=damped,
                           settle=None if labels is None or target_nh is None else (labels, target_nh))
    elif method == "umap":
        points = umap_from_graph(x, graph, seed, init=previous)
    else:
        points = pca_2d(x)
    return normalise(procrustes_onto(normalise(points.astype(np.float32)), previous))


ALIGNED_TSNE_ITERATIONS = (100, 250)  # early exaggeration, then main phase, of a frame started from the previous one
NH_ALLOWANCE = 0.01  # how far below its own projection's NH a frame on the short schedule may stay


def tsne_from(x: np.ndarray, graph: dict[str, np.ndarray], previous: np.ndarray, *, seed: int,
              attraction: float | np.ndarray, damped: bool,
              settle: tuple[np.ndarray, float] | None) -> np.ndarray:
    """openTSNE on the graph from the layout `previous` (see `project_from`); `settle`: (labels,
    target NH) for the short schedule, None for the full one (TSNE_ITERATIONS)."""
    from openTSNE import TSNE
    from openTSNE.initialization import rescale

    perplexity = min(30.0, (len(x) - 1) / 3)
    tied = dict(callbacks=[Attraction(previous, attraction, damped=damped)], callbacks_every_iters=1) \
        if np.any(attraction) else {}
    schedule = TSNE_ITERATIONS if settle is None else ALIGNED_TSNE_ITERATIONS
    embedding = TSNE(perplexity=perplexity, initialization=rescale(previous.astype(np.float64)),
                     n_jobs=default_jobs(), random_state=seed, early_exaggeration_iter=schedule[0],
                     n_iter=schedule[1], negative_gradient_method="bh" if len(x) < BH_LIMIT else "fft",
                     **tied).fit(x, affinities=tsne_affinities(graph, seed, default_jobs()))
    if settle is not None and neighborhood_hit(np.asarray(embedding), settle[0]).mean() < settle[1] - NH_ALLOWANCE:
        embedding = embedding.optimize(n_iter=TSNE_ITERATIONS[1] - schedule[1], inplace=True)  # the rest
    return np.asarray(embedding)


def aligned_frames(xs: list[np.ndarray], method: str, *, seed: int = 0, progress: Progress = no_progress,
                   coherence: str | None = "chain", independent: list[np.ndarray] | None = None,
                   graphs: list[dict[str, np.ndarray]] | None = None,
                   labels: np.ndarray | None = None) -> np.ndarray:
    """One 2-D frame per activation matrix in `xs` (same observations, any widths), each
    aligned onto the one before and, unless `coherence` is "independent", initialised from it
    (and attracted to it, for an attraction "λ" or "damped-λ"); shape (frames, N, 2). `independent`: the
    frames' own projections when already at hand (they are then not recomputed); `graphs`: the
    frames' neighbour graphs when stored (`nnvis.projection.knn`; else each is found here).
    With `labels` and `independent`, t-SNE's initialised frames run the short schedule where
    their NH stays within NH_ALLOWANCE of their own projection's (`project_from`)."""
    check_method(method)
    coherence = check_coherence(coherence, method)
    graph = (lambda i: graphs[i]) if graphs is not None else (lambda i: None)
    progress("aligned frames", 0, len(xs))
    frames = [independent[0] if independent is not None else project(xs[0], method, seed=seed, graph=graph(0))]
    for i, x in enumerate(xs[1:], start=1):
        progress("aligned frames", len(frames), len(xs))
        if coherence == "independent":
            own = independent[i] if independent is not None else project(x, method, seed=seed, graph=graph(i))
            frames.append(normalise(procrustes_onto(own, frames[-1])))
        else:
            strength, damped = (0.0, False) if coherence == "chain" else attraction_of(coherence)
            if strength:
                strength = strength * kept_share(xs[i - 1], x)
            target = None if labels is None or independent is None else \
                float(neighborhood_hit(independent[i], labels).mean())
            frames.append(project_from(x, method, frames[-1], seed=seed, attraction=strength, damped=damped,
                                       graph=graph(i), labels=labels, target_nh=target))
    progress("aligned frames", len(xs), len(xs))
    return np.stack(frames).astype(np.float32)


def kept_share(before: np.ndarray, after: np.ndarray, k: int = TIE_NEIGHBOURS) -> np.ndarray:
    """Per observation, the share of its k nearest neighbours in `before` still among them in `after`."""
    near_before, near_after = nearest_neighbours(before, k), nearest_neighbours(after, k)
    return 1.0 - neighbourhood_change(near_before, near_after) / near_before.shape[1]


def mean_displacement(frames: np.ndarray) -> float:
    """Mean distance a point moves between consecutive frames (frames normalised to unit spread)."""
    return float(np.linalg.norm(np.diff(frames, axis=0), axis=2).mean())


def bundle_trails(frames: np.ndarray, *, points_per_segment: int = 12, accuracy: int = 200,
                  iterations: int = 3) -> np.ndarray:
    """Edge-bundle every observation's trail with datashader's hammer_bundle: segment i of
    observation j joins its frame-i and frame-(i+1) positions. Returns (N, segments,
    points_per_segment, 2) polylines, each resampled to a fixed number of points."""
    import pandas as pd

    hammer_bundle = cached_hammer_bundle()
    n_frames, n, _ = frames.shape
    nodes = pd.DataFrame(frames.reshape(-1, 2).astype(np.float64), columns=["x", "y"])
    source = np.arange((n_frames - 1) * n)
    edges = pd.DataFrame({"edge_id": source, "source": source, "target": source + n})
    paths = hammer_bundle(nodes, edges, include_edge_id=True, accuracy=accuracy, iterations=iterations)
    table = paths[["x", "y", "edge_id"]].to_numpy()
    breaks = np.flatnonzero(np.isnan(table[:, 0]))
    result = np.empty((len(source), points_per_segment, 2), np.float32)
    for path in np.split(table, breaks + 1):
        path = path[~np.isnan(path[:, 0])]
        if len(path):
            result[int(path[0, 2])] = resample(path[:, :2], points_per_segment)
    # edge e = segment (e // n) of observation (e % n)
    return result.reshape(n_frames - 1, n, points_per_segment, 2).transpose(1, 0, 2, 3)


def resample(path: np.ndarray, count: int) -> np.ndarray:
    """`count` points evenly spaced along the polyline `path` (by arc length)."""
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] == 0:
        return np.repeat(path[:1], count, axis=0)
    targets = np.linspace(0.0, along[-1], count)
    return np.column_stack([np.interp(targets, along, path[:, 0]), np.interp(targets, along, path[:, 1])])


def cached_hammer_bundle():
    """datashader's `hammer_bundle`, its numba kernels compiled once per machine (see
    `nnvis.projection.numba_cache.import_cached`)."""
    return import_cached("datashader.bundling").hammer_bundle


def warm_up_bundling() -> None:
    """Bundle a few tiny trails so numba compiles hammer_bundle's kernels now, not in the
    first user's job (about 10 s once per long-lived worker process)."""
    rng = np.random.default_rng(0)
    bundle_trails(rng.normal(size=(3, 20, 2)).astype(np.float32))
