"""A diskcache `Disk` that never unpickles: what a store or a cache folder holds is plain data.

diskcache's own `Disk` pickles any key or value that is not bytes, text or a number, and
unpickles on read whatever a row says is a pickle (`mode = 4`, or `raw = 0` for a key), so anyone
who can write the folder (a data volume, a shared job cache) could make the server run code.
`PlainDisk` stores only bytes, text and numbers and refuses, on read, a pickled row and a value file
outside the cache's folder: such an entry reads as damaged (`RefusedEntry`, a ValueError), and the
store treats it as missing."""

from __future__ import annotations

import os.path
import sqlite3

import diskcache
from diskcache.core import MODE_PICKLE

PLAIN_TYPES = (bytes, str, int, float)


class RefusedEntry(ValueError):
    """A stored row that is not plain data (a pickle, a file outside the cache): never decoded."""


class PlainDisk(diskcache.Disk):
    """Keys and values as bytes, text or numbers only; pickled rows are refused, never loaded."""

    def put(self, key):
        if type(key) not in PLAIN_TYPES:
            raise TypeError(f"a cache key is bytes, text or a number, not {type(key).__name__}")
        return super().put(key)

    def get(self, key, raw):
        if not raw:
            raise RefusedEntry("a pickled cache key (refused: nothing stored here is unpickled)")
        return bytes(key) if type(key) is sqlite3.Binary else key

    def store(self, value, read, key=diskcache.UNKNOWN):
        if not read and type(value) not in PLAIN_TYPES:
            raise TypeError(f"a cache value is bytes, text or a number, not {type(value).__name__}")
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        if mode == MODE_PICKLE:
            raise RefusedEntry("a pickled cache value (refused: nothing stored here is unpickled)")
        if filename is not None and not self.inside(filename):
            raise RefusedEntry(f"a cache value file outside the cache's folder: {filename[:80]!r}")
        return super().fetch(mode, filename, value, read)

    def inside(self, filename: str) -> bool:
        """Whether `filename` (as a row names it) lies inside this cache's folder."""
        root = os.path.realpath(self._directory)
        return os.path.commonpath([root, os.path.realpath(os.path.join(root, filename))]) == root
