"""Import numba-heavy libraries with their kernels compiled once per machine, not per process."""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

_IMPORTING = threading.Lock()  # numba.jit is swapped while importing: one import at a time


def numba_cache_dir() -> Path:
    """Where compiled kernels are kept: NUMBA_CACHE_DIR, else ~/.cache/nnvis/numba."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnvis" / "numba"


def import_cached(module: str):
    """`module` imported with `numba.jit` defaulting to `cache=True`.

    datashader compiles its kernels when imported (explicit signatures, no `cache=True`): about
    10 s in every fresh process. Imported here, they are written to `numba_cache_dir()` the first
    time and loaded from it later (about 1 s). Without a writable cache folder, or when the
    module's package was imported already, it imports as is."""
    with _IMPORTING:
        return _import(module)


def _import(module: str):
    if module.split(".")[0] not in sys.modules:
        import numba

        folder = numba_cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            folder = None
        if folder is not None and os.access(folder, os.W_OK):
            numba.config.CACHE_DIR = str(folder)
            plain_jit = numba.jit
            numba.jit = _caching(plain_jit)
            try:
                return importlib.import_module(module)
            finally:
                numba.jit = plain_jit
    return importlib.import_module(module)


def _caching(plain_jit):
    """`numba.jit`, with `cache=True` by default for functions defined in a file (code made at
    run time, e.g. datashader's generated aggregation kernels, cannot be cached by numba)."""
    def cacheable(func) -> bool:
        return not func.__code__.co_filename.startswith("<")

    def jit_cached(*args, **kwargs):
        if args and callable(args[0]) and hasattr(args[0], "__code__"):  # @jit used bare
            return plain_jit(*args, **{"cache": cacheable(args[0]), **kwargs})

        def decorate(func):
            return plain_jit(*args, **{"cache": cacheable(func), **kwargs})(func)
        return decorate
    return jit_cached
