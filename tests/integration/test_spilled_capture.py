"""A captured layer larger than `SPILL_BYTES` is streamed into the store (a .npy file written
batch by batch, zipped from disk into the store's file) and read back memory-mapped: the values
are those of a capture held in memory, on a real digits run."""

import numpy as np

from nnvis.workspace import analysis as analysis_module
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace, forget


def test_a_capture_over_the_spill_size_streams_into_the_store_with_the_same_values(digits_workspace, tmp_path,
                                                                                    monkeypatch):
    held = Analysis(digits_workspace)
    epoch = held.epochs[-1]
    expected = {layer: np.array(held.activations(layer, epoch)) for layer in held.layers}
    probabilities = held.probabilities(epoch)
    copy = copy_workspace(digits_workspace.path, tmp_path / "ws")
    forget(copy, "activations", "probabilities")
    monkeypatch.setattr(analysis_module, "SPILL_BYTES", 0)  # every layer spills

    spilled = Analysis(Workspace(copy))
    last = held.layers[-1]
    first_read = spilled.activations(last, epoch)  # captures the epoch
    assert isinstance(first_read, np.memmap)  # mapped from the store's file, not held
    for layer, values in expected.items():
        assert values.shape[0] == 300 and values.std() > 0
        np.testing.assert_array_equal(spilled.activations(layer, epoch), values)
        assert spilled.store.mapped_member(keys.activations(spilled, layer, epoch), "x") is not None
    np.testing.assert_array_equal(spilled.probabilities(epoch), probabilities)
    assert not list((copy / "store" / "scratch").iterdir())  # the spilled files are gone


def test_a_capture_reads_the_stored_subset_memory_mapped_without_the_data_set(mnist_small_workspace, tmp_path,
                                                                               monkeypatch):
    """A capture in a process that has not loaded the data set (a web job) reads the subset's
    images from the store's file a batch at a time: neither the data set nor the whole subset is
    loaded, and the activations are those of the run."""
    held = Analysis(mnist_small_workspace)
    epoch = held.epochs[-1]
    expected = {layer: np.array(held.activations(layer, epoch)) for layer in held.layers}
    copy = copy_workspace(mnist_small_workspace.path, tmp_path / "ws")
    forget(copy, "activations", "probabilities")
    fresh = Analysis(Workspace(copy))
    assert fresh.store.mapped_member(keys.subset(fresh), "images") is not None  # kept in a file by the run

    def whole(self):
        raise AssertionError("the whole subset (and the data set behind it) was loaded")

    monkeypatch.setattr(Analysis, "subset", whole)
    monkeypatch.setattr(Analysis, "dataset", property(whole))
    fresh.capture_epoch(epoch)
    for layer, values in expected.items():
        np.testing.assert_array_equal(fresh.activations(layer, epoch), values)
    assert fresh.subset_image(7).shape == (28, 28)
