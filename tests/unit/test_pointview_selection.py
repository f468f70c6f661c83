"""The point view's lasso ranking over memory-mapped activations (nnvis.projection.selection):
the same neurons and scores as `linking.rank_neurons`, read from the .npy inside a stored .npz
without loading the layer."""

import numpy as np
import pytest

from nnvis.errors import NNVisError
from nnvis.projection.linking import rank_neurons
from nnvis.projection.selection import CHUNK, rank_selection, stored_npy_map, unit_column, unit_moments


@pytest.fixture
def stored(tmp_path):
    rng = np.random.default_rng(0)
    acts = rng.gamma(1.0, 1.0, (CHUNK * 4 + 500, 12)).astype(np.float16)  # more than one chunk
    path = tmp_path / "value.npz"
    np.savez(path, x=acts)  # as the store packs an artifact
    dtype, shape, offset = stored_npy_map(path)
    return acts, np.memmap(path, dtype, "r", offset, shape)


def test_the_stored_npz_member_is_mapped_in_place(stored):
    acts, mapped = stored
    assert mapped.shape == acts.shape and mapped.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(mapped), acts)


def test_a_compressed_or_missing_member_is_not_mapped(tmp_path):
    np.savez_compressed(tmp_path / "packed.npz", x=np.zeros((4, 3), np.float16))
    assert stored_npy_map(tmp_path / "packed.npz") is None
    assert stored_npy_map(tmp_path / "packed.npz", member="y.npy") is None
    (tmp_path / "plain.bin").write_bytes(b"not a zip")
    assert stored_npy_map(tmp_path / "plain.bin") is None


def test_the_ranking_over_the_map_is_rank_neurons(stored):
    acts, mapped = stored
    selected = np.random.default_rng(1).choice(len(acts), 3000, replace=False)
    ranked = rank_selection(mapped, selected, unit_moments(mapped))
    neurons, scores = rank_neurons(acts, np.sort(selected), top=10)
    assert ranked["neurons"].tolist() == neurons.tolist()
    np.testing.assert_allclose(ranked["scores"], scores, rtol=1e-4, atol=1e-5)
    in_memory = rank_selection(acts, selected, unit_moments(acts))
    np.testing.assert_allclose(in_memory["scores"], ranked["scores"], rtol=1e-6)


def test_moments_and_a_column_read_in_chunks_are_exact(stored):
    acts, mapped = stored
    moments = unit_moments(mapped)
    exact = acts.astype(np.float64)
    np.testing.assert_allclose(moments["sum"], exact.sum(axis=0), rtol=5e-5)  # float32 within a chunk
    np.testing.assert_allclose(moments["squares"], (exact ** 2).sum(axis=0), rtol=5e-5)
    assert moments["n"] == len(acts)
    np.testing.assert_array_equal(unit_column(mapped, 7), acts[:, 7].astype(np.float32))
    with pytest.raises(NNVisError, match="allowed: 0..11"):
        unit_column(mapped, 12)


def test_a_selection_of_none_or_all_is_refused(stored):
    _, mapped = stored
    moments = unit_moments(mapped)
    with pytest.raises(NNVisError, match="select between 1 and"):
        rank_selection(mapped, [], moments)
    with pytest.raises(NNVisError, match="select between 1 and"):
        rank_selection(mapped, [len(mapped)], moments)


@pytest.mark.parametrize("read_only", [False, True])
def test_the_store_maps_one_array_of_a_stored_artifact_in_place(tmp_path, read_only):
    from nnvis.workspace.store import ArtifactKey, Store

    images = np.random.default_rng(2).integers(0, 255, (3000, 28, 28), dtype=np.uint8)  # a file, not a row in SQLite
    key, small = ArtifactKey(kind="subset", dataset="d"), ArtifactKey(kind="labels", dataset="d")
    writer = Store(tmp_path)
    writer.put(key, {"images": images, "labels": np.arange(3000)})
    writer.put(small, {"labels": np.arange(3)})
    writer.cache.close()
    store = Store(tmp_path, read_only=read_only)
    mapped = store.mapped_member(key, "images")
    assert isinstance(mapped, np.memmap) and mapped.shape == images.shape
    np.testing.assert_array_equal(mapped[1234], images[1234])
    np.testing.assert_array_equal(store.mapped_member(key, "labels"), np.arange(3000))
    assert store.mapped_member(key, "nothing") is None
    assert store.mapped_member(ArtifactKey(kind="missing", dataset="d"), "images") is None
    mapped_small = store.mapped_member(small, "labels")  # kept inside the database: not mapped, or mapped right
    assert mapped_small is None or mapped_small.tolist() == [0, 1, 2]
