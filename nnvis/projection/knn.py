"""One neighbour graph per view: the k nearest neighbours of every observation of a layer and
epoch, found once and reused by t-SNE's affinities and UMAP's graph.

Layers wider than PCA_ABOVE units are first reduced to PCA_DIMS principal components (the
usual practice before t-SNE, Kobak and Berens 2019): the neighbour search then reads 50 numbers
per observation instead of hundreds or thousands. Up to EXACT_LIMIT observations the graph is
exact (blocks of squared distances and a top-k, torch); beyond it, approximate (pynndescent).

GRAPH_K covers every consumer: t-SNE at perplexity 30 reads 3 x 30 = 90 neighbours, UMAP the
first 15. Neighborhood hit (k = 6) is measured among the 2-D points, a different graph, and
trustworthiness/continuity on the activations themselves (see nnvis.projection.metrics)."""

from __future__ import annotations

import numpy as np

GRAPH_K = 90
PCA_DIMS = 50
PCA_ABOVE = 100
EXACT_LIMIT = 200_000
BLOCK_BYTES = 2 ** 28  # distances held at a time: about 256 MB
GRAPH_PATH = f"knn{GRAPH_K}-pca{PCA_DIMS}-above{PCA_ABOVE}"
"""Names this path in the store keys of everything projected on it (nnvis.workspace.keys): the
projections of t-SNE and UMAP on the CPU, their measures, aligned sequences, trails and pairs.
Those stored before it (each library's own search on the raw activations) keep their old keys,
so they are never read as results of this path. Change it whenever the path changes."""


def graph_space(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The space the graph and the projections work in (float32): the first PCA_DIMS
    principal components when `x` has more than PCA_ABOVE columns, else `x` itself."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] <= PCA_ABOVE or len(x) <= PCA_DIMS:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=PCA_DIMS, random_state=seed).fit_transform(x).astype(np.float32)


def reduces(width: int) -> bool:
    """Whether a layer of `width` units is reduced by PCA before its graph (see graph_space)."""
    return width > PCA_ABOVE


def graph_k(n: int, k: int = GRAPH_K) -> int:
    """The neighbours a graph of n observations holds: `k`, at most n - 1."""
    return max(1, min(k, n - 1))


def knn_graph(x: np.ndarray, k: int = GRAPH_K, *, seed: int = 0, n_jobs: int = 1,
              device: str = "cpu") -> dict[str, np.ndarray]:
    """Each row's `k` nearest other rows (Euclidean), nearest first: "indices" int64 (N, k) and
    "distances" float32 (N, k). Exact up to EXACT_LIMIT rows, pynndescent beyond."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = graph_k(len(x), k)
    if len(x) > EXACT_LIMIT:
        return approximate_graph(x, k, seed=seed, n_jobs=n_jobs)
    return exact_graph(x, k, device=device)


def exact_graph(x: np.ndarray, k: int, *, device: str = "cpu") -> dict[str, np.ndarray]:
    """The exact graph, in blocks of rows: |y|^2 - 2 x.y by one fused matrix product (|x|^2, the
    same along a row, cannot change its order), a top-k, then the distances of the k found
    recomputed directly (no cancellation error)."""
    import torch

    data = torch.as_tensor(x, device=device)
    n = len(data)
    rows_per_block = max(1, BLOCK_BYTES // (8 * n))
    indices, distances = [], []
    norms = (data * data).sum(1)
    for start in range(0, n, rows_per_block):
        rows = torch.arange(start, min(start + rows_per_block, n), device=device)
        d = torch.addmm(norms[None, :], data[rows], data.T, alpha=-2.0)
        d[torch.arange(len(rows), device=device), rows] = float("inf")  # a point is not its own neighbour
        found = torch.topk(d, k, dim=1, largest=False, sorted=True).indices
        exact = torch.linalg.vector_norm(data[found] - data[rows, None, :], dim=2)
        exact, order = torch.sort(exact, dim=1, stable=True)
        indices.append(found.gather(1, order).cpu())
        distances.append(exact.cpu())
    return {"indices": torch.cat(indices).numpy().astype(np.int64),
            "distances": torch.cat(distances).numpy().astype(np.float32)}


def approximate_graph(x: np.ndarray, k: int, *, seed: int = 0, n_jobs: int = 1) -> dict[str, np.ndarray]:
    """pynndescent's graph (as umap-learn builds it), its self column dropped."""
    from pynndescent import NNDescent

    index = NNDescent(x, n_neighbors=k + 1, random_state=seed, n_jobs=n_jobs, low_memory=True)
    found, distances = index.neighbor_graph
    is_self = found == np.arange(len(found))[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # not found among its own neighbours: drop the farthest
    keep = ~is_self
    return {"indices": found[keep].reshape(len(found), k).astype(np.int64),
            "distances": distances[keep].reshape(len(found), k).astype(np.float32)}


def first(graph: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `k` neighbours of a graph: (indices, distances)."""
    return graph["indices"][:, :k], graph["distances"][:, :k]


def with_self(graph: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row itself (distance 0) and then its first k - 1 neighbours, as umap-learn's
    `precomputed_knn` expects (its own pynndescent graph starts with the point)."""
    indices, distances = first(graph, k - 1)
    rows = np.arange(len(indices), dtype=indices.dtype)[:, None]
    return (np.ascontiguousarray(np.hstack([rows, indices])),
            np.ascontiguousarray(np.hstack([np.zeros_like(rows, dtype=np.float32), distances])))


def path_note(method: str, *, gpu: bool = False) -> str:
    """One line saying how `method`'s projections are made, for where their NH is shown: the
    PCA-50 step and the shared graph (t-SNE and UMAP on the CPU); "" for the others."""
    if method not in ("tsne", "umap") or gpu:
        return ""
    return (f"{method} on the CPU: a layer wider than {PCA_ABOVE} units is first reduced to its first "
            f"{PCA_DIMS} principal components (PCA-{PCA_DIMS}); one exact neighbour graph (k = {GRAPH_K}) "
            "per layer and epoch; NH is measured among the 2-D points")
