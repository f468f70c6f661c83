"""Projections on the GPU with torchdr: InfoTSNE (t-SNE's objective with negative sampling) and
UMAP, both on sparse kNN affinities, so whole data sets (70,000 observations) fit in GPU memory
where dense t-SNE does not. The same code runs on the CPU (tests, CI), only slower.

kNN search: faiss when installed (`pip install faiss-gpu-cu12` on GPU hosts), else torch's
own dense distances in blocks (torchdr's default, fine up to some tens of thousands)."""

from __future__ import annotations

import importlib.util

import numpy as np

GPU_METHODS = ("tsne", "umap")


def uses_gpu_engine(method: str, device: str) -> bool:
    """Whether `method` on `device` runs through torchdr (t-SNE and UMAP on a CUDA device)."""
    return method in GPU_METHODS and str(device).startswith("cuda")


def knn_backend() -> str | None:
    """torchdr's kNN backend: "faiss" when faiss is importable, else None (torch)."""
    return "faiss" if importlib.util.find_spec("faiss") is not None else None


def torchdr_project(x: np.ndarray, method: str, *, device: str, seed: int = 0,
                    max_iter: int | None = None) -> np.ndarray:
    """2-D embedding of the rows of `x` (float32) with torchdr's InfoTSNE ("tsne") or UMAP
    (`max_iter` optimisation steps, else torchdr's default: 1,000)."""
    import torch
    import torchdr

    n = len(x)
    common = dict(n_components=2, device=device, backend=knn_backend(), random_state=seed, verbose=False)
    if max_iter:
        common["max_iter"] = max_iter
    if method == "tsne":
        reducer = torchdr.InfoTSNE(perplexity=min(30.0, (n - 1) / 3), **common)
    else:
        reducer = torchdr.UMAP(n_neighbors=min(15, n - 1), **common)
    points = reducer.fit_transform(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return (points.detach() if isinstance(points, torch.Tensor) else torch.as_tensor(points)).float().cpu().numpy()
