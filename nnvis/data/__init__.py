"""Data sets and their preprocessing: the built-in sets, image folders and .npz files, the user's
normalisation, decoded-image caches, PNG thumbnails, and .npy files written in place (npy).

Public names below (each loads its module on first use); everything else is the wing's own."""

from nnvis._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "DATASETS": "datasets",
    "ImageDataset": "datasets",
    "load_dataset": "datasets",
    "to_png": "images",
    "NORMALIZE_HELP": "preprocess",
    "NORMALIZE_NONE": "preprocess",
    "Preprocess": "preprocess",
    "load_data": "preprocess",
    "normalize_text": "preprocess",
})
