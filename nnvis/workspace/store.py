"""Content-addressed artifact store on diskcache: every artifact is keyed by what made it.

Values are dicts of numpy arrays serialised as uncompressed .npz bytes (loaded with
allow_pickle=False), or PNG bytes, read through `PlainDisk`, which refuses a pickled row: a
shared store never unpickles anything, whoever wrote its folder. A diskcache `set` is one
SQLite transaction: a killed writer leaves no partial artifact.

Computing a missing artifact holds an exclusive `flock` on a file named by its digest, so two
processes (web workers, Celery workers on a shared filesystem) asking for the same artifact
compute it once: the second waits, then reads. The kernel drops the lock when its holder dies,
even by SIGKILL, so a crashed job never blocks the re-run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.parse
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import diskcache
import numpy as np

from nnvis.data.npy import load_npy, open_npz, start_npy
from nnvis.errors import NotInStore
from nnvis.projection.selection import CHUNK, row_chunks, stored_npy_map
from nnvis.workspace.safe_disk import PlainDisk

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class ArtifactKey:
    """What produced an artifact: its kind, the data, the weights and the method with its parameters."""

    kind: str
    dataset: str
    subset: str = ""
    weights: str = ""
    layer: str = ""
    epoch: int = -1
    method: str = ""
    params: tuple[tuple[str, Any], ...] = field(default=())

    def digest(self) -> str:
        """Stable sha256 of the key's fields, used as the diskcache key."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def with_params(self, **params: Any) -> "ArtifactKey":
        """The same key with `params` (sorted, so argument order never changes the key)."""
        return ArtifactKey(**{**asdict(self), "params": tuple(sorted(params.items()))})


def pack(arrays: Arrays) -> bytes:
    """Serialise named arrays to .npz bytes without pickling."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def unpack(blob: bytes) -> Arrays:
    """Inverse of `pack`; refuses object arrays."""
    with open_npz(io.BytesIO(blob)) as npz:  # one header parse at a time (nnvis.data.npy)
        return {name: npz[name] for name in npz.files}


DECODE_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)
PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
LOG = logging.getLogger("nnvis")


def is_png(blob) -> bool:
    """Whether `blob` is a whole PNG (its signature first, its end chunk last)."""
    return isinstance(blob, bytes) and blob.startswith(PNG_SIGNATURE) and blob.endswith(PNG_END)


def decodes(blob) -> bool:
    """Whether a stored value reads back whole: a PNG, or .npz arrays whose CRCs hold."""
    if is_png(blob):
        return True
    try:
        unpack(blob)
    except DECODE_ERRORS:
        return False
    return True


def load_mapped(path: Path) -> np.ndarray:
    """A read-only memory map of the .npy file at `path`."""
    return load_npy(path, mmap_mode="r")


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite database at `path`. Reading a WAL-mode database
    (diskcache's) needs its -shm index beside it, which SQLite creates; where it cannot (a
    read-only mount, a folder the server may not write), the file is opened as immutable:
    nothing writes it there, so no change is missed."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None)
    try:
        connection.execute("SELECT 1 FROM Cache LIMIT 1").fetchall()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        if os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(uri + "&immutable=1", uri=True, timeout=60, isolation_level=None)


class ReadOnlyCache:
    """The reading half of a diskcache.Cache, over a SQLite connection opened read-only: opening
    a diskcache.Cache writes its settings, and this must leave the folder as it was."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.disk = PlainDisk(str(directory))
        self.local = threading.local()

    def connection(self) -> sqlite3.Connection | None:
        if getattr(self.local, "connection", None) is None:
            path = self.directory / "cache.db"
            if not path.is_file():
                return None
            self.local.connection = open_read_only(path)
        return self.local.connection

    def get(self, key: str, default=None, read: bool = False):
        connection = self.connection()
        row = None if connection is None else connection.execute(
            "SELECT mode, filename, value, expire_time FROM Cache WHERE key = ? AND raw = 1", (key,)).fetchone()
        if row is None or (row[3] is not None and row[3] < time.time()):
            return default
        return self.disk.fetch(row[0], row[1], row[2], read)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def close(self) -> None:
        if getattr(self.local, "connection", None) is not None:
            self.local.connection.close()
            self.local.connection = None


def not_stored(key: ArtifactKey) -> NotInStore:
    what = " ".join(part for part in (key.method, key.kind, f"of {key.layer}" if key.layer else "",
                                      f"at epoch {key.epoch}" if key.epoch >= 0 else "") if part)
    return NotInStore(f"This server is read-only and the {what} is not in the store: it shows only what was "
                      "computed already. Pick a computed view, or ask the workspace's owner to compute this one.")


OWNER_LOCK = ".owner.lock"  # in a scratch folder: locked by the process using it


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove the scratch folders under `parent` whose owner lock nobody holds (their process
    died inside); a folder still being made (no lock file yet) or in use is left. Returns those removed."""
    removed = []
    for folder in parent.iterdir():
        try:
            with open(folder / OWNER_LOCK, "rb") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError:  # no lock file, or it is held: not abandoned
            continue
    if removed:
        LOG.info("removed %d abandoned scratch folder(s) under %s", len(removed), parent)
    return removed


class Store:
    """Artifacts on disk, shared by every process that opens the same directory. A `read_only`
    store computes and writes nothing: a miss is a NotInStore error saying so (a thumbnail or a
    by-unit copy, views of stored arrays, are made in memory and not kept)."""

    def __init__(self, directory: str | Path, size_limit_gb: float = 64.0, read_only: bool = False):
        self.directory = Path(directory)
        self.read_only = read_only
        self.cache = ReadOnlyCache(self.directory) if read_only else \
            diskcache.Cache(str(self.directory), size_limit=int(size_limit_gb * 2**30), disk=PlainDisk)
        self.hits = 0
        self.misses = 0
        self.damaged: set[str] = set()

    def note_damaged(self, key: ArtifactKey, what: str) -> None:
        """Log a damaged entry once per store: it is read as missing, so recomputed and replaced."""
        if key.digest() not in self.damaged:
            self.damaged.add(key.digest())
            LOG.warning("store %s: the %s entry %s is damaged (%s); recomputing it", self.directory, key.kind,
                        key.digest()[:12], what)

    def get(self, key: ArtifactKey) -> Arrays | None:
        """The artifact for `key`, or None when it was never computed or does not decode (damaged)."""
        try:
            blob = self.cache.get(key.digest())
            return None if blob is None else unpack(blob)
        except DECODE_ERRORS as error:
            self.note_damaged(key, str(error)[:120] or type(error).__name__)
            return None

    def put(self, key: ArtifactKey, arrays: Arrays) -> None:
        """Store `arrays` under `key` (atomically)."""
        if self.read_only:
            raise not_stored(key)
        self.cache.set(key.digest(), pack(arrays), tag=key.kind)

    def put_files(self, key: ArtifactKey, files: dict[str, Path]) -> None:
        """Store the .npy files `files` (name -> path) under `key` as `put` stores arrays, streamed
        from disk into the cache's file: an artifact larger than memory is never held in it."""
        if self.read_only:
            raise not_stored(key)
        with self.scratch() as folder:
            packed = folder / "artifact.npz"
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, path in files.items():
                    archive.write(path, arcname=f"{name}.npy")
            with open(packed, "rb") as handle:
                self.cache.set(key.digest(), handle, read=True, tag=key.kind)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A new folder inside the store's (its disk, not the system's /tmp), removed on exit.
        Its maker holds the lock of its OWNER_LOCK file while it is used, so that the folders of
        a process that died inside (a killed capture: gigabytes at a million observations) are
        recognised and removed when the next one is made."""
        parent = self.directory / "scratch"
        parent.mkdir(exist_ok=True)
        remove_abandoned(parent)
        with tempfile.TemporaryDirectory(dir=parent, ignore_cleanup_errors=True) as folder:
            with open(Path(folder) / OWNER_LOCK, "a+b") as owner:
                fcntl.flock(owner, fcntl.LOCK_EX)
                yield Path(folder)

    def __contains__(self, key: ArtifactKey) -> bool:
        """Whether a readable entry is stored for `key` (a refused or unreadable one is not)."""
        try:
            found = self.cache.get(key.digest(), read=True)  # a file's handle, not its bytes
        except DECODE_ERRORS as error:
            self.note_damaged(key, str(error)[:120])
            return False
        if hasattr(found, "close"):
            found.close()
        return found is not None

    @contextlib.contextmanager
    def computing(self, key: ArtifactKey) -> Iterator[None]:
        """Hold the exclusive lock of `key` while it is computed (released on exit or death)."""
        if self.read_only:
            raise not_stored(key)
        locks = self.directory / "locks"
        locks.mkdir(exist_ok=True)
        with open(locks / f"{key.digest()}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_or_compute(self, key: ArtifactKey, compute: Callable[[], Arrays]) -> Arrays:
        """The stored artifact, or compute, store and return it (once, whoever else asks)."""
        found = self.get(key)
        if found is None:
            with self.computing(key):
                found = self.get(key)  # another process may have finished it while we waited
                if found is None:
                    self.misses += 1
                    arrays = compute()
                    self.put(key, arrays)
                    return arrays
        self.hits += 1
        return found

    def get_or_compute_bytes(self, key: ArtifactKey, compute: Callable[[], bytes]) -> bytes:
        """Like get_or_compute for a PNG (a thumbnail), stored as is; one that is not whole is a miss."""
        try:
            blob = self.cache.get(key.digest())
        except DECODE_ERRORS as error:
            self.note_damaged(key, str(error)[:120])
            blob = None
        if blob is not None and not is_png(blob):
            self.note_damaged(key, "not a whole PNG")
            blob = None
        if blob is None and self.read_only:
            return compute()
        if blob is None:
            blob = compute()
            self.cache.set(key.digest(), blob, tag=key.kind)
        return blob

    def mapped_member(self, key: ArtifactKey, name: str) -> np.ndarray | None:
        """The array `name` of the stored artifact `key`, memory-mapped read-only from the store's
        file (reading one row reads that row alone); None where it cannot be (not stored, kept
        inside the database, compressed)."""
        try:
            found = self.cache.get(key.digest(), read=True)  # a file's handle, not its bytes
        except DECODE_ERRORS:
            return None
        path = getattr(found, "name", None)
        if hasattr(found, "close"):
            found.close()
        located = stored_npy_map(path, f"{name}.npy") if isinstance(path, str) else None
        return None if located is None else np.memmap(path, located[0], "r", located[2], located[1])

    def mapped_array(self, key: ArtifactKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A large array kept as a plain .npy file beside the cache and memory-mapped read-only,
        so that reading one row reads only that row from disk; computed once, like get_or_compute."""
        def write(partial: Path) -> None:
            with open(partial, "wb") as handle:
                np.save(handle, np.ascontiguousarray(compute()), allow_pickle=False)
        return self.mapped_file(key, write, lambda: np.ascontiguousarray(compute()))

    def mapped_transpose(self, key: ArtifactKey, source: Callable[[], np.ndarray],
                         rows_at_once: int = CHUNK) -> np.ndarray:
        """The transpose of the 2-D array `source()` (a memory map, say) kept as a memory-mapped
        .npy file like `mapped_array`, written `rows_at_once` source rows at a time (a memory map's
        rows read from its file, not mapped): neither array is ever held whole in memory."""
        def write(partial: Path) -> None:
            x = source()
            rows, units = x.shape
            with open(partial, "wb") as handle:  # written, not mapped: no page of it stays resident here
                offset = start_npy(handle, (units, rows), x.dtype)
                start = 0
                for chunk in row_chunks(x, slice(0, rows), dtype=None, at_once=rows_at_once):
                    by_unit = np.ascontiguousarray(chunk.T)
                    for unit in range(units):  # this chunk's run of each unit's row
                        os.pwrite(handle.fileno(), by_unit[unit].tobytes(),
                                  offset + (unit * rows + start) * x.dtype.itemsize)
                    start += len(chunk)
        return self.mapped_file(key, write, lambda: np.ascontiguousarray(np.asarray(source()).T))

    def mapped_file(self, key: ArtifactKey, write: Callable[[Path], None],
                    compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The .npy file of `key` beside the cache, memory-mapped read-only; `write(path)` makes it
        once (under the key's lock, into a partial file renamed whole); a read-only store that
        lacks it returns `compute()` and writes nothing."""
        path = self.directory / "arrays" / f"{key.digest()}.npy"
        if path.exists():
            try:
                found = load_mapped(path)
                self.hits += 1
                return found
            except DECODE_ERRORS as error:
                self.note_damaged(key, str(error)[:120])
                if self.read_only:
                    return compute()
                with self.computing(key):
                    path.unlink(missing_ok=True)
        if not path.exists() and self.read_only:
            return compute()
        if not path.exists():
            with self.computing(key):
                if not path.exists():
                    self.misses += 1
                    path.parent.mkdir(exist_ok=True)
                    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
                    try:
                        write(partial)
                        os.replace(partial, path)  # readers see the whole file or none
                    finally:
                        partial.unlink(missing_ok=True)
                    return load_mapped(path)
        self.hits += 1
        return load_mapped(path)

    def close(self) -> None:
        self.cache.close()
