"""Projections to 2-D: t-SNE (openTSNE), UMAP (umap-learn) and PCA for observations;
metric MDS over 1 - |Pearson r| for the neurons of a layer."""

from __future__ import annotations

import os
import re
from typing import Callable

import numpy as np

from nnvis.errors import NNVisError
from nnvis.projection.gpu import torchdr_project, uses_gpu_engine
from nnvis.projection.knn import GRAPH_PATH, graph_k, graph_space, knn_graph, path_note
from nnvis.projection.knn import first as knn_first
from nnvis.projection.knn import with_self as knn_with_self
from nnvis.projection.metrics import neighborhood_hit, seeded_sample
from nnvis.validation import one_of

PROJECTIONS = ("tsne", "umap", "pca")
BH_LIMIT = 5000
TSNE_ITERATIONS = (250, 500)  # openTSNE's early exaggeration, then its main optimisation
TSNE_REPORT_EVERY = 25  # iterations between two progress reports
# With the observations' labels, t-SNE's main phase stops once its neighborhood hit (k = 6) has
# settled: measured every NH_EVERY iterations from NH_FIRST on, it changed by less than NH_SETTLED
# (see docs/faithfulness.md for what this costs in NH, trustworthiness and continuity).
NH_FIRST, NH_EVERY, NH_SETTLED = 100, 50, 0.001
TSNE_STOP = f"nh-settled-{NH_SETTLED}-every-{NH_EVERY}-from-{NH_FIRST}"  # in the keys of what it makes
# Above UMAP_LARGE observations umap-learn runs UMAP_LARGE_EPOCHS epochs instead of its 200: its
# NH and trustworthiness stayed within 0.003 of 200 epochs' on 55,000 and 70,000 MNIST
# observations (docs/faithfulness.md); at or below it, umap-learn's own 200 (500 up to 10,000).
UMAP_LARGE, UMAP_LARGE_EPOCHS = 50_000, 120
UMAP_SCHEDULE = f"{UMAP_LARGE_EPOCHS}-epochs-above-{UMAP_LARGE}"  # in the keys of what it makes
# Everything above that changes what a CPU t-SNE or UMAP draws: what a kept summary was read under
PROJECTION_PATH = f"{GRAPH_PATH}|tsne-{TSNE_STOP}|umap-{UMAP_SCHEDULE}"
Steps = Callable[[int, int], None]  # called as steps(done, total): a projection's iterations or epochs


def check_method(method: str) -> str:
    """Return `method` if it is a known projection, else raise NNVisError listing them."""
    return one_of(method, PROJECTIONS, "projection")


def default_jobs() -> int:
    """Threads for CPU projections: NNVIS_THREADS, else every core."""
    return int(os.environ.get("NNVIS_THREADS", os.cpu_count() or 1))


def projection_note(method: str, *, gpu: bool = False) -> str:
    """One line saying how `method`'s projections are made, for where their NH is shown: the
    PCA-50 step and the shared graph (`nnvis.projection.knn.path_note`), then t-SNE's stop or
    UMAP's epochs on large sets (on the CPU); "" for the others."""
    note = path_note(method, gpu=gpu)
    if not note:
        return ""
    if method == "tsne":
        return (f"{note}; the main phase stops once NH has settled (it changed by less than {NH_SETTLED} "
                f"over {NH_EVERY} iterations)")
    return f"{note}; above {UMAP_LARGE:,} observations {UMAP_LARGE_EPOCHS} epochs (umap-learn: 200)"


def project(x: np.ndarray, method: str, *, seed: int = 0, n_jobs: int | None = None,
            device: str = "cpu", graph: dict[str, np.ndarray] | None = None,
            steps: Steps | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """Project the rows of `x` to 2-D with `method`; float32 (N, 2), scaled to unit spread.
    On a CUDA `device`, t-SNE and UMAP run on the GPU (torchdr, `nnvis.projection.gpu`). On the
    CPU they run on `graph_space(x)` (PCA to 50 dimensions above 100) from one neighbour graph
    (`nnvis.projection.knn`): `graph`, that graph when the caller has it, else found here.
    `steps(done, total)` hears t-SNE's iterations and UMAP's epochs on the CPU as they pass; with
    the observations' `labels`, t-SNE on the CPU stops once its neighborhood hit has settled."""
    check_method(method)
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 3:
        raise NNVisError(f"a projection needs at least 3 observations, got {len(x)}")
    n_jobs = n_jobs or default_jobs()
    if method == "pca" or x.shape[1] <= 2:
        points = pca_2d(x)
    elif uses_gpu_engine(method, device):
        points = torchdr_project(x, method, device=device, seed=seed)
    else:
        x = graph_space(x, seed=seed)
        graph = graph if graph is not None else knn_graph(x, seed=seed, n_jobs=n_jobs)
        points = (tsne_from_graph(x, graph, seed, n_jobs, steps, labels) if method == "tsne"
                  else umap_from_graph(x, graph, seed, steps))
    return normalise(points.astype(np.float32))


def tsne_from_graph(x: np.ndarray, graph: dict[str, np.ndarray], seed: int, n_jobs: int,
                    steps: Steps | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """openTSNE with perplexity-based affinities over the graph's first 3 x perplexity
    neighbours (what openTSNE's own search would find), initialised by PCA of `x`; with
    `labels`, its main phase stops once the neighborhood hit has settled (`tsne_callbacks`)."""
    from openTSNE import TSNE

    perplexity = min(30.0, (len(x) - 1) / 3)
    gradient = "bh" if len(x) < BH_LIMIT else "fft"  # Barnes-Hut is several times faster on small sets
    return np.asarray(TSNE(perplexity=perplexity, negative_gradient_method=gradient, n_jobs=n_jobs,
                           random_state=seed, early_exaggeration_iter=TSNE_ITERATIONS[0],
                           n_iter=TSNE_ITERATIONS[1], **tsne_callbacks(steps, labels)).fit(
        x, affinities=tsne_affinities(graph, seed, n_jobs)))


def tsne_affinities(graph: dict[str, np.ndarray], seed: int, n_jobs: int):
    """openTSNE's perplexity-based affinities (perplexity 30, at most (N - 1) / 3) over the
    graph's first 3 x perplexity neighbours, what openTSNE's own search would find."""
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    n = len(graph["indices"])
    perplexity = min(30.0, (n - 1) / 3)
    indices, distances = knn_first(graph, min(graph_k(n), int(3 * perplexity)))
    return PerplexityBasedNN(knn_index=PrecomputedNeighbors(indices, distances.astype(np.float64)),
                             perplexity=perplexity, n_jobs=n_jobs, random_state=seed)


def umap_from_graph(x: np.ndarray, graph: dict[str, np.ndarray], seed: int,
                    steps: Steps | None = None, **options) -> np.ndarray:
    """umap-learn over the graph's first 15 neighbours (`precomputed_knn`, itself first), for
    UMAP_LARGE_EPOCHS epochs above UMAP_LARGE observations; `options`: more of umap.UMAP's
    arguments (an `init`)."""
    import warnings

    import umap

    k = min(15, len(x) - 1)
    epochs = {"n_epochs": UMAP_LARGE_EPOCHS} if len(x) > UMAP_LARGE else {}
    reducer = umap.UMAP(n_neighbors=k, random_state=seed, n_jobs=1, precomputed_knn=knn_with_self(graph, k),
                        **({"tqdm_kwds": EpochSink(steps).tqdm_kwds()} if steps else {}), **{**epochs, **options})
    with warnings.catch_warnings():  # "no search index": only transform() would need one
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        return reducer.fit_transform(x)


def tsne_callbacks(steps: Steps | None, labels: np.ndarray | None = None) -> dict:
    """openTSNE's `callbacks` arguments: the iterations done of both phases reported to `steps`;
    with `labels`, the main phase stopped once its neighborhood hit has settled (it changed by
    less than NH_SETTLED over the last NH_EVERY iterations, from NH_FIRST main-phase iterations)."""
    if steps is None and labels is None:
        return {}
    total, calls, last = sum(TSNE_ITERATIONS), [0], [None]

    def callback(iteration: int, error: float, embedding) -> bool:
        calls[0] += 1
        done = calls[0] * TSNE_REPORT_EVERY
        if steps is not None:
            steps(min(done, total), total)
        main = done - TSNE_ITERATIONS[0]
        if labels is None or main < NH_FIRST or main % NH_EVERY:
            return False  # go on
        nh = float(neighborhood_hit(np.asarray(embedding), labels).mean())
        settled = last[0] is not None and abs(nh - last[0]) < NH_SETTLED
        last[0] = nh
        if settled and steps is not None:
            steps(total, total)
        return settled

    return {"callbacks": callback, "callbacks_every_iters": TSNE_REPORT_EVERY}


class EpochSink:
    """Where umap-learn's epoch bar writes (its `tqdm_kwds` file): each "done/total" it prints,
    formatted by `bar_format`, goes to `steps` instead of a terminal."""

    FORMAT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, steps: Steps):
        self.steps = steps

    def tqdm_kwds(self) -> dict:
        return {"disable": False, "file": self, "bar_format": "{n}/{total}\n", "mininterval": 0.5}

    def write(self, text: str) -> None:
        for done, total in self.FORMAT.findall(text):
            self.steps(int(done), int(total))

    def flush(self) -> None:
        pass


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components (zero-padded when x has fewer than two dimensions)."""
    from sklearn.decomposition import PCA

    n = min(2, x.shape[1], len(x))
    points = PCA(n_components=n, random_state=0).fit_transform(x)
    return np.pad(points, ((0, 0), (0, 2 - n)))


def normalise(points: np.ndarray) -> np.ndarray:
    """Centre and scale so the larger axis spans about [-1, 1]; distances keep their ratios."""
    centred = points - points.mean(axis=0)
    scale = np.abs(centred).max()
    return centred / scale if scale > 0 else centred


NEURON_MAP_OBSERVATIONS = 200_000  # correlations beyond this come from a seeded sample of observations
CHUNK_ROWS = 65_536  # observations read at a time: memory stays bounded for any number of them


def neuron_dissimilarity(activations: np.ndarray) -> np.ndarray:
    """1 - |Pearson r| between the columns (neurons) of `activations`; a neuron that never
    varies is uncorrelated with every other (dissimilarity 1) and 0 from itself. Accumulated in
    float64 over chunks of rows (mean first, then centred cross-products), never a float64
    copy of the whole matrix."""
    n, units = activations.shape
    mean = sum(np.asarray(activations[i:i + CHUNK_ROWS], np.float64).sum(axis=0)
               for i in range(0, n, CHUNK_ROWS)) / n
    cross = np.zeros((units, units))
    for i in range(0, n, CHUNK_ROWS):
        centred = np.asarray(activations[i:i + CHUNK_ROWS], np.float64) - mean
        cross += centred.T @ centred
    norms = np.sqrt(np.clip(np.diag(cross), 0.0, None))
    live = norms > 0
    r = np.zeros_like(cross)
    r[np.ix_(live, live)] = cross[np.ix_(live, live)] / np.outer(norms[live], norms[live])
    d = 1.0 - np.abs(np.clip(r, -1.0, 1.0))
    np.fill_diagonal(d, 0.0)
    return d


def neuron_projection(activations: np.ndarray, *, seed: int = 0,
                      max_observations: int = NEURON_MAP_OBSERVATIONS) -> np.ndarray:
    """Metric MDS of the neurons over 1 - |Pearson r|, initialised by classical MDS; (units, 2).
    Neurons that never vary over the observations (dead ReLUs) have no correlation to place them
    by: their rows are NaN. Beyond `max_observations`, correlations come from a seeded sample of
    that many observations (their standard error is then about 0.002)."""
    from sklearn.manifold import MDS

    if len(activations) > max_observations:
        activations = activations[seeded_sample(len(activations), max_observations, seed)]
    a = np.asarray(activations, dtype=np.float32)
    live = a.max(axis=0) > a.min(axis=0)
    positions = np.full((a.shape[1], 2), np.nan, np.float32)
    d = neuron_dissimilarity(a[:, live])
    if len(d) < 3:
        positions[live] = np.array([[-1, 0], [1, 0]], np.float32)[:len(d)]
        return positions
    mds = MDS(n_components=2, metric_mds=True, metric="precomputed", init="classical_mds",
              max_iter=100, random_state=seed, normalized_stress="auto")
    positions[live] = normalise(mds.fit_transform(d).astype(np.float32))
    return positions
