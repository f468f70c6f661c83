"""Uploaded and drawn images stored once by their sha256 digest, and the work done per input.

A page's store holds only `{"digest", "source", "shape"}`: the browser never sends the pixels
back. The decoded image lies in a folder under the server's job cache (`uploads/`, shared by
every worker of the server; a file per image named by its hex digest only, written atomically,
at most MAX_FILES files and MAX_BYTES bytes, the oldest evicted first), with a small LRU of
decoded arrays per process on top. An unknown or evicted digest is an NNVisError asking to
upload the image again.

`RESULTS` is a per-process LRU of results computed for one input (a layer grid, a structure
strip), keyed by what produced them; never shared across processes."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from nnvis.errors import NNVisError
from web.context import current_settings

MAX_FILES = 512
MAX_BYTES = 512 * 2**20
DIGEST = re.compile(r"[0-9a-f]{64}")
GONE = "the uploaded image is no longer on the server; upload the image again (or draw it again)"


class Recent:
    """A thread-safe LRU of at most `size` entries (per process)."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key not in self.entries:
                return None
            self.entries.move_to_end(key)
            return self.entries[key]

    def put(self, key, value) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def get_or_compute(self, key, compute: Callable):
        """The entry for `key`, or `compute()` kept under it (computed outside the lock)."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


IMAGES = Recent(64)  # (folder, digest) -> decoded uint8 image
RESULTS = Recent(32)  # (kind, workspace, artifact key digest) -> a grid or a strip of one input


def uploads_folder() -> Path:
    """Where this server keeps uploaded images: `uploads/` in its job cache."""
    return Path(current_settings().job_cache) / "uploads"


def image_digest(image: np.ndarray) -> str:
    """The sha256 hex digest of a uint8 image's shape and pixels."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return hashlib.sha256(repr(image.shape).encode() + image.tobytes()).hexdigest()


def store_image(image: np.ndarray, folder: Path | None = None) -> str:
    """Keep the uint8 `image` once under its digest (atomically; the oldest files evicted
    beyond the bounds) and return the digest."""
    folder = folder or uploads_folder()
    image = np.ascontiguousarray(image, dtype=np.uint8)
    digest = image_digest(image)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / digest
    if path.exists():
        os.utime(path)  # used again: evicted last
    else:
        handle, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, image, allow_pickle=False)
            os.replace(partial, path)  # readers see the whole file or none
        finally:
            Path(partial).unlink(missing_ok=True)
        evict(folder)
    IMAGES.put((str(folder), digest), image)
    return digest


def evict(folder: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> None:
    """Remove the oldest images of `folder` until at most `max_files` of at most `max_bytes` remain."""
    found = []
    for path in folder.iterdir():
        try:
            if DIGEST.fullmatch(path.name):
                info = path.stat()
                found.append((info.st_mtime, info.st_size, path))
        except FileNotFoundError:
            continue  # evicted by another worker meanwhile
    found.sort()
    total = sum(size for _, size, _ in found)
    while found and (len(found) > max_files or total > max_bytes):
        _, size, path = found.pop(0)
        path.unlink(missing_ok=True)
        total -= size


def stored_image(digest, shape: tuple[int, ...], folder: Path | None = None) -> np.ndarray:
    """The image stored under `digest`, checked to be uint8 of `shape`; NNVisError asking to
    upload it again when it is unknown, evicted or of another shape."""
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise NNVisError(GONE)
    folder = folder or uploads_folder()
    image = IMAGES.get((str(folder), digest))
    if image is None:
        try:
            image = np.load(folder / digest, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            raise NNVisError(GONE) from None
        if image.dtype != np.uint8 or image_digest(image) != digest:
            raise NNVisError(GONE)
        IMAGES.put((str(folder), digest), image)
    if image.shape != tuple(shape):
        raise NNVisError(f"the input image must be {tuple(shape)} pixels of 0..255; pick an observation or "
                         "upload again")
    return image


def image_record(image: np.ndarray, source: str) -> dict:
    """What a page's store holds for an uploaded or drawn image: its digest, caption and shape."""
    return {"digest": store_image(image), "source": str(source)[:80], "shape": list(np.shape(image))}


def input_key(data) -> str:
    """The part of a cache key naming a page's input: its digest, or its observation index."""
    if isinstance(data, dict) and data.get("digest") is not None:
        return f"digest:{data['digest']}"
    observation = data.get("observation") if isinstance(data, dict) else data
    return f"observation:{observation!r}"


def per_input(kind: str, analysis, artifact_key, compute: Callable):
    """The result of `kind` for `artifact_key` (an ArtifactKey of `analysis`), from this
    process's LRU or `compute()`d and kept there."""
    return RESULTS.get_or_compute((kind, str(analysis.workspace.path), artifact_key.digest()), compute)
