"""The content-addressed store: keys, round trips without pickle, hits and misses."""

import numpy as np
import pytest

from nnvis.store import ArtifactKey, Store, pack, unpack


def test_key_depends_on_every_field_and_not_on_param_order():
    key = ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden1", 2, "tsne")
    assert key.with_params(a=1, b=2).digest() == key.with_params(b=2, a=1).digest()
    variants = [key, key.with_params(a=1),
                ArtifactKey("projection", "digits-abc", "test-300", "w2", "hidden1", 2, "tsne"),
                ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden2", 2, "tsne"),
                ArtifactKey("projection", "digits-abc", "test-300", "w1", "hidden1", 2, "umap")]
    assert len({v.digest() for v in variants}) == len(variants)


def test_round_trip_and_get_or_compute(tmp_path):
    store = Store(tmp_path / "s")
    key = ArtifactKey("activations", "d", weights="w")
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float16).reshape(2, 3), "nh": np.float64(0.5)}

    first = store.get_or_compute(key, compute)
    again = Store(tmp_path / "s").get_or_compute(key, compute)  # a second process sees it
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], again["x"])
    assert again["x"].dtype == np.float16 and float(again["nh"]) == 0.5


def test_object_arrays_are_refused():
    with pytest.raises(ValueError):
        unpack(pack({"o": np.array([{"a": 1}], dtype=object)}))
