"""Neuron ranking of a selection among very many observations (the WebGL point view's lasso):
the same scores as `linking.rank_neurons`, from each neuron's sum and sum of squares over all
observations (one pass, kept by the caller) and the selected rows alone, so that a lasso over a
million observations reads only its own rows, never a float32 copy of the whole layer.

The activations may be a memory map (`stored_npy_map`: the .npy inside a stored, uncompressed
.npz file). Then the pass reads the file in chunks (nothing of it stays mapped in the process)
and a ranking maps the file only for its own reading: a web worker's resident memory holds the
chunk or the selected rows, never the layer."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from nnvis.data.npy import read_npy_header
from nnvis.errors import NNVisError

CHUNK = 16_384  # rows read at once by a pass over the layer (32 MB of float16 at 1000 units, 64 MB as float32)
ROWS = 16_384  # selected rows read at once (32 MB at 1000 float16 units)
# float16 -> float32 by table: numpy's own cast of float16 is about 5x slower than this look-up
HALF = np.arange(65_536, dtype=np.uint16).view(np.float16).astype(np.float32)


def as_float32(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return HALF[array.view(np.uint16)] if array.dtype == np.float16 else array.astype(np.float32, copy=False)


def stored_npy_map(path: str | Path, member: str = "x.npy") -> tuple[np.dtype, tuple, int] | None:
    """(dtype, shape, byte offset) of the array `member` inside the .npz file at `path` when it is
    stored uncompressed in C order (as `np.savez` writes), so that it can be memory-mapped; None
    when it cannot (compressed, Fortran order, not a zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        with open(path, "rb") as handle:
            handle.seek(info.header_offset)
            local = handle.read(30)
            if info.compress_type != zipfile.ZIP_STORED or local[:4] != b"PK\x03\x04":
                return None
            names, extra = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
            handle.seek(info.header_offset + 30 + names + extra)
            shape, fortran, dtype = read_npy_header(handle)
            if fortran or dtype.hasobject:
                return None
            return dtype, shape, handle.tell()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def row_chunks(activations: np.ndarray, rows: slice, dtype=np.float32, at_once: int = CHUNK):
    """Rows of `activations` (as `dtype`; None: as stored), `at_once` at a time, read from its file
    when it is a memory map (not mapped, so that none of it stays resident in this process), else
    sliced."""
    if isinstance(activations, np.memmap) and activations.filename:
        units = activations.shape[1]
        with open(activations.filename, "rb") as handle:
            for start in range(rows.start, rows.stop, at_once):
                count = min(at_once, rows.stop - start)
                handle.seek(activations.offset + start * units * activations.itemsize)
                chunk = np.fromfile(handle, activations.dtype, count * units).reshape(count, units)
                yield chunk if dtype is None else as_float32(chunk)
    else:
        for start in range(rows.start, rows.stop, at_once):
            chunk = np.asarray(activations[start:min(start + at_once, rows.stop)])
            yield chunk if dtype is None else as_float32(chunk)


def unit_column(activations: np.ndarray, unit: int) -> np.ndarray:
    """One unit's activations over all observations (float32), read in chunks of whole rows."""
    if not 0 <= unit < activations.shape[1]:
        raise NNVisError(f"unit {unit} does not exist here; allowed: 0..{activations.shape[1] - 1}")
    return np.concatenate([as_float32(chunk[:, unit]) for chunk in
                           row_chunks(activations, slice(0, len(activations)), dtype=None)])


def unit_moments(activations: np.ndarray) -> dict[str, np.ndarray | int]:
    """Each unit's sum and sum of squares over the observations of `activations` (observations x
    units, e.g. a memory-mapped float16 array), read in chunks: {"sum", "squares", "n"}."""
    total = np.zeros(activations.shape[1], np.float64)
    squares = np.zeros(activations.shape[1], np.float64)
    for chunk in row_chunks(activations, slice(0, len(activations))):
        total += chunk.sum(axis=0)  # float32 within a chunk (pairwise), float64 across chunks
        squares += np.einsum("ij,ij->j", chunk, chunk)
    return {"sum": total, "squares": squares, "n": len(activations)}


def selected_sum(activations: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The sum over the sorted `rows` of `activations`. From a memory map's file, the selected
    rows are read alone (runs of consecutive rows at once), a chunk at a time: mapping the file
    would bring pages around them in too (the kernel maps 64 KiB about each fault), most of the
    layer for a scattered tenth of its rows."""
    picked = np.zeros(activations.shape[1], np.float64)
    mapped = isinstance(activations, np.memmap) and activations.filename and hasattr(os, "preadv")
    with open(activations.filename if mapped else os.devnull, "rb", buffering=0) as handle:
        for start in range(0, len(rows), ROWS):
            chunk = rows[start:start + ROWS]
            block = read_rows(handle.fileno(), activations, chunk) if mapped else activations[chunk]
            picked += as_float32(block).sum(axis=0, dtype=np.float64)
    return picked


def read_rows(fd: int, activations: np.memmap, rows: np.ndarray) -> np.ndarray:
    """The sorted `rows` of the memory map `activations`, read from its file `fd` by runs."""
    out = np.empty((len(rows), activations.shape[1]), activations.dtype)
    size = activations.shape[1] * activations.itemsize
    target = memoryview(out).cast("B")
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for first, last in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
        os.preadv(fd, [target[first * size:last * size]], activations.offset + int(rows[first]) * size)
    return out


def rank_selection(activations: np.ndarray, selected, moments: dict, top: int = 10) -> dict[str, np.ndarray]:
    """The `top` neurons by (mean over the selected observations - mean over the rest) / the
    neuron's standard deviation, as `rank_neurons` scores them: {"neurons", "scores",
    "selected_mean", "rest_mean"} (the means of those neurons), best first."""
    rows = np.unique(np.asarray(selected, dtype=np.int64))
    n = int(moments["n"])
    if len(rows) == 0 or len(rows) >= n or rows[0] < 0 or rows[-1] >= n:
        raise NNVisError(f"select between 1 and {n - 1} observations (indices 0..{n - 1}) to rank neurons; "
                         f"got {len(rows)}")
    picked = selected_sum(activations, rows)
    mean = moments["sum"] / n
    spread = np.sqrt(np.maximum(moments["squares"] / n - mean ** 2, 0.0))
    selected_mean = picked / len(rows)
    rest_mean = (moments["sum"] - picked) / (n - len(rows))
    score = (selected_mean - rest_mean) / np.where(spread > 1e-12, spread, 1.0)
    order = np.argsort(-score, kind="stable")[:top]
    return {"neurons": order, "scores": score[order], "selected_mean": selected_mean[order],
            "rest_mean": rest_mean[order]}
