"""Image files decoded once into a memory-mapped uint8 .npy file (in a workspace's data/
folder), keyed by the files' paths, sizes and modification times and the decoding size, so
that large image folders are neither decoded again nor held in memory."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from nnvis.data.npy import load_npy


def cache_name(paths: list[str], size: int | None) -> str:
    """The file name for `paths` decoded at `size`: a hash of what the pixels depend on."""
    stats = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]
    digest = hashlib.sha256(json.dumps([stats, size]).encode()).hexdigest()[:20]
    return f"images-{digest}.npy"


def decoded(paths: list[str], load: Callable[[str], np.ndarray], size: int | None,
            cache_dir: str | Path | None) -> np.ndarray:
    """The images of `paths` as one uint8 array (N,H,W,3): decoded with `load`, into a
    read-only memory map in `cache_dir` when one is given (reused when already there)."""
    if cache_dir is None:
        return np.stack([load(path) for path in paths])
    path = Path(cache_dir) / cache_name(paths, size)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        first = load(paths[0])
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), *first.shape))
        out[0] = first
        for i, image_path in enumerate(paths[1:], start=1):
            out[i] = load(image_path)
        out.flush()
        del out
        os.replace(tmp, path)
    return load_npy(path, mmap_mode="r")
