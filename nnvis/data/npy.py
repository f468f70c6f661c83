"""Reading and writing .npy files safely from many threads.

A .npy file made empty at its full size and then written in place (`start_npy`: rows or runs with
`os.pwrite`, never mapped), so that an array larger than memory is never held whole.

Reading parses headers one at a time per process: numpy parses an .npy header with
`ast.literal_eval`, and CPython 3.11 keeps the AST constructor's recursion depth in one place per
interpreter, so when a garbage collection inside one parse runs a finalizer that lets another
thread parse, one of them fails with "SystemError: AST constructor recursion depth mismatch"
(CPython gh-106905, fixed in 3.12). The web server reads headers from many request threads at once
(thumbnails, hovers, a lasso's ranking), so every header nnvis reads goes through `HEADERS`, a
lock held for the parse (the data is read or mapped after)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np

HEADERS = threading.Lock()


def start_npy(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Write the .npy header of a C-order array of `shape` and `dtype` to `handle`, size the
    file for its data, and return the byte offset where the data starts."""
    np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    offset = handle.tell()
    handle.truncate(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return offset


def load_npy(file, mmap_mode: str | None = None) -> np.ndarray:
    """The array in the .npy `file` (a path or a binary file), never unpickled; memory-mapped
    when `mmap_mode` is given."""
    with HEADERS:
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)


@contextmanager
def open_npz(file) -> Iterator[np.lib.npyio.NpzFile]:
    """The .npz `file` opened without pickle, its headers parsed only while this holds `HEADERS`
    (numpy parses a member's header when the member is read, so read them inside)."""
    with HEADERS, np.load(file, allow_pickle=False) as npz:
        yield npz


def read_npy_header(handle: BinaryIO) -> tuple[tuple, bool, np.dtype]:
    """(shape, Fortran order, dtype) of the .npy header at `handle`'s position; `handle` is left
    at the first byte of the data."""
    with HEADERS:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(handle)
