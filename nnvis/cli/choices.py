"""The values `nnvis run` offers, for the parser only: copies of the backend's constants kept
here so that parsing arguments imports neither numpy nor torch (the backend modules that define
them import torch). tests/unit/test_cli_startup.py checks each copy against its source."""

from __future__ import annotations

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn", "idx", "npz", "imagefolder")
"""nnvis.data.datasets.DATASETS"""
PROJECTIONS = ("tsne", "umap", "pca")
"""nnvis.projection.methods.PROJECTIONS"""
DEVICES = ("auto", "cpu", "cuda")
"""nnvis.workspace.workspace.DEVICES"""
PRECISIONS = ("float32", "bfloat16", "float16")
"""the keys of nnvis.models.activations.PRECISIONS"""
OBSERVATIONS = {"test": "the test split", "all": "test + train"}
"""nnvis.workspace.workspace.OBSERVATIONS"""
SUBSET_ALL = "all"
DEFAULT_SUBSET = 2000
NORMALIZE_NONE = "none"
NORMALIZE_HELP = ("per-channel MEAN/STD as comma lists (e.g. 0.4914,0.4822,0.4465/0.2470,0.2435,0.2616), "
                  f"or imagenet or {NORMALIZE_NONE}")
"""nnvis.data.preprocess.NORMALIZE_NONE and NORMALIZE_HELP"""
MANIFEST = "workspace.json"
"""nnvis.workspace.workspace.MANIFEST: a folder without it is no workspace"""


def check_choice(name: str, value: str, allowed) -> None:
    """The message RunConfig.validate gives for a value outside `allowed`, before any heavy import."""
    from nnvis.errors import NNVisError

    if value not in allowed:
        raise NNVisError(f"unknown {name} '{value}'; allowed: {', '.join(allowed)}")
