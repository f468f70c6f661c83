"""A .npy file made empty at its full size and then written in place (rows or runs with
`os.pwrite`, never mapped), so that an array larger than memory is never held whole."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


def start_npy(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Write the .npy header of a C-order array of `shape` and `dtype` to `handle`, size the
    file for its data, and return the byte offset where the data starts."""
    np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": tuple(shape)})
    offset = handle.tell()
    handle.truncate(offset + int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return offset
