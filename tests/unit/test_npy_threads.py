"""Many threads reading .npy headers at once, as a web server's request threads do (thumbnails,
hovers): CPython 3.11 can fail a parse with "SystemError: AST constructor recursion depth
mismatch" when a garbage collection inside it runs a finalizer that lets another thread parse
(gh-106905). A thumbnail request failed so with a 500 before every header read held one lock."""

from __future__ import annotations

import gc
import io
import threading
import time

import numpy as np
import pytest

from nnvis.data.npy import load_npy, open_npz
from nnvis.projection.selection import stored_npy_map
from nnvis.workspace.store import pack, unpack

THREADS, ROUNDS = 4, 600


def yield_the_interpreter(phase: str, info: dict) -> None:
    """A collection's callback that lets another thread run, as a finalizer (a closed file, a
    socket) run by a collection can."""
    time.sleep(0)


def all_at_once(read) -> list[BaseException]:
    """Run `read()` ROUNDS times in each of THREADS threads, the collector running every few
    allocations and letting another thread run each time; the errors raised."""
    errors: list[BaseException] = []

    def reader():
        for _ in range(ROUNDS):
            try:
                read()
            except Exception as error:  # noqa: BLE001  the failure is what is counted
                errors.append(error)
                return

    threshold = gc.get_threshold()
    gc.set_threshold(5)
    gc.callbacks.append(yield_the_interpreter)
    try:
        threads = [threading.Thread(target=reader) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(yield_the_interpreter)
        gc.set_threshold(*threshold)
    return errors


@pytest.fixture
def stored(tmp_path):
    """An uncompressed .npz as the store writes it (the subset's images), and an .npy file."""
    images = np.arange(64 * 8 * 8 * 3, dtype=np.uint8).reshape(64, 8, 8, 3)
    npz = tmp_path / "subset.npz"
    npz.write_bytes(pack({"images": images, "labels": np.arange(64)}))
    npy = tmp_path / "x.npy"
    np.save(npy, images)
    return images, npz, npy


def test_mapping_a_stored_member_from_many_threads_never_fails(stored):
    images, npz, _ = stored
    assert all_at_once(lambda: stored_npy_map(npz, "images.npy")) == []
    dtype, shape, offset = stored_npy_map(npz, "images.npy")
    assert (dtype, shape) == (np.uint8, images.shape)
    np.testing.assert_array_equal(np.memmap(npz, dtype, "r", offset, shape), images)


def test_loading_npy_and_npz_from_many_threads_never_fails(stored):
    images, npz, npy = stored
    blob = npz.read_bytes()

    def read_all():
        load_npy(npy, mmap_mode="r")
        unpack(blob)
        with open_npz(io.BytesIO(blob)) as arrays:
            arrays["labels"]

    assert all_at_once(read_all) == []
    np.testing.assert_array_equal(load_npy(npy), images)
    np.testing.assert_array_equal(unpack(blob)["labels"], np.arange(64))
