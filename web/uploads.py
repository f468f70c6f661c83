"""Files every worker of the server shares, each written once under a hex digest: uploaded and
drawn images (`uploads/`), and results computed for one input by a job (`strips/`).

A page's store holds only `{"digest", "source", "shape"}` of an uploaded image: the browser never
sends the pixels back. Each kind of file lies in its own folder under the server's job cache
(`SharedFolder`: a file per digest only, written atomically, at most `max_files` files and
`max_bytes` bytes, the oldest evicted first), with a small LRU of decoded values per process on
top. Plain arrays only (`.npy`/`.npz`, never a pickle). An unknown or evicted digest is a miss:
for an image, an NNVisError asking to upload it again."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from nnvis.data.npy import load_npy
from nnvis.errors import NNVisError
from nnvis.workspace.store import DECODE_ERRORS, pack, unpack
from web.context import current_settings
from web.memo import ProcessLRU

MAX_FILES = 512
MAX_BYTES = 512 * 2**20
DIGEST = re.compile(r"[0-9a-f]{64}")
GONE = "the uploaded image is no longer on the server; upload the image again (or draw it again)"


def evict(folder: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> None:
    """Remove the oldest files of `folder` until at most `max_files` of at most `max_bytes` remain."""
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


class SharedFolder:
    """The folder `name` under the server's job cache: files named by a hex digest, written
    atomically by any process (a web worker or a job), read by every worker, bounded in count
    and bytes (oldest first out); `memory` decoded values kept per process."""

    def __init__(self, name: str, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES, memory: int = 32):
        self.name, self.max_files, self.max_bytes = name, max_files, max_bytes
        self.recent = ProcessLRU(memory)  # (folder, digest) -> decoded value

    def path(self) -> Path:
        """Where this server keeps these files (the job cache of its settings, in a job too)."""
        return Path(current_settings().job_cache) / self.name

    def write(self, digest: str, save: Callable[[BinaryIO], None], value, folder: Path | None = None) -> None:
        """Write the file `digest` with `save(file)` unless it is there (then only marked as used:
        evicted last), and keep `value` (what it decodes to) in this process's memory."""
        folder = folder or self.path()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / digest
        if path.exists():
            os.utime(path)
        else:
            handle, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")
            try:
                with os.fdopen(handle, "wb") as file:
                    save(file)
                os.replace(partial, path)  # readers see the whole file or none
            finally:
                Path(partial).unlink(missing_ok=True)
            evict(folder, self.max_files, self.max_bytes)
        self.recent.put((str(folder), digest), value)

    def read(self, digest, load: Callable[[Path], object], folder: Path | None = None):
        """The value of file `digest` (from memory, else `load(path)`), or None when it is not
        there, was evicted or does not decode (`load` raising one of the store's DECODE_ERRORS)."""
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            return None
        folder = folder or self.path()
        found = self.recent.get((str(folder), digest))
        if found is None:
            try:
                found = load(folder / digest)
            except DECODE_ERRORS:
                return None
            if found is not None:
                self.recent.put((str(folder), digest), found)
        return found

    def write_arrays(self, digest: str, arrays: dict[str, np.ndarray]) -> None:
        """Keep named plain arrays (an .npz, never pickled) under `digest`."""
        self.write(digest, lambda file: file.write(pack(arrays)), arrays)

    def read_arrays(self, digest, decode: Callable[[dict], object] = dict):
        """`decode(the named arrays kept under digest)`, or None (also when they do not decode)."""
        arrays = self.read(digest, lambda path: unpack(path.read_bytes()))
        try:
            return None if arrays is None else decode(arrays)
        except DECODE_ERRORS:
            return None

    def clear_memory(self) -> None:
        self.recent.clear()


UPLOADS = SharedFolder("uploads", memory=64)
IMAGES = UPLOADS.recent  # (folder, digest) -> decoded uint8 image


def uploads_folder() -> Path:
    """Where this server keeps uploaded images: `uploads/` in its job cache."""
    return UPLOADS.path()


def image_digest(image: np.ndarray) -> str:
    """The sha256 hex digest of a uint8 image's shape and pixels."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return hashlib.sha256(repr(image.shape).encode() + image.tobytes()).hexdigest()


def store_image(image: np.ndarray, folder: Path | None = None) -> str:
    """Keep the uint8 `image` once under its digest (atomically; the oldest files evicted
    beyond the bounds) and return the digest."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    digest = image_digest(image)
    UPLOADS.write(digest, lambda file: np.save(file, image, allow_pickle=False), image, folder)
    return digest


def load_image(path: Path, digest: str) -> np.ndarray | None:
    """The uint8 image in file `path`, or None when it is not the image of `digest`."""
    image = load_npy(path)
    return image if image.dtype == np.uint8 and image_digest(image) == digest else None


def stored_image(digest, shape: tuple[int, ...], folder: Path | None = None) -> np.ndarray:
    """The image stored under `digest`, checked to be uint8 of `shape`; NNVisError asking to
    upload it again when it is unknown, evicted or of another shape."""
    image = UPLOADS.read(digest, lambda path: load_image(path, digest), folder)
    if image is None:
        raise NNVisError(GONE)
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


def input_of(data) -> dict:
    """A page's input without its caption: `{"digest"}` or `{"observation"}` (what a job needs,
    and the same for every user choosing the same input)."""
    if isinstance(data, dict) and data.get("digest") is not None:
        return {"digest": data["digest"]}
    return {"observation": data.get("observation") if isinstance(data, dict) else data}


def result_digest(kind: str, analysis, artifact_key) -> str:
    """The file name of a result of `kind` for `artifact_key` (an ArtifactKey of `analysis`:
    the weights, the input, the parameters) in workspace `analysis`."""
    return hashlib.sha256(f"{kind}\n{analysis.workspace.path}\n{artifact_key.digest()}".encode()).hexdigest()

